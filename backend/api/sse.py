"""``POST /run_sse``: check the request, plan the turn under the session's lock, then stream the turn's
events as Server-Sent Events (heartbeats while long work runs).

The turn itself (``backend.conversation.turn``) runs as its own task writing into a queue; this response
only reads that queue, so a client that drops the stream does not cancel the work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from backend.api.deps import authenticate, backend_of, load_session
from backend.api.routes import _object as read_json
from backend.conversation.interpret import parse
from backend.conversation.plan import check_turn, plan
from backend.conversation.turn import execute
from backend.core.errors import BAD_REQUEST, api_error


async def run_sse(request: Request) -> Response:
    ident = await authenticate(request)
    backend = backend_of(request)
    body = await read_json(request)
    sid = str(body.get("session_id", ""))
    lang, _state = await load_session(request, sid, ident)
    message = body.get("new_message")
    parts = message.get("parts") if isinstance(message, dict) else None
    if not isinstance(parts, list):
        raise api_error(
            BAD_REQUEST, "bad_request", lang, reason="'new_message' must hold a list of 'parts'"
        )
    text = "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)).strip()
    if not text:
        raise api_error(BAD_REQUEST, "bad_request", lang, reason="the message has no text")
    # The turn is planned on the state as it is under the session's lock, and the lock is held
    # until the turn is done: two messages at once run one after the other, each on the state
    # the other left (the second one waits here).
    lock = backend.lock(sid)
    await lock.acquire()
    try:
        lang, state = await load_session(request, sid, ident)
        ident = await backend.store.identity(ident.id) or ident  # credits as they are now
        turn = plan(backend, sid, lang, ident, state, parse(text, [v.name for v in backend.voices]))
        check_turn(backend, turn, ident)
    except BaseException:
        lock.release()
        raise
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    task = asyncio.create_task(execute(backend, turn, queue, lock), name=f"turn-{turn.invocation}")
    backend_tasks = request.app.state.turns
    backend_tasks.add(task)
    task.add_done_callback(backend_tasks.discard)

    async def stream() -> AsyncIterator[dict[str, str]]:
        while (item := await queue.get()) is not None:
            yield {"data": json.dumps(item, ensure_ascii=False)}

    return EventSourceResponse(stream(), ping=backend.settings.heartbeat_seconds)
