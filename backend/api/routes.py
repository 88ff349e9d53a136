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
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from backend.api import schemas as s
from backend.api.deps import (
    CurrentIdentity,
    PathSession,
    SessionRef,
    backend_of,
    request_lang,
    require_attribution,
    session_ref,
)
from backend.api.limits import upload_pace, upload_slot
from backend.core.errors import (
    BAD_INPUT,
    BAD_REQUEST,
    MISSING_CLIENT_ID,
    NOT_FOUND,
    RATE_LIMITED,
    ApiError,
    api_error,
    envelope,
)
from backend.core.i18n import pick_lang, t
from backend.core.signing import verify
from backend.core.types import Received
from backend.intake.receive import check_count, discard, fetch_url, receive_multipart, too_large
from backend.protocol.render import MAX_RENDER_WAIT_S
from backend.runtime.accept import accept
from backend.state.draft import DraftError, to_spec
from backend.state.model import SessionState
from backend.state.sessions import public_state

DOWNLOAD_TYPES = {"mp4": "video/mp4", "srt": "application/x-subrip", "vtt": "text/vtt"}
WAIT_DOC = (
    "Seconds to hold the request while the render is still queued or rendering (at most 20): "
    "the answer comes as soon as it completes or fails, or with its progress when the time is "
    "up. 0 (the default) answers at once, as the hosted service does."
)
JOB_ID = re.compile(r"render_[A-Za-z0-9_-]{1,72}")  # the bot sends render_<ms>; never a path part
JSON_MAX_BYTES = 1024 * 1024
JSON_MAX_DEPTH = 64
M = TypeVar("M", bound=BaseModel)

router = APIRouter(responses=s.ERRORS)


@router.get("/healthz", response_model=s.Envelope[s.Health], tags=["service"])
async def healthz(request: Request) -> JSONResponse:
    backend = backend_of(request)
    return envelope({"status": "ok", "voices": [v.id for v in backend.voices]})


@router.post(
    "/api/auth/anonymous-token", response_model=s.Envelope[s.TokenIssued], tags=["identity"]
)
async def anonymous_token(
    request: Request, x_client_id: Annotated[str | None, Header()] = None
) -> JSONResponse:
    backend = backend_of(request)
    lang = request_lang(request)
    client_id = (x_client_id or "").strip()
    if not client_id or len(client_id) > 128:
        raise api_error(MISSING_CLIENT_ID, "no_client_id", lang)
    token = "nemo_" + secrets.token_urlsafe(32)
    ttl = backend.settings.token_ttl_seconds
    issued = await backend.store.issue_anonymous(  # atomic: one token per client id at a time
        client_id, backend.settings.initial_credits, token, ttl, every=ttl
    )
    if not isinstance(issued, tuple):
        raise api_error(
            RATE_LIMITED,
            "token_rate_limited",
            lang,
            {"retry_after": int(issued + ttl - time.time())},
        )
    ident, expires = issued
    return envelope(
        {
            "token": token,
            "client_id": client_id,
            "credits": ident.credits,
            "expires_at": int(expires),
            "bind_id": ident.id,
        }
    )


@router.get("/api/credits/balance/simple", response_model=s.Envelope[s.Balance], tags=["identity"])
async def credits(ident: CurrentIdentity) -> JSONResponse:
    return envelope(
        {
            "available": ident.available,
            "frozen": ident.frozen,
            "total": ident.credits,
            "bind_id": ident.id,
            "registered": ident.registered,
        }
    )


@router.post(
    "/api/tasks/me/with-session/nemo_agent",
    response_model=s.Envelope[s.SessionCreated],
    openapi_extra=s.json_body(s.SessionCreate, required=False),
    tags=["session"],
)
async def create_session(request: Request, ident: CurrentIdentity) -> JSONResponse:
    body = await read_model(request, s.SessionCreate)
    lang = pick_lang(body.language or request.headers.get("accept-language") or "en")
    state = SessionState.new(body.task_name[:80])
    sid, task_id = await backend_of(request).store.create_session(ident.id, lang, state)
    return envelope({"task_id": task_id, "session_id": sid, "bind_id": ident.id, "language": lang})


@router.get(
    "/api/state/nemo_agent/me/{sid}/latest",
    response_model=s.Envelope[s.SessionLatest],
    tags=["session"],
)
async def session_state(
    request: Request, ident: CurrentIdentity, session: PathSession
) -> JSONResponse:
    sid, state = session.sid, session.state
    backend = backend_of(request)
    media = await backend.store.media(sid)
    state_out = public_state(state, media, session.lang)
    return envelope({"session_id": sid, "bind_id": ident.id, "state": state_out})


