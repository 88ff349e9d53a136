"""The draft (the session's timeline): building it from the session state, and turning a client's draft into a RenderSpec.

The schema's names (track types, roles) and the summary people read are in ``backend.protocol``.

Draft shape (DESIGN section 4): ``{"w", "h", "fps", "t": [{"tt", "name", "sg": [segment]}]}``; a segment has
``id``, ``src`` (a media id of the session) or ``text``, ``s`` (start ms), ``d`` (duration ms), ``m`` (metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from backend.core.types import CaptionStyle, MusicSpec, RenderSpec, Sentence, TextOverlay, Word
from backend.protocol.draft import AUDIO, TEXT, VIDEO
from backend.state.model import SessionState

ASPECTS = {"16:9": (1920, 1080), "9:16": (1080, 1920), "1:1": (1080, 1080)}
MAX_SIDE = 3840
# A client's draft is checked against the session's own media: no segment may end more than this
# past the media it has (a 6-hour segment over a 5 s voiceover held a render worker for hours).
MEDIA_TOLERANCE_MS = 1000
FRAME_RATES = (24, 25, 30)  # and the uploaded video's own rate


class DraftError(ValueError):
    """A draft a client sent that we cannot render (bad shape, unknown media)."""


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def output_size(
    aspect: str | None, video: Mapping[str, Any] | None, resolution: int | None = None
) -> tuple[int, int]:
    """The asked-for aspect, else the uploaded video's own size (so its stream can be copied), else
    1080p; then scaled so the short side is ``resolution`` (720 or 1080) when one was asked for."""
    if aspect in ASPECTS:
        width, height = ASPECTS[aspect]
    elif video and video.get("width") and video.get("height"):
        width, height = int(video["width"]), int(video["height"])
    else:
        width, height = ASPECTS["16:9"]
    if resolution and min(width, height) != resolution:
        factor = resolution / min(width, height)
        width, height = _even(width * factor), _even(height * factor)
    return width, height


def _segment(
    seg_id: str, start: int, dur: int, name: str, meta: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {"id": seg_id, "name": name, "s": start, "d": dur, "m": meta, **extra}


def burned_for_player(state: SessionState) -> bool:
    """Captions go into the picture because the client's player does not show subtitle tracks
    (Telegram, Discord): the user neither chose burned or soft captions nor asked for caption
    files, and has an uploaded video with a voiceover and captions on."""
    settings = state.settings
    return (
        state.player_soft_subtitles is False
        and settings.burn_captions is None
        and settings.captions
        and not settings.sidecars
        and state.video_id is not None
        and state.voiceover is not None
    )


def build_draft(
    state: SessionState,
    video: Mapping[str, Any] | None,
    music: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The draft that follows from the session's settings, active video, voiceover, music and titles."""
    settings = state.settings
    width, height = output_size(settings.aspect, video, settings.resolution)
    titles = state.titles
    reencode = video is None or bool(titles) or bool(settings.aspect) or bool(settings.resolution)
    tracks: list[dict[str, Any]] = []
    duration = 0
    if video:
        duration = int(video.get("duration_ms", 0))
        meta: dict[str, Any] = {"has_audio": bool(video.get("has_audio")), "volume": 100}
        tracks.append(
            {
                "tt": VIDEO,
                "name": "Video",
                "sg": [
                    _segment(
                        "video-1", 0, duration, video.get("name", "video"), meta, src=video["id"]
                    )
                ],
            }
        )
    voice = state.voiceover
    if voice:
        vd = voice.duration_ms
        duration = max(duration, vd)
        meta = {
            "role": "voiceover",
            "voice": voice.voice,
            "voice_name": voice.voice_name,
            "language": voice.language,
            "speed": voice.speed,
            "volume": 100,
        }
        tracks.append(
            {
                "tt": AUDIO,
                "name": "Voiceover",
                "sg": [
                    _segment(
                        "voice-1",
                        0,
                        vd,
                        f"Voiceover: {voice.voice_name}",
                        meta,
                        src=voice.media_id,
                    )
                ],
            }
        )
    if settings.trim_ms:
        duration = min(duration, settings.trim_ms) if duration else settings.trim_ms
    if music:
        meta = {
            "role": "music",
            "volume": round(settings.music_volume * 100),
            "loop": True,
        }
        tracks.append(
            {
                "tt": AUDIO,
                "name": "BGM",
                "sg": [
                    _segment(
                        "music-1", 0, duration, music.get("name", "music"), meta, src=music["id"]
                    )
                ],
            }
        )
    if voice and settings.captions:
        burn = settings.burn_captions
        if burn is None:  # a soft track's look is the player's: a chosen place or size is burned in
            burn = (
                reencode
                or settings.chosen("caption_position")
                or settings.chosen("caption_size")
                or burned_for_player(state)
            )
        style = {
            "role": "caption",
            "burn_in": bool(burn),
            "position": settings.caption_position,
            "size": settings.caption_size,
        }
        tracks.append(
            {
                "tt": TEXT,
                "name": "Captions",
                "sg": [
                    _segment(
                        f"cap-{i + 1}",
                        s.start_ms,
                        s.end_ms - s.start_ms,
                        "caption",
                        {**style, "words": [list(w) for w in s.words]},
                        text=s.text,
                    )
                    for i, s in enumerate(voice.sentences)
                ],
            }
        )
    if titles:
        tracks.append(
            {
                "tt": TEXT,
                "name": "Titles",
                "sg": [
                    _segment(
                        f"title-{i + 1}",
                        ti.start_ms,
                        ti.end_ms - ti.start_ms,
                        "title",
                        {"role": "title", "position": ti.position, "size": ti.size},
                        text=ti.text,
                    )
                    for i, ti in enumerate(titles)
                ],
            }
        )
    return {
        "w": width,
        "h": height,
        "fps": 30,
        "d": duration,
        "t": tracks,
        "fit": settings.fit or ("blur" if settings.aspect else "pad"),
        "trim": settings.trim_ms,
        "sidecars": settings.sidecars,
        "hold": True,
    }


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
    video_info: Mapping[str, Any] | None = None
    voice_ms = 0
    for track in draft["t"]:
        if not isinstance(track, Mapping) or not isinstance(track.get("sg"), list):
            raise DraftError("a track has no segment list")
        for seg in track["sg"]:
            if not isinstance(seg, Mapping):
                raise DraftError("a segment is not an object")
            start = _int(seg.get("s", 0), 0, 6 * 3600 * 1000, "s")
            dur = _int(seg.get("d", 0), 0, 6 * 3600 * 1000, "d")
            meta = seg.get("m") or {}
            if not isinstance(meta, Mapping):
                raise DraftError("a segment's 'm' must be an object")
            if not (track.get("tt") == TEXT and meta.get("role") == "title"):
                end = max(end, start + dur)  # a title is shown within the video, never stretches it
            if track.get("tt") == VIDEO and spec.video is None:
                found = resolve(str(seg.get("src", "")))
                if found is None:
                    raise DraftError("the draft refers to a video that is not in this session")
                spec.video, info = found[0], found[1]
                video_info = info
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
                voice_ms = _media_ms(found[1])
                if dur > voice_ms + MEDIA_TOLERANCE_MS:
                    raise DraftError(
                        f"the voiceover segment lasts {dur / 1000:.1f} s but the voiceover is "
                        f"{voice_ms / 1000:.1f} s long"
                    )
            elif track.get("tt") == AUDIO and meta.get("role") == "music" and spec.music is None:
                found = resolve(str(seg.get("src", "")))
                if found is None:
                    raise DraftError("the draft refers to music that is not in this session")
                volume = _int(meta.get("volume", 30), 0, 100, "music volume") / 100
                spec.music = MusicSpec(found[0], volume=volume, loop=bool(meta.get("loop", True)))
                end -= dur  # the music follows the output's length, it does not set it
            elif track.get("tt") == TEXT and meta.get("role") == "title":
                text = str(seg.get("text", ""))[:200]
                position = str(meta.get("position", "center"))
                size = str(meta.get("size", "large"))
                spec.titles.append(TextOverlay(text, start, start + dur, position, size))
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
    _check_against_media(spec, video_info, voice_ms, end)
    spec.duration_ms = max(end, 1)
    fit = draft.get("fit", "pad")
    if fit not in ("pad", "blur", "crop"):
        raise DraftError("fit must be pad, blur or crop")
    spec.fit = str(fit)
    if draft.get("trim") is not None:
        spec.trim_ms = _int(draft["trim"], 500, 6 * 3600 * 1000, "trim")
        spec.duration_ms = min(spec.duration_ms, spec.trim_ms)
        spec.captions = _clip(spec.captions, spec.trim_ms)
        spec.titles = [
            TextOverlay(o.text, o.start_ms, min(o.end_ms, spec.trim_ms), o.position, o.size)
            for o in spec.titles
            if o.start_ms < spec.trim_ms
        ]
    spec.sidecars = bool(draft.get("sidecars", False))
    spec.hold_last_frame = bool(draft.get("hold", True))
    return spec


