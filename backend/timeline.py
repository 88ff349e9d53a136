"""The draft (the session's timeline): building it, summarizing it for people, and turning it into a RenderSpec.

Draft shape (DESIGN section 4): ``{"w", "h", "fps", "t": [{"tt", "name", "sg": [segment]}]}``; a segment has
``id``, ``src`` (a media id of the session) or ``text``, ``s`` (start ms), ``d`` (duration ms), ``m`` (metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backend.mediatypes import CaptionStyle, RenderSpec, Sentence, Word

VIDEO, AUDIO, TEXT = 0, 1, 7
ASPECTS = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
MAX_SIDE = 3840


class DraftError(ValueError):
    """A draft a client sent that we cannot render (bad shape, unknown media)."""


def output_size(aspect: str | None, video: Mapping[str, Any] | None) -> tuple[int, int]:
    """The asked-for aspect, else the uploaded video's own size (so its stream can be copied), else 1080p."""
    if aspect in ASPECTS:
        return ASPECTS[aspect]
    if video and video.get("width") and video.get("height"):
        return int(video["width"]), int(video["height"])
    return ASPECTS["16:9"]


def build_draft(state: Mapping[str, Any], video: Mapping[str, Any] | None) -> dict[str, Any]:
    """The draft that follows from the session's settings, active video and voiceover."""
    settings = state.get("settings", {})
    width, height = output_size(settings.get("aspect"), video)
    tracks: list[dict[str, Any]] = []
    duration = 0
    if video:
        duration = int(video.get("duration_ms", 0))
        tracks.append(
            {
                "tt": VIDEO,
                "name": "Video",
                "sg": [
                    {
                        "id": "video-1",
                        "src": video["id"],
                        "name": video.get("name", "video"),
                        "s": 0,
                        "d": duration,
                        "m": {"has_audio": bool(video.get("has_audio")), "volume": 100},
                    }
                ],
            }
        )
    voice = state.get("voiceover")
    if voice:
        vd = int(voice["duration_ms"])
        duration = max(duration, vd)
        tracks.append(
            {
                "tt": AUDIO,
                "name": "Voiceover",
                "sg": [
                    {
                        "id": "voice-1",
                        "src": voice["media_id"],
                        "name": f"Voiceover: {voice['voice_name']}",
                        "s": 0,
                        "d": vd,
                        "m": {
                            "role": "voiceover",
                            "voice": voice["voice"],
                            "voice_name": voice["voice_name"],
                            "language": voice.get("language", ""),
                            "speed": voice["speed"],
                            "volume": 100,
                        },
                    }
                ],
            }
        )
        if settings.get("captions", True):
            burn = settings.get("burn_captions")
            if burn is None:
                burn = video is None
            tracks.append(
                {
                    "tt": TEXT,
                    "name": "Captions",
                    "sg": [
                        {
                            "id": f"cap-{i + 1}",
                            "text": s["text"],
                            "s": s["start_ms"],
                            "d": s["end_ms"] - s["start_ms"],
                            "m": {
                                "role": "caption",
                                "burn_in": bool(burn),
                                "position": settings.get("caption_position", "bottom"),
                                "size": settings.get("caption_size", "medium"),
                                "words": s.get("words", []),
                            },
                        }
                        for i, s in enumerate(voice["sentences"])
                    ],
                }
            )
    return {"w": width, "h": height, "fps": 30, "d": duration, "t": tracks}


def _secs(ms: int) -> str:
    return f"{ms / 1000:.0f}"


