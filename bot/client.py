"""The backend client: one long-lived httpx AsyncClient speaking docs/PROTOCOL.md.

It knows the protocol, not the conversation: it raises typed errors and returns typed replies, and
the engine decides what to tell people. Secrets never reach the logs (see `bot.redact`).
"""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from httpx_sse import aconnect_sse

from backend.protocol.render import MAX_RENDER_WAIT_S
from bot import __version__
from bot.models import (
    AdkEvent,
    Credits,
    Envelope,
    RenderStatus,
    SessionInfo,
    SessionState,
    TokenInfo,
    UploadLink,
    UploadResult,
)
from bot.redact import redact, register_secret
from bot.settings import SKILL_SOURCE

log = logging.getLogger(__name__)

APP = "nemo_agent"
_CHUNK = 64 * 1024


class BackendError(Exception):
    """The backend answered with a non-zero `code` (see DESIGN section 4 / PROTOCOL.md)."""

    def __init__(
        self,
        code: int,
        message: str = "",
        data: dict[str, Any] | None = None,
        *,
        in_stream: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"backend error {code}: {message}")
        self.code = code
        self.message = message
        self.data = data or {}
        self.in_stream = in_stream  # raised by an event after work started: never retried
        self.retry_after = retry_after


class BackendUnavailable(Exception):
    """The backend could not be reached at all (connection refused, DNS, connect timeout)."""


class StreamCut(Exception):
    """An SSE stream ended before `turnComplete` (connection dropped, read timeout)."""


@dataclass(frozen=True)
class Auth:
    """Who is calling: the bearer token, and the adapter name for X-Skill-Platform."""

    token: str
    platform: str = "console"
    language: str | None = None  # the chat's language now, for the backend's messages

    def __repr__(self) -> str:
        return f"Auth(token=***, platform={self.platform!r}, language={self.language!r})"