def _media_ms(info: Mapping[str, Any]) -> int:
    value = info.get("duration_ms", 0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def allowed_sizes(video: Mapping[str, Any] | None) -> set[tuple[int, int]]:
    """The output sizes a session can ask for: each aspect at each resolution, and the uploaded
    video's own size (scaled to each resolution), as even numbers (how ``to_spec`` reads them)."""
    sizes = set()
    for aspect in (*ASPECTS, None):
        for resolution in (None, 720, 1080):
            w, h = output_size(aspect, video, resolution)
            sizes.add((w // 2 * 2, h // 2 * 2))
    return sizes


def _check_against_media(
    spec: RenderSpec, video: Mapping[str, Any] | None, voice_ms: int, end: int
) -> None:
    """Refuse a draft that asks for more than the session's media can make: a size none of its
    formats produce, a frame rate outside FRAME_RATES (and the video's own), or a timeline longer
    than its video and voiceover (MEDIA_TOLERANCE_MS allowed)."""
    if (spec.width, spec.height) not in allowed_sizes(video):
        raise DraftError(
            f"{spec.width}x{spec.height} is not an output size of this session (its formats are "
            "16:9, 9:16 and 1:1 at 720p or 1080p, or the video's own size)"
        )
    rates = set(FRAME_RATES)
    source_fps = video.get("fps") if video else None
    if isinstance(source_fps, (int, float)) and 1 <= round(source_fps) <= 60:
        rates.add(round(source_fps))
    if spec.fps not in rates:
        raise DraftError(
            f"fps must be one of {', '.join(str(r) for r in sorted(rates))}, not {spec.fps}"
        )
    video_ms = _media_ms(video) if video else 0
    if spec.voice is not None and spec.voice_start_ms > video_ms + MEDIA_TOLERANCE_MS:
        raise DraftError(
            f"the voiceover starts at {spec.voice_start_ms / 1000:.1f} s, after the end of the "
            f"video ({video_ms / 1000:.1f} s)"
        )
    media_ms = max(video_ms, spec.voice_start_ms + voice_ms if spec.voice is not None else 0)
    if end > media_ms + MEDIA_TOLERANCE_MS:
        raise DraftError(
            f"the timeline runs to {end / 1000:.1f} s but this session's media last "
            f"{media_ms / 1000:.1f} s"
        )


def _clip(sentences: list[Sentence], end_ms: int) -> list[Sentence]:
    """Captions cut at ``end_ms``: later lines dropped, a line crossing it shortened."""
    kept = []
    for s in sentences:
        if s.start_ms >= end_ms:
            continue
        words = tuple(
            Word(w.text, w.start_ms, min(w.end_ms, end_ms)) for w in s.words if w.start_ms < end_ms
        )
        kept.append(Sentence(s.text, s.start_ms, min(s.end_ms, end_ms), words))
    return kept


def _sentence(seg: Mapping[str, Any], start: int, dur: int) -> Sentence:
    text = str(seg.get("text", ""))[:2000]
    words = []
    given = (seg.get("m") or {}).get("words") or []
    if not isinstance(given, list):
        raise DraftError("a caption's 'words' must be a list")
    for w in given[:500]:
        if isinstance(w, (list, tuple)) and len(w) == 3:
            words.append(
                Word(
                    str(w[0])[:200], _int(w[1], 0, 1 << 31, "word"), _int(w[2], 0, 1 << 31, "word")
                )
            )
    return Sentence(text=text, start_ms=start, end_ms=start + dur, words=tuple(words))
