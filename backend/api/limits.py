"""Fair use of uploads: how many may run at once for one identity and in all, and how slowly a body
may arrive.

Anyone can get a free token, so one identity holding many slow uploads open (each with a descriptor
and a ``.part`` file) must not crowd out the rest: the next one past the cap is 429 at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import h11
from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

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


def head_deadline_protocol(seconds: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline on a request's head (request line and headers).

    uvicorn times out only an idle keep-alive connection, and stops that timer at the first byte:
    a client that connects and says nothing, or sends a header a byte at a time (slowloris), held a
    connection and its descriptor forever. Here the head must be in within ``seconds`` of the
    connection opening (or of the previous response): else the connection is closed."""

    class HeadDeadlineProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_head_deadline()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None and self.conn.their_state is not h11.IDLE:
                self._head_timer.cancel()  # the head is in: the body has rules of its own
                self._head_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm_head_deadline()  # the next request's head, on a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def _arm_head_deadline(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(seconds, self._head_too_slow)

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeadDeadlineProtocol
