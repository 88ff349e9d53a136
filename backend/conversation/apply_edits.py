"""Applying the editing part of a request to the session state (issue 4), plus undo.

Every edit is a change to ``state`` (settings, music, titles, active video); the draft is rebuilt from
the state afterwards, so ``state`` and the next export always agree.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from backend.conversation.edit_phrases import Edits
from backend.core.i18n import FIT_WORDS, POSITION_WORDS, SIZE_WORDS, t
from backend.state.interface import Store
from backend.state.model import SessionState, Title

MAX_HISTORY = 20

Step = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[None]]


MIN_TRIM_MS = 500  # a shorter export is not a video anyone can watch


def remember(state: SessionState) -> None:
    """Push the editable part of the state so one ``undo`` restores it."""
    state.history.append(state.snapshot())
    del state.history[:-MAX_HISTORY]


def label(state: SessionState, what: str) -> None:
    """Name the newest undo point by what its turn told the user, so ``undo`` can say what it undid."""
    if state.history:
        first = re.match(r"(.+?[.!?。！？])(?:\s|$)", what)
        state.history[-1].label = (first.group(1) if first else what)[:200]


def forget_if_unchanged(state: SessionState) -> None:
    """Drop the undo point of a turn that changed nothing ("add music" with no music uploaded), so
    the next ``undo`` undoes the last real edit."""
    if state.history and state.same_edits(state.history[-1]):
        state.history.pop()


def undo(state: SessionState) -> str | None:
    """Restore the state before the last edit; returns what that edit was ("" if unknown), or
    None when there is nothing to undo."""
    if not state.history:
        return None
    point = state.history.pop()
    state.restore(point)
    return point.label or ""


async def apply_edits(
    store: Store, sid: str, state: SessionState, edits: Edits, lang: str, step: Step
) -> list[str]:
    """Change ``state`` as ``edits`` ask; return the sentences that tell the user what changed."""
    settings = state.settings
    replies: list[str] = []
    if edits.remove_titles:
        if state.titles:
            state.titles = []
            replies.append(t("titles_removed", lang))
        elif not edits.titles:  # "change the title to X" with none yet simply adds X
            replies.append(t("titles_none", lang))
    length = int(state.draft.get("d") or 0)
    for text, start, end in edits.titles:
        if length and start >= length:  # it would never be seen (or stretch the video to show it)
            replies.append(
                t("title_after_end", lang, text=text, start=start / 1000, length=length / 1000)
            )
            continue
        state.titles.append(Title(text=text, start_ms=start, end_ms=end))
        await step("add_text", {"text": text, "start_ms": start, "end_ms": end}, {"ok": True})
        replies.append(t("title_added", lang, text=text, start=start / 1000, end=end / 1000))
    replies += await _music(store, sid, state, edits, lang, step)
    if edits.caption_position:
        settings.caption_position = edits.caption_position
        replies.append(
            t("caption_position", lang, pos=POSITION_WORDS[lang][edits.caption_position])
        )
    if edits.caption_size:
        settings.caption_size = edits.caption_size
        replies.append(t("caption_size", lang, size=SIZE_WORDS[lang][edits.caption_size]))
    if edits.sidecars:
        settings.sidecars = True
        replies.append(t("sidecars_on", lang))
    if edits.fit:
        settings.fit = edits.fit
        replies.append(t("fit_set", lang, how=FIT_WORDS[lang][edits.fit]))
    if edits.resolution:
        settings.resolution = edits.resolution
        replies.append(t("resolution_set", lang, res=edits.resolution))
    if edits.trim_ms is not None and 0 < edits.trim_ms < MIN_TRIM_MS:
        replies.append(t("trim_too_short", lang, sec=MIN_TRIM_MS / 1000))
    elif edits.trim_ms is not None:
        settings.trim_ms = edits.trim_ms or None
        replies.append(
            t("trim_set", lang, sec=edits.trim_ms / 1000)
            if edits.trim_ms
            else t("trim_removed", lang)
        )
    if edits.video_index is not None:
        videos = await store.media(sid, "video")
        index = edits.video_index
        if index == -2:  # "the previous video": the one before the active one
            ids = [v.id for v in videos]
            index = ids.index(state.video_id) - 1 if state.video_id in ids else -1
        if videos and -len(videos) <= index < len(videos):
            chosen = videos[index]
            state.video_id = chosen.id
            await step("select_video", {"index": edits.video_index}, {"video": chosen.name})
            replies.append(t("video_selected", lang, name=chosen.name))
        else:
            replies.append(t("video_missing", lang, count=len(videos)))
    if edits.pronunciations:
        settings.pronunciations = {**settings.pronunciations, **edits.pronunciations}
        for word, spoken in edits.pronunciations.items():
            replies.append(t("pronunciation_set", lang, word=word, spoken=spoken))
    return replies


async def _music(
    store: Store, sid: str, state: SessionState, edits: Edits, lang: str, step: Step
) -> list[str]:
    settings = state.settings
    if edits.remove_music:
        if not state.music_id:
            return [t("music_none", lang)]
        state.music_id = None
        await step("remove_music", {}, {"ok": True})
        return [t("music_removed", lang)]
    wants = edits.use_music or edits.music_volume is not None or edits.music_change is not None
    if not wants:
        return []
    if edits.use_music or not state.music_id:
        audio = await store.media(sid, "audio")
        if not audio:
            return [t("music_missing", lang)]
        state.music_id = audio[-1].id
    volume = settings.music_volume
    if edits.music_volume is not None:
        volume = edits.music_volume
    elif edits.music_change is not None:
        volume = volume * edits.music_change
    settings.music_volume = round(min(1.0, max(0.0, volume)), 3)
    pct = round(settings.music_volume * 100)
    await step("set_music", {"volume": pct}, {"music": state.music_id})
    item = await store.media_item(sid, state.music_id)
    if edits.use_music and item:
        return [t("music_set", lang, name=item.name, pct=pct)]
    return [t("music_volume", lang, pct=pct)]
