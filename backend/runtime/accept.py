"""After bytes are on disk: classify each file, then add all of them to the session, or none.

Shared by the API upload, URL uploads and the web upload page, so every path gets the same checks.
"""

from __future__ import annotations

from typing import Any

from backend.core.text import count_words
from backend.core.types import Received
from backend.intake.files import ingest, safe_name
from backend.intake.receive import discard
from backend.runtime.context import Backend
from backend.runtime.fair_pool import fair_pool
from backend.state.sessions import apply_uploads


async def accept(backend: Backend, sid: str, lang: str, received: list[Received]) -> dict[str, Any]:
    """Ingest ``received`` into session ``sid``; on any refusal delete every file and re-raise."""
    try:
        found = await backend.store.session(sid)
        who = found[0] if found is not None else sid  # the owner: fair between identities
        ingested = []
        for item in received:
            name = safe_name(item.name)
            info = await fair_pool().run(
                who, ingest, item.path, name, lang, backend.settings.max_script_words
            )
            ingested.append((item, name, info))
    except BaseException:
        discard(received)
        raise
    async with backend.lock(sid):
        found = await backend.store.session(sid)
        if found is None:
            discard(received)
            raise LookupError(sid)
        state = found[2]
        files = await apply_uploads(backend.store, sid, state, ingested)
        for file in files:  # durable (S3) before the session points at it
            media = await backend.store.media_item(sid, file["id"])
            if media is not None:
                await backend.objects.publish(media.path)
        await backend.store.save_state(sid, state)
    videos = await backend.store.media(sid, "video")
    data: dict[str, Any] = {"files": files, "video_infos": [m.public() for m in videos]}
    if state.script:
        text = state.script.text
        data["script"] = {
            "name": state.script.name,
            "words": count_words(text),
            "chars": len(text),
        }
    return data