def _code_of(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def read_envelope(resp: httpx.Response) -> Envelope:
    """Parse a JSON reply; raise `BackendError` for any non-zero code or error status."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if resp.is_success:
            return Envelope({})
        raise BackendError(resp.status_code, resp.reason_phrase or "HTTP error")
    code = _code_of(body.get("code"), 0 if resp.is_success else resp.status_code)
    if code != 0:
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        retry = resp.headers.get("retry-after")
        raise BackendError(
            code,
            str(body.get("message") or ""),
            data,
            retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
        )
    return Envelope(body)


class BackendClient:
    """Typed calls of the backend protocol over one shared `httpx.AsyncClient`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 60.0,
        sse_read_timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        version: str = __version__,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._sse_read_timeout = sse_read_timeout
        self._version = version
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> BackendClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _headers(self, auth: Auth | None, platform: str = "console") -> dict[str, str]:
        headers = {
            "X-Skill-Source": SKILL_SOURCE,
            "X-Skill-Version": self._version,
            "X-Skill-Platform": auth.platform if auth else platform,
        }
        if auth is not None:
            headers["Authorization"] = f"Bearer {auth.token}"
            if auth.language:
                headers["Accept-Language"] = auth.language
        return headers

    async def _request(
        self, method: str, path: str, auth: Auth | None, *, platform: str = "console", **kw: Any
    ) -> Envelope:
        headers = {**self._headers(auth, platform), **kw.pop("headers", {})}
        try:
            resp = await self._http.request(method, path, headers=headers, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackendUnavailable(redact(str(exc))) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
            raise BackendUnavailable(redact(str(exc))) from exc
        log.debug("%s %s -> %s", method, redact(path), resp.status_code)
        return read_envelope(resp)

    # identity and session

    async def anonymous_token(self, client_id: str, platform: str = "console") -> TokenInfo:
        env = await self._request(
            "POST",
            "/api/auth/anonymous-token",
            None,
            platform=platform,
            headers={"X-Client-Id": client_id},
        )
        info = TokenInfo.parse(env, client_id)
        if not info.token:
            raise BackendError(1001, "no token in the reply")
        register_secret(info.token)
        return info

    async def create_session(self, auth: Auth, language: str = "en") -> SessionInfo:
        env = await self._request(
            "POST",
            f"/api/tasks/me/with-session/{APP}",
            auth,
            json={"task_name": "project", "language": language},
            headers={"Accept-Language": language},
        )
        info = SessionInfo.parse(env)
        if not info.session_id:
            raise BackendError(1002, "no session id in the reply")
        return info

    async def credits(self, auth: Auth) -> Credits:
        return Credits.parse(await self._request("GET", "/api/credits/balance/simple", auth))

    async def voices(self) -> list[str]:
        """Installed voice ids, as the self-hosted backend's /healthz lists them ([] if unknown)."""
        env = await self._request("GET", "/healthz", None)
        voices = env.get("voices", [])
        return [str(v) for v in voices] if isinstance(voices, list) else []

    async def voice_catalogue(self, auth: Auth) -> list[Any]:
        """The self-hosted backend's `GET /api/voices` entries (raw; bot/voices.py reads them)."""
        voices = (await self._request("GET", "/api/voices", auth)).get("voices", [])
        return list(voices) if isinstance(voices, list) else []

    async def state(self, auth: Auth, session_id: str) -> SessionState:
        env = await self._request("GET", f"/api/state/{APP}/me/{session_id}/latest", auth)
        return SessionState.parse(env)

    # uploads

    async def upload_files(
        self, auth: Auth, session_id: str, paths: Sequence[Path]
    ) -> UploadResult:
        """Multipart upload streamed from disk (httpx reads the files in chunks)."""
        with ExitStack() as stack:
            files = []
            for p in paths:
                mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
                files.append(("files", (p.name, stack.enter_context(open(p, "rb")), mime)))  # noqa: ASYNC230
            env = await self._request(
                "POST",
                f"/api/upload-video/{APP}/me/{session_id}",
                auth,
                files=files,
                timeout=httpx.Timeout(None, connect=10.0),
            )
        return UploadResult.parse(env)

    async def upload_urls(self, auth: Auth, session_id: str, urls: Sequence[str]) -> UploadResult:
        env = await self._request(
            "POST",
            f"/api/upload-video/{APP}/me/{session_id}",
            auth,
            json={"urls": list(urls), "source_type": "url"},
            timeout=httpx.Timeout(None, connect=10.0),
        )
        return UploadResult.parse(env)

    async def upload_link(self, auth: Auth, session_id: str) -> UploadLink:
        """A signed web page URL that streams a big file into this session (no token needed)."""
        env = await self._request("POST", f"/api/upload-link/{APP}/me/{session_id}", auth)
        return UploadLink.parse(env)

    # conversation

    async def run_sse(
        self,
        auth: Auth,
        session_id: str,
        text: str,
        state_delta: dict[str, Any] | None = None,
    ) -> AsyncIterator[AdkEvent]:
        """Yield the ADK events of one turn (`state_delta`: ADK session-state changes sent along).

        Errors found before work starts raise `BackendError` before the first event; an `errorCode`
        event raises `BackendError(in_stream=True)`; a stream that ends early raises `StreamCut`.
        """
        body = {
            "app_name": APP,
            "user_id": "me",
            "session_id": session_id,
            "new_message": {"role": "user", "parts": [{"text": text}]},
        }
        if state_delta:
            body["state_delta"] = state_delta
        timeout = httpx.Timeout(self._sse_read_timeout, connect=10.0)
        try:
            async with aconnect_sse(
                self._http,
                "POST",
                "/run_sse",
                json=body,
                headers=self._headers(auth),
                timeout=timeout,
            ) as source:
                resp = source.response
                if not resp.is_success or "text/event-stream" not in resp.headers.get(
                    "content-type", ""
                ):
                    await resp.aread()
                    read_envelope(resp)  # raises for error envelopes
                    raise StreamCut(
                        f"expected an event stream, got {resp.headers.get('content-type')}"
                    )
                async for sse in source.aiter_sse():
                    if not sse.data.strip():
                        continue  # heartbeat
                    try:
                        event = AdkEvent.from_json(sse.data)
                    except ValueError:
                        log.warning("skipping an event that is not ADK JSON")
                        continue
                    if event.error_code is not None:
                        raise BackendError(
                            _code_of(event.error_code, 5000),
                            event.error_message or "",
                            {"error_code": event.error_code},
                            in_stream=True,
                        )
                    yield event
                    if event.turn_complete:
                        return
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise BackendUnavailable(redact(str(exc))) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout) as exc:
            raise StreamCut(redact(str(exc))) from exc
        raise StreamCut("the stream closed before turnComplete")

    # render

    async def start_render(
        self, auth: Auth, session_id: str, render_id: str, draft: dict[str, Any] | None = None
    ) -> RenderStatus:
        body: dict[str, Any] = {
            "id": render_id,
            "sessionId": session_id,
            "output": {"format": "mp4", "quality": "high"},
        }
        if draft is not None:
            body["draft"] = draft
        env = await self._request("POST", "/api/render/proxy/lambda", auth, json=body)
        return RenderStatus.parse(env, render_id)

    async def render_status(self, auth: Auth, render_id: str, wait: float = 0) -> RenderStatus:
        """The render's status; with `wait`, our backend holds the request up to that many
        seconds (at most 20) and answers as soon as the render ends (a backend without it
        answers at once)."""
        path = f"/api/render/proxy/lambda/{render_id}"
        if wait > 0:
            path += f"?wait={min(wait, MAX_RENDER_WAIT_S):g}"
        env = await self._request("GET", path, auth)
        return RenderStatus.parse(env, render_id)

    def absolute(self, url: str) -> str:
        return urljoin(self.base_url + "/", url)

    async def download(self, url: str, dest: Path, auth: Auth | None = None) -> int:
        """Stream `url` to `dest` through a `.part` file; return the byte count.

        The bearer token goes only to the backend's own origin, never to a third-party host.
        """
        full = self.absolute(url)
        same_origin = urlsplit(full)[:2] == urlsplit(self.base_url)[:2]
        headers = self._headers(auth) if (auth and same_origin) else {}
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        written = 0
        try:
            async with self._http.stream(
                "GET",
                full,
                headers=headers,
                timeout=httpx.Timeout(self._sse_read_timeout, connect=10.0),
            ) as resp:
                if not resp.is_success:
                    await resp.aread()
                    read_envelope(resp)
                    raise BackendError(resp.status_code, "download failed")
                with open(part, "wb") as fh:  # noqa: ASYNC230 - 64 KiB local writes
                    async for chunk in resp.aiter_bytes(_CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
            os.replace(part, dest)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            part.unlink(missing_ok=True)
            raise BackendUnavailable(redact(str(exc))) from exc
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        return written
