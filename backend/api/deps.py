"""Request dependencies: the backend's parts, the caller's language, the identity behind the token and
the session it may use. Raised errors carry the protocol's codes (1001, 1002, 4003)."""

from __future__ import annotations

from starlette.requests import Request

from backend.core.errors import BAD_TOKEN, FORBIDDEN, NO_SESSION, api_error
from backend.core.i18n import pick_lang
from backend.runtime.context import Backend
from backend.state.model import SessionState
from backend.state.store import Identity


def backend_of(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


def request_lang(request: Request) -> str:
    return pick_lang(request.headers.get("accept-language"))


async def authenticate(request: Request) -> Identity:
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
