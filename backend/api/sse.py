"""``POST /run_sse``: check the request, plan the turn under the session's lock, then stream the turn's
events as Server-Sent Events (heartbeats while long work runs).

The turn itself (``backend.conversation.turn``) runs as its own task writing into a queue; this response
only reads that queue, so a client that drops the stream does not cancel the work.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from backend.api import schemas as s
from backend.api.deps import CurrentIdentity, SessionRef, backend_of, load_session, session_ref
from backend.api.routes import read_model
from backend.conversation.plan import check_turn, plan_turn
from backend.conversation.turn import execute
from backend.core.errors import BAD_REQUEST, api_error
from backend.state.sessions import refresh_draft

router = APIRouter(responses=s.ERRORS)


async def run_body(request: Request) -> s.RunRequest:
    return await read_model(request, s.RunRequest)


async def run_session(
    request: Request, ident: CurrentIdentity, body: Annotated[s.RunRequest, Depends(run_body)]
) -> SessionRef:
    """The session named in the body, owned by the caller (checked again under the lock)."""
    return await session_ref(request, body.session_id, ident)


@router.post(
    "/run_sse",
    openapi_extra=s.json_body(s.RunRequest),
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "ADK events"}},
    tags=["conversation"],
)
async def run_sse(
    request: Request,
    ident: CurrentIdentity,
    session: Annotated[SessionRef, Depends(run_session)],
    body: Annotated[s.RunRequest, Depends(run_body)],
) -> Response:
    backend = backend_of(request)
    sid, lang = session.sid, session.lang
    text = "\n".join(p.text or "" for p in body.new_message.parts).strip()
    if not text:
        raise api_error(BAD_REQUEST, "bad_request", lang, reason="the message has no text")
    # The turn is planned on the state as it is under the session's lock, and the lock is held
    # until the turn is done: two messages at once run one after the other, each on the state
    # the other left (the second one waits here).
    lock = backend.lock(sid)
    await lock.acquire()
    try:
        lang, state = await load_session(request, sid, ident)
        player = (body.state_delta or {}).get("player_soft_subtitles")
        if isinstance(player, bool) and state.player_soft_subtitles is not player:
            state.player_soft_subtitles = player  # the turn loads the state again: saved first
            await refresh_draft(backend.store, sid, state)
            await backend.store.save_state(sid, state)
        ident = await backend.store.identity(ident.id) or ident  # credits as they are now
        names = [n for v in backend.voices for n in (v.name, *v.aliases)]
        turn = await plan_turn(backend, sid, lang, ident, state, text, names)  # off the loop
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
