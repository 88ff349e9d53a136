"""The timeline summary people read (DESIGN section 4), in English or Chinese:
`Timeline (3 tracks): 1. Video: city.mp4 (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)`
then what the export will be (` Output: 1080x1920, first 5 s.`).

Built from the draft alone, tolerantly, so the bot can summarize a draft from the hosted service (which
sends no summary) and the backend says exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend.protocol.catalogue import Catalogue
from backend.protocol.draft import CAPTION, MUSIC, VOICEOVER, meta, ms, role, tracks

TEXTS = Catalogue(
    {
        "tl_head": {"en": "Timeline ({n} track{s}): ", "zh": "时间线（{n} 条轨道）："},
        "tl_span": {"en": " ({start}-{end}s)", "zh": "（{start}-{end} 秒）"},
        "tl_span_volume": {
            "en": " ({start}-{end}s, {volume}%)",
            "zh": "（{start}-{end} 秒，音量 {volume}%）",
        },
        "tl_sep": {"en": ", ", "zh": "，"},
        "tl_video": {"en": "{i}. Video: {name}{span}", "zh": "{i}. 视频：{name}{span}"},
        "tl_voiceover": {"en": "{i}. Voiceover: {voice}{span}", "zh": "{i}. 配音：{voice}{span}"},
        "tl_bgm": {"en": "{i}. BGM: {name}{span}", "zh": "{i}. 背景音乐：{name}{span}"},
        "tl_captions": {
            "en": "{i}. Captions: {lines} line{s}, {style}{span}",
            "zh": "{i}. 字幕：{lines} 行，{style}{span}",
        },
        "tl_title": {"en": '{i}. Title: "{text}"{span}', "zh": "{i}. 标题：“{text}”{span}"},
        "tl_burned_in": {"en": "burned in", "zh": "烧录在画面中"},
        "tl_soft_track": {"en": "subtitle track", "zh": "字幕轨"},
        "tl_video_default": {"en": "video", "zh": "视频"},
        "tl_voice_default": {"en": "voice", "zh": "配音"},
        "tl_music_default": {"en": "music", "zh": "音乐"},
        "tl_output": {
            "en": " Output: {w}x{h}{trim}{sidecars}.",
            "zh": " 输出：{w}x{h}{trim}{sidecars}。",
        },
        "tl_trim": {"en": ", first {seconds} s", "zh": "，只保留前 {seconds} 秒"},
        "tl_sidecars": {"en": ", caption files SRT and VTT", "zh": "，附 SRT 和 VTT 字幕文件"},
        "tl_empty": {"en": "Timeline (0 tracks): empty", "zh": "时间线（0 条轨道）：空"},
    }
)


def _secs(value: int) -> str:
    return f"{value / 1000:.0f}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _track(i: int, track: Mapping[str, Any], segments: list[Mapping[str, Any]], lang: str) -> str:
    t = TEXTS.t
    start = min(ms(s.get("s")) for s in segments)
    end = max(ms(s.get("s")) + ms(s.get("d")) for s in segments)
    first = segments[0]
    m = meta(first)
    span = t("tl_span", lang, start=_secs(start), end=_secs(end))
    kind = role(track, segments)
    if kind == "video":
        name = first.get("name") or t("tl_video_default", lang)
        return t("tl_video", lang, i=i, name=name, span=span)
    if kind == VOICEOVER:
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
    if kind == MUSIC:
        name = first.get("name") or t("tl_music_default", lang)
        volume = m.get("volume", 100)
        span = t("tl_span_volume", lang, start=_secs(start), end=_secs(end), volume=volume)
        return t("tl_bgm", lang, i=i, name=name, span=span)
    if kind == CAPTION:
        style = t("tl_burned_in" if m.get("burn_in") else "tl_soft_track", lang)
        n = len(segments)
        return t("tl_captions", lang, i=i, lines=n, s=_s(n), style=style, span=span)
    text = first.get("text") or first.get("name") or ""
    return t("tl_title", lang, i=i, text=text, span=span)


def timeline_summary(draft: Mapping[str, Any], lang: str = "en") -> str:
    """The draft for people, in ``lang``; "" when the timeline is empty."""
    kept = tracks(draft)
    if not kept:
        return ""
    parts = [_track(i, tr, sg, lang) for i, (tr, sg) in enumerate(kept, 1)]
    head = TEXTS.t("tl_head", lang, n=len(kept), s=_s(len(kept)))
    return head + " ".join(parts) + _output(draft, lang)


def summary_or_empty(draft: Mapping[str, Any], lang: str = "en") -> str:
    """``timeline_summary``, or a sentence saying the timeline is empty."""
    return timeline_summary(draft, lang) or TEXTS.t("tl_empty", lang)


def _output(draft: Mapping[str, Any], lang: str) -> str:
    """` Output: 1080x1920, first 5 s, caption files SRT and VTT.`: what the export will be."""
    t = TEXTS.t
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
