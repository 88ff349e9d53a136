"""HTTP routes of the protocol (DESIGN section 4) except ``/run_sse``, which lives in ``backend.conversation.turn``.

Handlers stay small: check identity and session, hand the work to the store, the ingest step or the
job runner, and wrap the result in the envelope.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from backend.api.deps import authenticate, backend_of, load_session, request_lang
from backend.core.errors import (
    BAD_INPUT,
    BAD_REQUEST,
    EXPORT_BLOCKED,
    MISSING_CLIENT_ID,
    NOT_FOUND,
    RATE_LIMITED,
    TOO_LARGE,
    ApiError,
    api_error,
    envelope,
)
from backend.core.i18n import pick_lang, t
from backend.core.signing import verify
from backend.core.types import Received
from backend.intake.receive import discard, fetch_url, receive_multipart
from backend.runtime.accept import accept
from backend.state.draft import DraftError, to_spec
from backend.state.model import SessionState
from backend.state.sessions import public_state

ATTRIBUTION = ("x-skill-source", "x-skill-version", "x-skill-platform")
DOWNLOAD_TYPES = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt"}
JOB_ID = re.compile(r"render_[A-Za-z0-9_-]{1,72}")  # the bot sends render_<ms>; never a path part
JSON_MAX_BYTES = 1024 * 1024
JSON_MAX_DEPTH = 64


async def healthz(request: Request) -> JSONResponse:
    backend = backend_of(request)
    return envelope({"status": "ok", "voices": [v.id for v in backend.voices]})


async def anonymous_token(request: Request) -> JSONResponse:
    backend = backend_of(request)
    lang = request_lang(request)
    client_id = request.headers.get("x-client-id", "").strip()
    if not client_id or len(client_id) > 128:
        raise api_error(MISSING_CLIENT_ID, "no_client_id", lang)
    last = await backend.store.last_token_issue(client_id)
    if last is not None and time.time() - last < backend.settings.token_ttl_seconds:
        raise api_error(
            RATE_LIMITED,
            "token_rate_limited",
            lang,
            {"retry_after": int(last + backend.settings.token_ttl_seconds - time.time())},
        )
    token = "nemo_" + secrets.token_urlsafe(32)
    ident, expires = await backend.store.create_identity(
        client_id, backend.settings.initial_credits, token, backend.settings.token_ttl_seconds
    )
    return envelope(
        {
            "token": token,
            "client_id": client_id,
            "credits": ident.credits,
            "expires_at": int(expires),
            "bind_id": ident.id,
        }
    )


async def credits(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    return envelope(
        {
            "available": ident.available,
            "frozen": ident.frozen,
            "total": ident.credits,
            "bind_id": ident.id,
            "registered": ident.registered,
        }
    )


async def create_session(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    body = await _object(request)
    lang = pick_lang(str(body.get("language") or request.headers.get("accept-language") or "en"))
    state = SessionState.new(str(body.get("task_name", "project"))[:80])
    sid, task_id = await backend_of(request).store.create_session(ident.id, lang, state)
    return envelope({"task_id": task_id, "session_id": sid, "bind_id": ident.id, "language": lang})


async def session_state(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    sid = request.path_params["sid"]
    _, state = await load_session(request, sid, ident)
    backend = backend_of(request)
    media = await backend.store.media(sid)
    return envelope({"session_id": sid, "bind_id": ident.id, "state": public_state(state, media)})


async def upload(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    sid = request.path_params["sid"]
    lang, _ = await load_session(request, sid, ident)
    backend = backend_of(request)
    limit = backend.settings.max_upload_bytes
    folder = backend.settings.data_dir / "sessions" / sid / "media"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise api_error(TOO_LARGE, "too_large", lang)
    ctype = request.headers.get("content-type", "")
    received: list[Received] = []
    if ctype.startswith("application/json"):
        body = await _object(request)
        urls = body.get("urls")
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise api_error(
                BAD_REQUEST, "bad_request", lang, reason="'urls' must be a list of links"
            )
        try:
            for url in urls[:10]:
                received.append(
                    await fetch_url(
                        backend.http,
                        url,
                        folder,
                        limit,
                        backend.settings.allow_private_urls,
                        backend.settings.url_max_redirects,
                        lang,
                    )
                )
        except BaseException:
            discard(received)
            raise
    else:
        received = await receive_multipart(ctype, request.stream(), folder, limit, lang)
    return envelope(await accept(backend, sid, lang, received))


async def render_start(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    lang = request_lang(request)
    if not all(request.headers.get(h) for h in ATTRIBUTION):
        raise api_error(EXPORT_BLOCKED, "missing_attribution", lang)
    body = await _object(request)
    sid = str(body.get("sessionId") or body.get("session_id") or "")
    lang, state = await load_session(request, sid, ident)
    job_id = str(body.get("id") or f"render_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}")
    if not JOB_ID.fullmatch(job_id):
        raise api_error(
            BAD_REQUEST,
            "bad_request",
            lang,
            reason="the render id must be 'render_' and up to 72 letters, digits, '_' or '-'",
        )
    draft = body.get("draft") or state.draft
    backend = backend_of(request)
    existing = await backend.store.job(job_id)
    if existing is not None:
        if existing.identity_id != ident.id:
            raise api_error(BAD_REQUEST, "bad_request", lang, reason="that render id is taken")
        return envelope({"id": job_id, "status": existing.status})
    items = {m.id: m for m in await backend.store.media(sid)}
    try:
        to_spec(draft, lambda mid: (items[mid].path, items[mid].info) if mid in items else None)
    except DraftError as exc:
        if str(exc) == "the timeline is empty":
            raise api_error(BAD_INPUT, "nothing_to_render", lang) from exc
        raise api_error(BAD_INPUT, "bad_request", lang, reason=str(exc)) from exc
    created = await backend.store.create_job(job_id, sid, ident.id, draft)
    job = await backend.store.job(job_id)
    assert job is not None
    if not created:  # the same id sent again at the same time: only the first insert runs
        if job.identity_id != ident.id:
            raise api_error(BAD_REQUEST, "bad_request", lang, reason="that render id is taken")
        return envelope({"id": job_id, "status": job.status})
    backend.runner.submit(job)
    return envelope({"id": job_id, "status": "queued"})


async def render_status(request: Request) -> JSONResponse:
    ident = await authenticate(request)
    backend = backend_of(request)
    job = await backend.store.job(request.path_params["job_id"])
    if job is None or job.identity_id != ident.id:
        raise api_error(NOT_FOUND, "render_not_found", request_lang(request))
    progress = job.progress
    if job.status == "rendering":
        progress = max(progress, backend.runner.progress.get(job.id, 0.0))
    data: dict[str, Any] = {"id": job.id, "status": job.status, "progress": round(progress, 1)}
    if job.status == "completed":
        data["output"] = backend.runner.fresh_output(job)
    if job.error:
        data["error"] = job.error
    return envelope(data)


async def download(request: Request) -> Response:
    """A signed link: no bearer token, refused after it expires or if anything in it was changed."""
    backend = backend_of(request)
    name = request.path_params["name"]
    path = f"/files/{name}"
    if not verify(
        backend.settings.secret(),
        path,
        request.query_params.get("exp"),
        request.query_params.get("sig"),
    ):
        return _link_page(request, 403)
    job_id, _, ext = name.rpartition(".")
    file = backend.runner.output_path(job_id).with_suffix(f".{ext}")
    if not JOB_ID.fullmatch(job_id) or ext not in DOWNLOAD_TYPES or not file.exists():
        return _link_page(request, 404)
    return FileResponse(file, media_type=DOWNLOAD_TYPES[ext], filename=f"voiceover-{job_id}.{ext}")


def _link_page(request: Request, status: int) -> HTMLResponse:
    msg = t("link_expired", request_lang(request))
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>Link not valid</title><body style='font-family:sans-serif;padding:2em'><h1>Link not valid</h1><p>{msg}</p>",
        status_code=status,
    )


async def _json(request: Request) -> Any:
    """The parsed JSON body ({} when empty), read at most ``JSON_MAX_BYTES`` of it.

    Raises 4000 for a body that is not JSON, too big (declared or streamed) or nested too deeply.
    """
    lang = request_lang(request)

    def bad(reason: str) -> ApiError:
        return api_error(BAD_REQUEST, "bad_request", lang, reason=reason)

    too_big = f"the JSON body is larger than {JSON_MAX_BYTES // 1024 // 1024} MB"
    declared = request.headers.get("content-length", "").strip()
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared) > 12 or int(declared) > JSON_MAX_BYTES)
    ):
        raise bad(too_big)  # refused before reading a byte of it
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > JSON_MAX_BYTES:
            raise bad(too_big)
    if not raw.strip():
        return {}
    try:
        body = json.loads(bytes(raw))
    except RecursionError as exc:
        raise bad("the JSON body is nested too deeply") from exc
    except ValueError as exc:
        raise bad("the body is not valid JSON") from exc
    if _depth(body) > JSON_MAX_DEPTH:
        raise bad("the JSON body is nested too deeply")
    return body


def _depth(value: Any) -> int:
    """How deeply lists and objects nest (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


async def _object(request: Request) -> dict[str, Any]:
    """The JSON body, which must be an object."""
    body = await _json(request)
    if not isinstance(body, dict):
        raise api_error(
            BAD_REQUEST,
            "bad_request",
            request_lang(request),
            reason="the body must be a JSON object",
        )
    return body


routes = [
    Route("/healthz", healthz),
    Route("/api/auth/anonymous-token", anonymous_token, methods=["POST"]),
    Route("/api/credits/balance/simple", credits),
    Route("/api/tasks/me/with-session/nemo_agent", create_session, methods=["POST"]),
    Route("/api/state/nemo_agent/me/{sid}/latest", session_state),
    Route("/api/upload-video/nemo_agent/me/{sid}", upload, methods=["POST"]),
    Route("/api/render/proxy/lambda", render_start, methods=["POST"]),
    Route("/api/render/proxy/lambda/{job_id}", render_status),
    Route("/files/{name}", download),
]

__all__ = ["ApiError", "routes"]
