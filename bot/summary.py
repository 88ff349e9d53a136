"""The timeline summary people read, built in the bot from the session's draft in the chat's language.

`Timeline (3 tracks): 1. Video: city.mp4 (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)`
(DESIGN section 4). The hosted service sends no summary, and the self-hosted one sends English only, so
the bot reads the draft itself: tracks `t` with `tt` (0 video, 1 audio, 7 text) and segments `sg` with
`s` (start ms), `d` (duration ms), `m` (metadata) and a name or text. The backend's own summary is used
only when the reply has no draft at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.models import SessionState
from bot.texts import t

VIDEO, AUDIO, TEXT = 0, 1, 7


def _ms(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _secs(ms: int) -> str:
    return f"{ms / 1000:.0f}"


def _meta(seg: Mapping[str, Any]) -> Mapping[str, Any]:
    m = seg.get("m")
    return m if isinstance(m, Mapping) else {}


def _track(i: int, track: Mapping[str, Any], segments: list[Mapping[str, Any]], lang: str) -> str:
    start = min(_ms(s.get("s")) for s in segments)
    end = max(_ms(s.get("s")) + _ms(s.get("d")) for s in segments)
    first = segments[0]
    m = _meta(first)
    span = t("tl_span", lang, start=_secs(start), end=_secs(end))
    kind = track.get("tt")
    if kind == VIDEO:
        name = first.get("name") or t("tl_video_default", lang)
        return t("tl_video", lang, i=i, name=name, span=span)
    if kind == AUDIO and m.get("role") == "voiceover":
        details = [str(m.get("voice_name") or m.get("voice") or t("tl_voice_default", lang))]
        if m.get("language"):
            details.append(str(m["language"]).replace("_", "-"))
        try:
            speed = float(m.get("speed", 1.0))
        except (TypeError, ValueError):
            speed = 1.0
        if abs(speed - 1.0) > 0.01:
            details.append(f"{speed:.2f}x")
        return t("tl_voiceover", lang, i=i, voice=t("tl_sep", lang).join(details), span=span)
    if kind == AUDIO:
        name = first.get("name") or t("tl_music_default", lang)
        volume = m.get("volume", 100)
        span = t("tl_span_volume", lang, start=_secs(start), end=_secs(end), volume=volume)
        return t("tl_bgm", lang, i=i, name=name, span=span)
    if m.get("role") == "caption":
        style = t("tl_burned_in" if m.get("burn_in") else "tl_soft_track", lang)
        return t(
            "tl_captions",
            lang,
            i=i,
            lines=len(segments),
            s=_s(len(segments)),
            style=style,
            span=span,
        )
    text = first.get("text") or first.get("name") or ""
    return t("tl_title", lang, i=i, text=text, span=span)


def timeline_summary(draft: Mapping[str, Any], lang: str) -> str:
    """The draft for people, in `lang`; "" when the timeline is empty."""
    tracks = draft.get("t")
    kept: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for track in tracks if isinstance(tracks, list) else []:
        if not isinstance(track, Mapping) or not isinstance(track.get("sg"), list):
            continue
        segments = [s for s in track["sg"] if isinstance(s, Mapping)]
        if segments:
            kept.append((track, segments))
    if not kept:
        return ""
    parts = [_track(i, tr, sg, lang) for i, (tr, sg) in enumerate(kept, 1)]
    return t("tl_head", lang, n=len(kept), s=_s(len(kept))) + " ".join(parts) + _output(draft, lang)


def _output(draft: Mapping[str, Any], lang: str) -> str:
    """` Output: 1080x1920, first 5 s, caption files SRT and VTT.`: what the export will be
    (the same English as the self-hosted backend's summary)."""
    trim = draft.get("trim")
    cut = trim / 1000 if isinstance(trim, int | float) and trim > 0 else None
    return t(
        "tl_output",
        lang,
        w=draft.get("w", 1920),
        h=draft.get("h", 1080),
        trim=t("tl_trim", lang, seconds=f"{cut:g}") if cut is not None else "",
        sidecars=t("tl_sidecars", lang) if draft.get("sidecars") else "",
    )


def _tracks(state: SessionState) -> list[Mapping[str, Any]]:
    tracks = state.draft.get("t")
    return [
        tr
        for tr in (tracks if isinstance(tracks, list) else [])
        if isinstance(tr, Mapping) and isinstance(tr.get("sg"), list) and tr["sg"]
    ]


def has_voiceover(state: SessionState) -> bool:
    """The session has a voiceover: on the draft's timeline, else (no draft) generated media."""
    if not state.has_draft:
        return bool(state.generated_media)
    return any(
        tr.get("tt") == AUDIO
        and any(isinstance(s, Mapping) and _meta(s).get("role") == "voiceover" for s in tr["sg"])
        for tr in _tracks(state)
    )


def has_content(state: SessionState) -> bool:
    """Something worth exporting: a video or a voiceover (music or a title alone is not)."""
    if state.video_infos or has_voiceover(state):
        return True
    return any(tr.get("tt") == VIDEO for tr in _tracks(state))


def state_summary(state: SessionState, lang: str) -> str:
    """The session's timeline for people ("" when empty): from the draft, else the backend's text."""
    if state.has_draft:
        return timeline_summary(state.draft, lang)
    return state.summary


def _s(n: int) -> str:
    return "" if n == 1 else "s"