def summary(draft: Mapping[str, Any]) -> str:
    """``Timeline (3 tracks): 1. Video: city.mp4 (0-10s) 2. Voiceover: Joe, en-US (0-31s) 3. Captions: 4 lines (0-31s)``."""
    tracks = [tr for tr in draft.get("t", []) if tr.get("sg")]
    if not tracks:
        return "Timeline (0 tracks): empty"
    parts = []
    for i, tr in enumerate(tracks, 1):
        sg = tr["sg"]
        start = min(int(s.get("s", 0)) for s in sg)
        end = max(int(s.get("s", 0)) + int(s.get("d", 0)) for s in sg)
        span = f"({_secs(start)}-{_secs(end)}s)"
        m = sg[0].get("m", {})
        if tr["tt"] == VIDEO:
            parts.append(f"{i}. Video: {sg[0].get('name', 'video')} {span}")
        elif tr["tt"] == AUDIO and m.get("role") == "voiceover":
            lang = str(m.get("language", "")).replace("_", "-")
            speed = f", {m['speed']:.2f}x" if abs(float(m.get("speed", 1.0)) - 1.0) > 0.01 else ""
            parts.append(
                f"{i}. Voiceover: {m.get('voice_name', m.get('voice'))}{', ' + lang if lang else ''}{speed} {span}"
            )
        elif tr["tt"] == AUDIO:
            parts.append(
                f"{i}. BGM: {sg[0].get('name', 'music')} {span[:-1]}, {m.get('volume', 100)}%)"
            )
        elif m.get("role") == "caption":
            kind = "burned in" if m.get("burn_in") else "subtitle track"
            parts.append(f"{i}. Captions: {len(sg)} lines, {kind} {span}")
        else:
            parts.append(f'{i}. Title: "{sg[0].get("text", "")}" {span}')
    return f"Timeline ({len(tracks)} tracks): " + " ".join(parts)


def _int(value: Any, low: int, high: int, what: str) -> int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise DraftError(f"{what} must be a number between {low} and {high}")
    return int(value)


def to_spec(
    draft: Mapping[str, Any], resolve: Callable[[str], tuple[Path, Mapping[str, Any]] | None]
) -> RenderSpec:
    """Validate an (untrusted) draft and resolve its media ids to files of the session."""
    if not isinstance(draft, Mapping) or not isinstance(draft.get("t"), list):
        raise DraftError("the draft has no track list")
    width = _int(draft.get("w", 1920), 64, MAX_SIDE, "w") // 2 * 2
    height = _int(draft.get("h", 1080), 64, MAX_SIDE, "h") // 2 * 2
    fps = _int(draft.get("fps", 30), 1, 60, "fps")
    spec = RenderSpec(duration_ms=0, width=width, height=height, fps=fps)
    end = 0
    for track in draft["t"]:
        if not isinstance(track, Mapping) or not isinstance(track.get("sg"), list):
            raise DraftError("a track has no segment list")
        for seg in track["sg"]:
            if not isinstance(seg, Mapping):
                raise DraftError("a segment is not an object")
            start = _int(seg.get("s", 0), 0, 6 * 3600 * 1000, "s")
            dur = _int(seg.get("d", 0), 0, 6 * 3600 * 1000, "d")
            meta = seg.get("m") or {}
            end = max(end, start + dur)
            if track.get("tt") == VIDEO and spec.video is None:
                found = resolve(str(seg.get("src", "")))
                if found is None:
                    raise DraftError("the draft refers to a video that is not in this session")
                spec.video, info = found[0], found[1]
                spec.video_has_audio = bool(info.get("has_audio"))
                spec.video_width, spec.video_height = (
                    int(info.get("width", 0)),
                    int(info.get("height", 0)),
                )
            elif (
                track.get("tt") == AUDIO and meta.get("role") == "voiceover" and spec.voice is None
            ):
                found = resolve(str(seg.get("src", "")))
                if found is None:
                    raise DraftError("the draft refers to a voiceover that is not in this session")
                spec.voice, spec.voice_start_ms = found[0], start
            elif track.get("tt") == TEXT and meta.get("role") == "caption":
                spec.captions.append(_sentence(seg, start, dur))
                spec.caption_style = CaptionStyle(
                    enabled=True,
                    burn_in=bool(meta.get("burn_in", True)),
                    position=str(meta.get("position", "bottom")),
                    size=str(meta.get("size", "medium")),
                )
    if spec.video is None and spec.voice is None:
        raise DraftError("the timeline is empty")
    spec.duration_ms = max(end, 1)
    return spec


def _sentence(seg: Mapping[str, Any], start: int, dur: int) -> Sentence:
    text = str(seg.get("text", ""))[:2000]
    words = []
    for w in (seg.get("m") or {}).get("words", [])[:500]:
        if isinstance(w, (list, tuple)) and len(w) == 3:
            words.append(
                Word(
                    str(w[0])[:200], _int(w[1], 0, 1 << 31, "word"), _int(w[2], 0, 1 << 31, "word")
                )
            )
    return Sentence(text=text, start_ms=start, end_ms=start + dur, words=tuple(words))
