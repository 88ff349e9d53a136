"""Editing phrases (English and Chinese): music, titles, caption look, format, trim, undo, which video.

Split from ``backend.conversation.interpret`` to keep each module about one thing; ``parse_edits`` fills the
editing fields of an ``Intent`` and returns the request with any title text (and any voice-volume
phrase) removed, so neither is mistaken for an inline script or a voiceover request. Titles are
read in ``backend.conversation.title_phrases``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.conversation.title_phrases import CN_DIGITS, find_titles, groups, sec_ms, unquote

_NUM = r"(\d+(?:\.\d+)?)"
_ZNUM = r"(\d+(?:\.\d+)?|[零一二两三四五六七八九十]+)"  # also Chinese numerals, for "前二十秒"
_ORDINALS = {
    "first": 0,
    "1st": 0,
    "second": 1,
    "2nd": 1,
    "third": 2,
    "3rd": 2,
    "fourth": 3,
    "4th": 3,
    "fifth": 4,
}

_REMOVE_TITLES = re.compile(
    r"(remove|delete|drop|clear|no)\s+(the\s+|all\s+)?(titles?|text overlays?|overlays?)|去掉标题|删除标题|删除文字",
    re.I,
)
_MUSIC_WORD = r"(?:music|bgm|soundtrack|background track)"
_MUSIC_LEVEL = re.compile(
    rf"{_MUSIC_WORD}[^0-9%]{{0,25}}?{_NUM}\s*(?:%|percent)|(?<![\d.]){_NUM}\s*(?:%|percent)\s+{_MUSIC_WORD}"
    rf"|(?:音乐|背景音乐|配乐)[^0-9%]{{0,8}}{_NUM}\s*%",
    re.I,
)
_MUSIC_LOUDER = re.compile(
    rf"louder\s+{_MUSIC_WORD}|{_MUSIC_WORD}\s+(?:a (?:bit|little|tad)\s+)?(?:louder|up\b)|(?:raise|turn up|increase)\s+(?:the\s+)?{_MUSIC_WORD}|音乐大声|调高音乐"
    r"|(?:音乐|配乐|BGM)(?:的)?(?:声音|音量)?(?:再|稍微)?(?:调|放|开)?(?:大|高|响)(?:一点|一些|点|些)"
    r"|(?:调大|调高|提高|加大)(?:背景)?(?:音乐|配乐)",
    re.I,
)
_MUSIC_QUIETER = re.compile(
    rf"(?:quieter|softer|lower)\s+{_MUSIC_WORD}|{_MUSIC_WORD}\s+(?:a (?:bit|little|tad)\s+)?(?:quieter|softer|lower|down\b)|(?:lower|turn down|reduce|decrease)\s+(?:the\s+)?{_MUSIC_WORD}|音乐小声|调低音乐"
    r"|(?:音乐|配乐|BGM)(?:的)?(?:声音|音量)?(?:再|稍微)?(?:调|放|关)?(?:小|低|轻)(?:一点|一些|点|些)"
    r"|(?:调小|调低|降低|减小)(?:背景)?(?:音乐|配乐)",
    re.I,
)
_MUSIC_REMOVE = re.compile(
    rf"(?:remove|delete|drop|mute|no)\s+(?:the\s+)?(?:background\s+)?{_MUSIC_WORD}|without\s+{_MUSIC_WORD}|去掉音乐|删除音乐|不要音乐|去掉背景音乐",
    re.I,
)
_MUSIC_USE = re.compile(
    rf"(?:as|for)\s+(?:the\s+)?(?:background\s+)?{_MUSIC_WORD}|add\s+(?:some\s+|the\s+)?(?:[\w-]+\s+)?{_MUSIC_WORD}|作为背景音乐|加背景音乐|添加音乐|加音乐",
    re.I,
)

_CAP_WORD = r"(?:captions?|subtitles?)"
_CAP_POS = re.compile(
    rf"{_CAP_WORD}\s+(?:at|to|on|in)\s+(?:the\s+)?(?P<en>top|middle|center|centre|bottom)"
    rf"|(?:move|put)\s+(?:the\s+)?{_CAP_WORD}\s+(?P<dir>up|down|to the top|to the bottom|to the middle)"
    r"|字幕(?:放在|放到|移到|挪到|调到|放|移|挪|在)(?:最)?"
    r"(?P<zh>顶部|顶端|上方|上面|上边|中间|中央|底部|底端|下方|下面|下边)",
    re.I,
)
_CAP_BIGGER = re.compile(
    rf"(?:bigger|larger)\s+{_CAP_WORD}|{_CAP_WORD}\s+(?:bigger|larger)|放大字幕|调大字幕"
    r"|字幕(?:的)?(?:字体|字号|文字)?(?:再|稍微)?(?:调|放|变|弄|改|加)?大(?!小)(?:一点|一些|点|些)?",
    re.I,
)
_CAP_SMALLER = re.compile(
    rf"smaller\s+{_CAP_WORD}|{_CAP_WORD}\s+smaller|缩小字幕|调小字幕"
    r"|字幕(?:的)?(?:字体|字号|文字)?(?:再|稍微)?(?:调|放|变|弄|改|缩)?小(?:一点|一些|点|些)?",
    re.I,
)
# Lookarounds, not \b: "要srt字幕" has no word boundary between Chinese and Latin letters.
_SIDECARS = re.compile(
    r"(?<![a-z0-9])(?:srt|vtt)(?![a-z0-9])|(?:subtitle|caption)\s+files?|字幕文件", re.I
)

_FIT_BLUR = re.compile(r"\bblur(?:red)?\b|模糊", re.I)
_FIT_CROP = re.compile(r"\bcrop(?:ped)?\b|\bfill the (?:screen|frame)\b|裁剪|裁切", re.I)
_FIT_PAD = re.compile(r"\bletterbox|\bblack bars\b|\bpad(?:ding)?\b|黑边", re.I)
_RESOLUTION = re.compile(r"(?<![\d.a-z])(720|1080)\s*p(?![a-z])", re.I)  # lookarounds: "1080P高清"
# Sizes the renderer cannot make (it does 720p and 1080p): a note, not a silent ignore.
_RESOLUTION_OTHER = re.compile(
    r"(?<![\d.a-z])(?:[248]\s*k|(?:2160|1440|4320|480|360|240)\s*p|uhd|ultra\s*hd)(?![a-z0-9])|超高清",
    re.I,
)
# The voice's loudness is fixed (normalized to the mix target): a note, and the phrase is cut out
# so "make the voiceover louder" does not read as a voiceover request.
_VOICE_WORD = r"\b(?:(?:male|female)\s+)?(?:voice\s*-?\s*over|voice|narration|narrator|vocals?)\b"
_VOICE_VOLUME = re.compile(
    rf"(?:louder|quieter|softer)\s+(?:the\s+)?{_VOICE_WORD}"
    rf"|{_VOICE_WORD}\s+(?:a (?:bit|little|tad)\s+|much\s+)?(?:louder|quieter|softer)\b"
    rf"|{_VOICE_WORD}\s+(?:is\s+)?(?:way\s+|a bit\s+)?too\s+(?:quiet|loud|soft|low)\b"
    rf"|\b(?:raise|lower|boost|increase|decrease|reduce|turn\s+up|turn\s+down)\s+(?:the\s+)?{_VOICE_WORD}"
    rf"|\bturn\s+(?:the\s+)?{_VOICE_WORD}\s+(?:a bit\s+)?(?:up|down)\b|{_VOICE_WORD}\s+(?:volume|level)\b"
    r"|(?:人声|配音|旁白|解说|说话声|(?<!音乐)(?<!音乐的)(?<!配乐)(?<!配乐的)(?<!BGM)(?<!背景)声音)"
    r"(?:的)?(?:声音|音量)?(?:再|稍微)?(?:调|放|开)?(?:大|小|高|低|响|轻)(?:一点|一些|点|些)"
    r"|(?:调大|调高|提高|加大|调小|调低|降低|减小)(?:人声|配音|旁白|解说)(?:的)?(?:音量)?",
    re.I,
)

_TRIM = re.compile(
    rf"only\s+(?:the\s+)?first\s+{_NUM}\s*(?:s\b|secs?\b|seconds?\b)|(?:trim|cut|shorten)\s+(?:it\s+|the video\s+)?(?:down\s+)?to\s+{_NUM}\s*(?:s\b|secs?\b|seconds?\b)"
    rf"|(?:只要|只保留|只留|保留|只取|截取)前\s*{_ZNUM}\s*秒|(?:剪到|剪成)\s*{_ZNUM}\s*秒",
    re.I,
)
_UNTRIM = re.compile(r"full length|don'?t trim|no trim|remove the trim|完整长度|不要剪", re.I)
_UNDO = re.compile(r"\bundo\b|\bgo back\b|\brevert\b|撤销|撤回|回退", re.I)
_VIDEO_N = re.compile(
    r"\b(?P<en>first|second|third|fourth|fifth|1st|2nd|3rd|4th|last|latest|previous)\s+(?:video|clip|upload)"
    r"|(?:video|clip)\s+(?P<num>\d)\b|第\s*(?P<zh>[一二三四五\d])\s*个视频|(?P<zhlast>最后一个|上一个)视频",
    re.I,
)
_PRON_QUOTED = r"\"[^\"\n]+\"|“[^”\n]+”|'[^'\n]+'(?!\w)|‘[^’\n]+’"
_PRON_TERM = rf"(?:{_PRON_QUOTED}|[\w'-]+)"
_PRON_STOP = r"(?:and|please|pls|thanks|thank|then|for|instead|now|ok|okay|from|in|on|when|so|too)"
_PRON_SPOKEN = rf"(?:{_PRON_QUOTED}|[\w'-]+(?:\s+(?!{_PRON_STOP}\b)[\w'-]+)*)"
_PRON_PAIR = rf"(?P<w>{_PRON_TERM})\s+(?:as|like)\s+(?P<s>{_PRON_SPOKEN})"
_PRONOUNCE = re.compile(rf"\bpronounce\s+{_PRON_PAIR}", re.I)
_PRONOUNCE_MORE = re.compile(rf"\s*[,;]?\s*(?:and\s+)?{_PRON_PAIR}", re.I)
_PRONOUNCE_END = re.compile(r"(?:\s*,?\s*(?:for\s+(?:us|me)|please|pls|thanks|thank you)\b)*", re.I)
# The word is bounded: an unbounded lazy \S+? rescanned the rest of the text from every 把.
_PRONOUNCE_ZH = re.compile(
    r"把\s*(?P<w>\S{1,40}?)\s*(?:读作|读成|念作|念成)\s*(?P<s>[^\s，。,.]{1,80})"
)


@dataclass
class Edits:
    """Editing requests found in one message. ``None`` = not mentioned."""

    titles: list[tuple[str, int, int]] = field(default_factory=list)  # (text, start_ms, end_ms)
    remove_titles: bool = False
    music_volume: float | None = None
    music_change: float | None = None
    remove_music: bool = False
    use_music: bool = False
    caption_position: str | None = None
    caption_size: str | None = None  # "small" | "large" | "medium"
    sidecars: bool = False
    fit: str | None = None
    resolution: int | None = None
    trim_ms: int | None = None  # 0 = remove the trim
    undo: bool = False
    video_index: int | None = None  # -1 = the last one
    pronunciations: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(
        default_factory=list
    )  # asked but not possible, e.g. an end-relative title

    @property
    def any(self) -> bool:
        return bool(
            self.titles
            or self.remove_titles
            or self.music_volume is not None
            or self.music_change
            or self.remove_music
            or self.use_music
            or self.caption_position
            or self.caption_size
            or self.sidecars
            or self.fit
            or self.resolution
            or self.trim_ms is not None
            or self.undo
            or self.video_index is not None
            or self.pronunciations
        )


def _pronunciations(text: str, found: dict[str, str]) -> str:
    """Collect "pronounce X as Y (and Z as W)" / "把X读作Y" into ``found``; return the text without
    them, so the spoken form ("LOO-men") is not read as a voice request ("men")."""
    kept: list[str] = []
    pos = 0
    matches = [*_PRONOUNCE.finditer(text), *_PRONOUNCE_ZH.finditer(text)]
    for first in sorted(matches, key=lambda m: m.start()):
        if first.start() < pos:
            continue
        m: re.Match[str] | None = first
        end = first.end()
        while m:
            found[unquote(m.group("w"))] = unquote(m.group("s"))
            end = m.end()
            m = _PRONOUNCE_MORE.match(text, end)
        if tail := _PRONOUNCE_END.match(text, end):
            end = tail.end()
        kept.append(text[pos : first.start()])
        pos = end
    return " ".join([*kept, text[pos:]])


def parse_edits(request: str) -> tuple[Edits, str]:
    """The editing fields of one message, and the message with title texts cut out."""
    e = Edits()
    found = find_titles(request)
    e.titles, e.remove_titles = found.titles, found.replace
    if found.end_relative:
        e.notes.append("title_time_unsupported")
    remaining = found.rest
    if _VOICE_VOLUME.search(remaining):
        e.notes.append("voice_volume_unsupported")
        remaining = _VOICE_VOLUME.sub(" ", remaining)
    remaining = _pronunciations(remaining, e.pronunciations)
    e.remove_titles |= bool(_REMOVE_TITLES.search(remaining))
    if m := _MUSIC_LEVEL.search(remaining):
        value = float(groups(m)[0])
        if 0 <= value <= 100:
            e.music_volume = value / 100
    elif _MUSIC_LOUDER.search(remaining):
        e.music_change = 1.5
    elif _MUSIC_QUIETER.search(remaining):
        e.music_change = 1 / 1.5
    e.remove_music = bool(_MUSIC_REMOVE.search(remaining))
    e.use_music = not e.remove_music and bool(_MUSIC_USE.search(remaining))
    if m := _CAP_POS.search(remaining):
        word = (m.group("en") or m.group("dir") or m.group("zh") or "").lower()
        e.caption_position = (
            "top"
            if word in ("top", "up", "to the top", "顶部", "上方", "上面")
            else "middle"
            if word in ("middle", "center", "centre", "to the middle", "中间")
            else "bottom"
        )
    if _CAP_BIGGER.search(remaining):
        e.caption_size = "large"
    elif _CAP_SMALLER.search(remaining):
        e.caption_size = "small"
    e.sidecars = bool(_SIDECARS.search(remaining))
    e.fit = (
        "blur"
        if _FIT_BLUR.search(remaining)
        else "crop"
        if _FIT_CROP.search(remaining)
        else ("pad" if _FIT_PAD.search(remaining) else None)
    )
    if m := _RESOLUTION.search(remaining):
        e.resolution = int(m.group(1))
    elif _RESOLUTION_OTHER.search(remaining):
        e.notes.append("resolution_unsupported")
    if m := _TRIM.search(remaining):
        e.trim_ms = max(0, sec_ms(groups(m)[0]))
    elif _UNTRIM.search(remaining):
        e.trim_ms = 0
    e.undo = bool(_UNDO.search(remaining))
    if m := _VIDEO_N.search(remaining):
        if m.group("en"):
            word = m.group("en").lower()
            e.video_index = (
                -1 if word in ("last", "latest") else -2 if word == "previous" else _ORDINALS[word]
            )
        elif m.group("num"):
            e.video_index = int(m.group("num")) - 1
        elif m.group("zh"):
            z = m.group("zh")
            e.video_index = (int(z) if z.isdigit() else CN_DIGITS[z]) - 1
        else:
            e.video_index = -1 if m.group("zhlast") == "最后一个" else -2
    return e, remaining