@router.post(
    "/api/upload-video/nemo_agent/me/{sid}",
    response_model=s.Envelope[s.Uploaded],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": s.MULTIPART_FILES},
                "application/json": {"schema": s.ref(s.UrlUpload)},
            },
        }
    },
    tags=["upload"],
)
async def upload(request: Request, session: PathSession, ident: CurrentIdentity) -> JSONResponse:
    """Multipart ``files`` streamed to disk as they arrive, or JSON ``{"urls": [...]}``."""
    sid, lang = session.sid, session.lang
    backend = backend_of(request)
    settings = backend.settings
    limit = settings.max_upload_bytes
    folder = settings.data_dir / "sessions" / sid / "media"
    declared = request.headers.get("content-length", "").strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit + 1024 * 1024:
        raise too_large(lang, limit)
    ctype = request.headers.get("content-type", "")
    received: list[Received] = []
    async with upload_slot(request, ident.id, settings.max_uploads_per_identity, lang):
        if ctype.startswith("application/json"):
            urls = (await read_model(request, s.UrlUpload, lang)).urls
            check_count(len(urls), lang)
            try:
                for url in urls:
                    received.append(
                        await fetch_url(
                            backend.http,
                            url,
                            folder,
                            limit,
                            settings.allow_private_urls,
                            settings.url_max_redirects,
                            lang,
                            settings.url_total_seconds,
                        )
                    )
            except BaseException:
                discard(received)
                raise
        else:
            received = await receive_multipart(
                ctype, request.stream(), folder, limit, lang, upload_pace(settings)
            )
        return envelope(await accept(backend, sid, lang, received))


async def render_body(request: Request) -> s.RenderStart:
    return await read_model(request, s.RenderStart)


async def render_session(
    request: Request,
    ident: CurrentIdentity,
    body: Annotated[s.RenderStart, Depends(render_body)],
) -> SessionRef:
    """The session named in the body (``sessionId`` or ``session_id``), owned by the caller."""
    return await session_ref(request, body.sessionId or body.session_id or "", ident)


@router.post(
    "/api/render/proxy/lambda",
    response_model=s.Envelope[s.RenderQueued],
    openapi_extra=s.json_body(s.RenderStart),
    tags=["render"],
)
async def render_start(
    request: Request,
    ident: CurrentIdentity,
    _attribution: Annotated[None, Depends(require_attribution)],  # 402 after 1001, before 4000
    session: Annotated[SessionRef, Depends(render_session)],
    body: Annotated[s.RenderStart, Depends(render_body)],
) -> JSONResponse:
    sid, lang, state = session.sid, session.lang, session.state
    job_id = body.id or f"render_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}"
    if not JOB_ID.fullmatch(job_id):
        raise api_error(
            BAD_REQUEST,
            "bad_request",
            lang,
            reason="the render id must be 'render_' and up to 72 letters, digits, '_' or '-'",
        )
    draft = body.draft or state.draft
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
    await backend.runner.start(job)
    return envelope({"id": job_id, "status": "queued"})


@router.get(
    "/api/render/proxy/lambda/{job_id}",
    response_model=s.Envelope[s.RenderState],
    tags=["render"],
)
async def render_status(
    request: Request,
    job_id: str,
    ident: CurrentIdentity,
    wait: Annotated[float, Query(ge=0, le=MAX_RENDER_WAIT_S, description=WAIT_DOC)] = 0,
) -> JSONResponse:
    backend = backend_of(request)
    job = await backend.store.job(job_id)
    if job is None or job.identity_id != ident.id:
        raise api_error(NOT_FOUND, "render_not_found", request_lang(request))
    job = await backend.runner.check_queued(job)  # with a queue: lost or given up
    deadline = time.monotonic() + wait
    while job.status not in ("completed", "failed") and (left := deadline - time.monotonic()) > 0:
        # this process's renders wake the wait at once; a worker's is seen at the next re-read
        await backend.runner.settled(min(left, 1.0 if backend.runner.queue is None else 0.25))
        found = await backend.store.job(job_id)
        if found is None:
            break
        job = await backend.runner.check_queued(found)
    progress = job.progress
    if job.status == "rendering":
        progress = max(progress, backend.runner.progress.get(job.id, 0.0))
    data: dict[str, Any] = {"id": job.id, "status": job.status, "progress": round(progress, 1)}
    if job.status == "completed":
        data["output"] = await backend.runner.fresh_output(job)
    if job.error:
        data["error"] = job.error
    return envelope(data)


@router.api_route(
    "/files/{name}",
    methods=["GET", "HEAD"],
    response_class=FileResponse,
    responses={
        200: {"content": {mime: {} for mime in DOWNLOAD_TYPES.values()}},
        403: {"content": {"text/html": {}}, "description": "Expired or tampered link"},
        404: {"content": {"text/html": {}}, "description": "No such file"},
    },
    tags=["render"],
)
async def download(
    request: Request,
    name: str,
    exp: Annotated[str | None, Query()] = None,
    sig: Annotated[str | None, Query()] = None,
) -> Response:
    """A signed link: no bearer token, refused after it expires or if anything in it was changed."""
    backend = backend_of(request)
    path = f"/files/{name}"
    if not verify(backend.settings.secret(), path, exp, sig):
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


async def read_model(request: Request, model: type[M], lang: str | None = None) -> M:
    """The JSON body read by ``_object`` (capped), validated by ``model``; 4000 if it does not fit."""
    body = await _object(request)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise api_error(
            BAD_REQUEST, "bad_request", lang or request_lang(request), reason=validation_reason(exc)
        ) from exc


def validation_reason(exc: ValidationError | Any) -> str:
    """The first problem of a validation error, for a person: ``'new_message.parts': Field required``."""
    errors = exc.errors()
    if not errors:
        return "the request does not fit the protocol"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    return f"'{where}': {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


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


__all__ = ["ApiError", "router"]
