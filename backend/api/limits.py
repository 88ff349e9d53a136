"""Fair use of uploads: how many may run at once for one identity and in all, and how slowly a body
may arrive.

Anyone can get a free token, so one identity holding many slow uploads open (each with a descriptor
and a ``.part`` file) must not crowd out the rest: the next one past the cap is 429 at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.requests import Request

from backend.api.deps import backend_of
from backend.core.errors import RATE_LIMITED, api_error
from backend.core.settings import BackendSettings
from backend.intake.receive import Pace


def upload_pace(settings: BackendSettings) -> Pace:
    return Pace(
        min_rate=settings.upload_min_bytes_per_second,
        grace=settings.upload_grace_seconds,
        deadline=settings.upload_deadline_seconds,
    )


@asynccontextmanager
async def upload_slot(
    request: Request, identity: str, limit: int, lang: str
) -> AsyncIterator[None]:
    """Hold one of ``identity``'s ``limit`` upload slots for the block; 429 if all are taken, or
    if the whole process already receives ``max_uploads_total`` (many identities at once: free
    tokens make identities cheap, descriptors and disk are not)."""
    state = request.app.state
    busy: dict[str, int] | None = getattr(state, "uploads_busy", None)
    if busy is None:
        busy = state.uploads_busy = {}
    if busy.get(identity, 0) >= limit:
        raise api_error(RATE_LIMITED, "uploads_busy", lang, limit=limit)
    if sum(busy.values()) >= backend_of(request).settings.max_uploads_total:
        raise api_error(RATE_LIMITED, "server_uploads_busy", lang)
    busy[identity] = busy.get(identity, 0) + 1
    try:
        yield
    finally:
        busy[identity] -= 1
        if busy[identity] <= 0:
            del busy[identity]
