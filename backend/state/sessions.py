"""Session state: what an upload changes, and what clients are shown (never server paths)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from backend.core.text import count_words
from backend.core.types import Ingested, Received
from backend.protocol.summary import summary_or_empty
from backend.state.draft import build_draft
from backend.state.interface import Store
from backend.state.model import Script, SessionState
from backend.state.records import MediaItem


async def apply_uploads(
    store: Store,
    sid: str,
    state: SessionState,
    ingested: list[tuple[Received, str, Ingested]],
) -> list[dict[str, Any]]:
    """Keep each checked upload under its media id and make it the session's script or active video."""
    files = []
    for received, name, info in ingested:
        media_id = f"{info.kind[:3]}_{uuid.uuid4().hex[:12]}"
        final = received.path.with_name(f"{media_id}.{info.fmt}")
        received.path.replace(final)
        if info.text is not None:
            final.with_suffix(".txt").write_text(info.text, encoding="utf-8")
        item = MediaItem(media_id, sid, info.kind, name, final, received.size, info.mime, info.info)
        await store.add_media(item)
        if info.kind == "script" and info.text is not None:
            state.script = Script(text=info.text, name=name, media_id=media_id)
        elif info.kind == "video":
            state.video_id = media_id
        elif info.kind == "audio":
            state.music_id = media_id  # the one use we have for an uploaded track
            if not state.settings.chosen("music_volume"):
                state.settings.music_volume = 0.3  # shown to clients from now on
        files.append(item.public())
    await refresh_draft(store, sid, state)
    return files


async def refresh_draft(store: Store, sid: str, state: SessionState) -> None:
    """Rebuild the draft from the state (the one place the timeline is derived)."""
    video = await store.media_item(sid, state.video_id) if state.video_id else None
    music = await store.media_item(sid, state.music_id) if state.music_id else None
    state.draft = build_draft(
        state, video.public() if video else None, music.public() if music else None
    )


def public_state(state: SessionState, media: list[MediaItem], lang: str = "en") -> dict[str, Any]:
    script = state.script
    draft = state.draft or {"t": []}
    return {
        "draft": draft,
        "summary": summary_or_empty(draft, lang),
        "video_infos": [m.public() for m in media if m.kind == "video"],
        "generated_media": [m.public() for m in media if m.kind == "voiceover"],
        "uploads": [m.public() for m in media if m.kind not in ("voiceover",)],
        "script": {
            "name": script.name,
            "words": count_words(script.text),
            "text": script.text[:500],
        }
        if script
        else None,
        "settings": state.settings.model_dump(mode="json"),
    }


def media_path(data_dir: Path, sid: str) -> Path:
    return data_dir / "sessions" / sid / "media"
