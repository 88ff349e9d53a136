"""Request dependencies: the backend's parts, the caller's language, the identity behind the token and
the session it may use, as FastAPI dependencies (``Depends``). Raised errors carry the protocol's codes
(1001, 1002, 4003, 402)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from backend.core.errors import BAD_TOKEN, EXPORT_BLOCKED, FORBIDDEN, NO_SESSION, api_error
from backend.core.i18n import pick_lang
from backend.runtime.context import Backend
from backend.state.model import SessionState
from backend.state.records import Identity


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def request_lang(request: Request) -> str:
    return pick_lang(request.headers.get("accept-language"))


# Declares the bearer scheme in /openapi.json; the header is read (and refused with 1001) below.
bearer = HTTPBearer(auto_error=False, description="The token of `POST /api/auth/anonymous-token`.")


async def authenticate(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Identity:
    """The identity behind the bearer token, or 1001."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    lang = request_lang(request)
    if scheme.lower() != "bearer" or not token.strip():
        raise api_error(BAD_TOKEN, "bad_token", lang)
    ident = await backend_of(request).store.identity_for_token(token.strip())
    if ident is None:
        raise api_error(BAD_TOKEN, "bad_token", lang)
    return ident


async def load_session(request: Request, sid: str, ident: Identity) -> tuple[str, SessionState]:
    """(language, state) of a session the identity owns; 1002 if unknown, 4003 if someone else's.
    The language is the request's Accept-Language when it has one, else the session's."""
    found = await backend_of(request).store.session(sid)
    lang = request_lang(request)
    if found is None:
        raise api_error(NO_SESSION, "no_session", lang)
    owner, session_lang, state = found
    if owner != ident.id:
        raise api_error(FORBIDDEN, "forbidden_session", lang)
    # The chat's language now (a client that sends it) beats the one the session was created in.
    return (lang if request.headers.get("accept-language") else session_lang), state


CurrentIdentity = Annotated[Identity, Depends(authenticate)]


@dataclass
class SessionRef:
    sid: str
    lang: str
    state: SessionState


async def session_ref(request: Request, sid: str, ident: Identity) -> SessionRef:
    lang, state = await load_session(request, sid, ident)
    return SessionRef(sid, lang, state)


async def path_session(request: Request, sid: str, ident: CurrentIdentity) -> SessionRef:
    """The session named in the path (``{sid}``), owned by the caller."""
    return await session_ref(request, sid, ident)


PathSession = Annotated[SessionRef, Depends(path_session)]


async def require_attribution(
    request: Request,
    x_skill_source: Annotated[str | None, Header()] = None,
    x_skill_version: Annotated[str | None, Header()] = None,
    x_skill_platform: Annotated[str | None, Header()] = None,
) -> None:
    """Exports need the three attribution headers (402 without one of them)."""
    if not (x_skill_source and x_skill_version and x_skill_platform):
        raise api_error(EXPORT_BLOCKED, "missing_attribution", request_lang(request))
