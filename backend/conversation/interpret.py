"""Plain-language requests (English and Chinese) -> a structured ``Intent``.

Deliberately rule-based: predictable, instant, testable, and it runs with no model download. Each rule
is one small function so the editing issue can add more without touching the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backend.conversation.edit_phrases import Edits, parse_edits
from backend.conversation.voice_phrases import (
    asks_for_catalogue,
    other_accent,
    same_voice,
    voice_trait,
)
from backend.core.errors import BAD_INPUT, api_error
from backend.core.text import count_words

_VOICEOVER = re.compile(
    r"voice\s*-?\s*over|voiceover|narrat|read (it|this|my|the)|speak|tts|text to speech|"
    r"配音|旁白|朗读|解说|念",
    re.I,
)
_REDO = re.compile(r"\bredo\b|重新(?:配音|朗读|录|念|读)", re.I)
# Words that ask for speech only when the message is not about an edit ("generate srt files",
# "add the title again").
_GENERATE = re.compile(r"\bgenerate\b|生成", re.I)
_AGAIN = re.compile(r"\bagain\b|\bregenerate\b|\bonce more\b|重新|再来", re.I)
_MADE_OBJECT = (
    r"\b(?:titles?|headings?|files?|music|overlays?)\b|(?<![a-z0-9])(?:srt|vtt)(?![a-z0-9])"
    r"|标题|字幕文件|音乐"
)
_MADE = re.compile(_MADE_OBJECT, re.I)  # "generate captions" still means a voiceover with captions
_EDITED = re.compile(_MADE_OBJECT + r"|\b(?:captions?|subtitles?|text)\b|字幕|文字", re.I)
_MALE = re.compile(r"\bmale\b|\bman\b|\bmen\b|\bguy\b|\bmasculine\b|男", re.I)
_FEMALE = re.compile(r"\bfemale\b|\bwoman\b|\bwomen\b|\bgirl\b|\blady\b|\bfeminine\b|女", re.I)
_LANGS: dict[str, re.Pattern[str]] = {
    "en": re.compile(r"\benglish\b|英文|英语", re.I),
    "zh": re.compile(r"\bchinese\b|\bmandarin\b|中文|汉语|普通话", re.I),
    "es": re.compile(r"\bspanish\b|西班牙语", re.I),
    "fr": re.compile(r"\bfrench\b|法语", re.I),
    "de": re.compile(r"\bgerman\b|德语", re.I),
}
_ACCENTS = {
    "en_GB": re.compile(r"\bbritish\b|\buk\b|英式", re.I),
    "en_US": re.compile(r"\bamerican\b|(?-i:\bUS\b)|\bus (?:english|accent|voice)|美式", re.I),
}
_IT = r"(?:it|the (?:voice|voiceover|narration|reading|speech))"
_FASTER = re.compile(rf"\bfaster\b|\bspeed (?:{_IT} )?up\b|\bquicker\b|快一点|快点|更快|加快", re.I)
_SLOWER = re.compile(rf"\bslower\b|\bslow (?:{_IT} )?down\b|慢一点|慢点|更慢|放慢", re.I)
# "1.2x", "1.2倍": not a size ("1080x1920") nor how much louder or bigger ("2x louder", "放大2倍").
_RATE = re.compile(
    r"(?<![\d.大小高低响])(\d+(?:\.\d+)?)\s*(?:[x×](?![\w×])|倍)"
    r"(?!\s*(?:louder|bigger|larger|smaller|quieter|softer|longer|shorter|higher|lower|more|less"
    r"|as\b|[大小高低响]))",
    re.I,
)
# "speed 1.1", "速度1.2", "语速 0.9", "speed 120%" (the "1.1x" forms are _RATE's).
_SPEED_SET = re.compile(
    r"(?:\bspeed|\bpace|语速|速度|倍速)\s*(?:(?:to|of|at|is|=)\s*|[:：]\s*"
    r"|(?:设为|设置为|设成|调到|调成|调为|改成|改为|为|是)\s*)?(\d+(?:\.\d+)?)\s*(%?)(?![\d.])"
    r"(?!\s*(?:p\b|k\b|s\b|secs?\b|seconds?\b|秒|fps\b|wpm\b|words?\b))",
    re.I,
)
_DIMENSIONS = re.compile(r"(?<![\d.])(\d{3,4})\s*[x×*]\s*(\d{3,4})(?!\d)")
_VERTICAL = re.compile(
    r"\bvertical\b|\bportrait\b|(?<![\d.])9\s*[:：比]\s*16(?!\d)|\breels?\b|\btiktok\b|\bshorts\b|竖屏|竖版|竖",
    re.I,
)
_SQUARE = re.compile(r"\bsquare\b|(?<![\d.])1\s*[:：比]\s*1(?![\d.])|方形|正方形", re.I)
_HORIZONTAL = re.compile(
    r"\bhorizontal\b|\blandscape\b|\bwidescreen\b|(?<![\d.])16\s*[:：比]\s*9(?!\d)|横屏|横版", re.I
)
_CAP_NOUN = r"(?:captions?|subtitles?|subs)\b(?!\s*files?\b)"
_CAPTIONS_OFF = re.compile(
    r"\b(?:no|without|remove|turn off|switch off|hide|disable|drop)\s+(?:the\s+|all\s+)?"
    rf"{_CAP_NOUN}|\b{_CAP_NOUN}\s+off\b|\b(?:turn|switch)\s+(?:the\s+)?{_CAP_NOUN}\s+off\b"
    r"|去掉字幕|关闭字幕|不要字幕"
    r"|(?:关掉|关上|隐藏|关|去除)字幕|字幕(?:关掉|关闭|关了|去掉|隐藏|不要了?)",
    re.I,
)
_CAPTIONS_ON = re.compile(
    r"(add|with|turn on|show|enable)\s+(the\s+)?(captions|subtitles)|\b(?:turn|switch)\s+on\s+"
    rf"(?:the\s+)?{_CAP_NOUN}|\b(?:turn|switch)\s+(?:the\s+)?{_CAP_NOUN}\s+(?:back\s+)?on\b"
    rf"|\b{_CAP_NOUN}\s+(?:back\s+)?on(?=\s*(?:$|[,，.!！;。]|(?:please|pls|again|now|too|and)\b))"
    r"|加字幕|添加字幕|打开字幕|字幕打开|显示字幕",
    re.I,
)
_BURN = re.compile(r"burn(ed)?[- ]?in|hard[- ]?(coded|sub)|烧录|硬字幕", re.I)
# Captions as a separate track the player shows or hides (not drawn into the picture).
_SOFT_TRACK = re.compile(
    r"\b(?:subtitle|caption)s?\s+track\b|\bsoft[- ]?(?:subtitles?|subs|captions?)\b|字幕轨|软字幕",
    re.I,
)
# Blanks before the mark stay on its line ([^\S\n], not \s): with \s a run of newlines was
# rescanned from every newline in it (58 KB of them took 16 s).
_SCRIPT_MARK = re.compile(r"(?:^|\n)[^\S\n]*(?:script|text|脚本|文案|台词)\s*[:：]\s*", re.I)
# The mark inside a line: "… voiceover in English for this script: Welcome to …" ("text" is not
# taken there: "caption text: bigger" is no script).
_INLINE_SCRIPT_MARK = re.compile(r"(?:\bscript|脚本|文案|台词)\s*[:：]\s*", re.I)
# A long quoted text ("read this: “...”"), found by one pass over the quote marks (a regex
# retried from every opening quote was quadratic: 30,000 “ took 4.7 s).
_OPEN_QUOTE = re.compile(r"[\"“]")
_CLOSE_QUOTE = re.compile(r"[\"”]")
_QUOTED_MIN = 12
# Quoted text meant for the screen is never a script, even when too long to be a title.
_ON_SCREEN = re.compile(
    r"\b(?:title|heading|headline|overlay|caption|subtitle|label|banner|on screen)\b|标题|字幕|文字",
    re.I,
)


@dataclass
class Intent:
    """What one message asks for. ``None`` fields were not mentioned."""

    voiceover: bool = False
    redo: bool = False
    gender: str | None = None
    language: str | None = None
    accent: str | None = None
    voice_name: str | None = None
    voice_trait: str | None = None  # "warm", "deep", ... (voice_phrases.TRAITS)
    same_voice: bool = False  # "the same voice as before": keep the current one
    list_voices: bool = False  # "voices", "/voices", "有哪些声音": the catalogue
    speed: float | None = None  # absolute factor, 1.0 = natural
    speed_change: float | None = None  # relative factor for "faster"/"slower"
    aspect: str | None = None  # "16:9" | "9:16" | "1:1"
    captions: bool | None = None
    burn_captions: bool | None = None
    script: str | None = None
    notes: list[str] = field(default_factory=list)
    edits: Edits = field(default_factory=Edits)

    @property
    def changes_voice(self) -> bool:
        return any(
            v is not None
            for v in (self.gender, self.language, self.accent, self.voice_name, self.voice_trait)
        )

    @property
    def changes_speed(self) -> bool:
        return self.speed is not None or self.speed_change is not None

    @property
    def understood(self) -> bool:
        return (
            self.voiceover
            or self.redo
            or self.changes_voice
            or self.changes_speed
            or self.aspect is not None
            or self.captions is not None
            or self.burn_captions is not None
            or self.script is not None
            or self.edits.any
        )


def _quoted(text: str) -> tuple[int, int] | None:
    """(start, end) of the first quoted run of at least _QUOTED_MIN characters: an opening " or “,
    then no " or ”, then a closing " or ” (what ``["“]([^"”]{12,})["”]`` means), in linear time."""
    closers = [m.start() for m in _CLOSE_QUOTE.finditer(text)]
    j = 0
    for m in _OPEN_QUOTE.finditer(text):
        p = m.start()
        while j < len(closers) and closers[j] <= p:
            j += 1
        if j == len(closers):
            return None
        if closers[j] - p - 1 >= _QUOTED_MIN:
            return p, closers[j] + 1
    return None


def split_script(text: str) -> tuple[str, str | None]:
    """Separate an inline script from the request: after 'script:' (at a line's start or inside
    it), in long quotes, or after the first line."""
    mark = _SCRIPT_MARK.search(text)
    if mark:
        return text[: mark.start()].strip(), text[mark.end() :].strip() or None
    inline = _INLINE_SCRIPT_MARK.search(text)
    if inline and text[inline.end() :].strip():
        return text[: inline.start()].strip(), text[inline.end() :].strip()
    quoted = _quoted(text)
    if quoted and not _ON_SCREEN.search(text[: quoted[0]]):
        start, end = quoted
        return (text[:start] + text[end:]).strip(), text[start + 1 : end - 1].strip()
    first, _, rest = text.partition("\n")
    if rest.strip() and len(rest.split()) >= 8 and len(first.split()) <= 25:
        return first.strip(), rest.strip()
    return text.strip(), None


# A request ("make it vertical", "use Joe, slower") is short; a script after 'script:' (or after
# the first line) may run to the words limit, at up to SCRIPT_CHARS_PER_WORD characters a word.
MAX_REQUEST_CHARS = 2_000
SCRIPT_CHARS_PER_WORD = 10


def read_turn(
    text: str, voice_names: list[str] | None, lang: str = "en", max_script_words: int = 20_000
) -> Intent:
    """Refuse a message too long to be a request (4005, before any parsing), then read it.

    Parsing is linear in the text; these limits keep one turn's work small as well."""
    max_script = max_script_words * SCRIPT_CHARS_PER_WORD
    request, script = _script_block(text) or (text, None)
    request = request.strip()
    if len(request) > MAX_REQUEST_CHARS:
        raise api_error(
            BAD_INPUT, "message_too_long", lang, chars=len(request), limit=MAX_REQUEST_CHARS
        )
    if script and len(script) > max_script:
        words = count_words(script)
        if words > max_script_words:
            raise api_error(BAD_INPUT, "huge_script", lang, words=words, limit=max_script_words)
        raise api_error(BAD_INPUT, "script_chars", lang, chars=len(script), limit=max_script)
    return parse(text, voice_names)


def _script_block(text: str) -> tuple[str, str | None] | None:
    """(request, script) when the message holds a script the request's phrases are not looked for
    in: after 'script:' at a line's start, or, in a message longer than any request, after an
    inline 'script:' or the first line. None: read the whole message (``split_script`` decides)."""
    if mark := _SCRIPT_MARK.search(text):
        return text[: mark.start()], text[mark.end() :].strip() or None
    if len(text) <= MAX_REQUEST_CHARS:
        return None
    inline = _INLINE_SCRIPT_MARK.search(text)
    if inline and text[inline.end() :].strip():
        return text[: inline.start()], text[inline.end() :].strip()
    first, _, rest = text.partition("\n")
    return first, rest.strip() if len(rest.split()) >= 8 else None


def parse(text: str, voice_names: list[str] | None = None) -> Intent:
    """Read one message. ``voice_names`` are the installed voices' names, matched as whole words.

    Linear in the text; the request's phrases are looked for before a script block only, so a
    20,000-word script costs one pass, not one per phrase."""
    block = _script_block(text)
    edits, rest = parse_edits(block[0] if block else text)
    request, script = (rest.strip(), block[1]) if block else split_script(rest)
    intent = Intent(script=script, edits=edits, notes=list(edits.notes))
    if script is None and not edits.titles and _ON_SCREEN.search(request) and _quoted(request):
        intent.notes.append("title_too_long")  # a quoted title past the length a title may have
    intent.voiceover = (
        bool(_VOICEOVER.search(request))
        or (bool(_GENERATE.search(request)) and not _MADE.search(request))
        or script is not None
    )
    intent.redo = bool(_REDO.search(request)) or (
        bool(_AGAIN.search(request)) and not _EDITED.search(request)
    )
    male, female = bool(_MALE.search(request)), bool(_FEMALE.search(request))
    if male != female:
        intent.gender = "male" if male else "female"
    for code, pattern in _LANGS.items():
        if pattern.search(request):
            intent.language = code
            break
    for accent, pattern in _ACCENTS.items():
        if pattern.search(request):
            intent.accent, intent.language = accent, "en"
            break
    if intent.accent is None and (other := other_accent(request)):
        intent.accent, intent.language = other, "en"
    intent.voice_trait, intent.same_voice = voice_trait(request), same_voice(request)
    intent.list_voices = asks_for_catalogue(text)
    for name in voice_names or []:
        if re.search(rf"\b{re.escape(name)}\b", request, re.I) or (
            not name.isascii() and name in request  # "用晓晓配音": no word boundary in CJK
        ):
            intent.voice_name = name
            break
    if size := _DIMENSIONS.search(request):
        request = request[: size.start()] + " " + request[size.end() :]
        _parse_size(int(size.group(1)), int(size.group(2)), intent)
    _parse_speed(request, intent)
    if _VERTICAL.search(request):
        intent.aspect = "9:16"
    elif _SQUARE.search(request):
        intent.aspect = "1:1"
    elif _HORIZONTAL.search(request):
        intent.aspect = "16:9"
    if _CAPTIONS_OFF.search(request):
        intent.captions = False
    elif _CAPTIONS_ON.search(request):
        intent.captions = True
    if _BURN.search(request):
        intent.burn_captions, intent.captions = True, True
    elif _SOFT_TRACK.search(request) and intent.captions is not False:
        intent.burn_captions, intent.captions = False, True
    return intent


def _parse_size(width: int, height: int, intent: Intent) -> None:
    """ "1080x1920": the aspect it has and, for 720 or 1080 on the short side, the resolution."""
    for aspect, (w, h) in (("9:16", (9, 16)), ("16:9", (16, 9)), ("1:1", (1, 1))):
        if width * h == height * w:
            intent.aspect = aspect
    if min(width, height) in (720, 1080) and intent.edits.resolution is None:
        intent.edits.resolution = min(width, height)
    elif min(width, height) > 1080 and "resolution_unsupported" not in intent.notes:
        intent.notes.append("resolution_unsupported")


def _parse_speed(request: str, intent: Intent) -> None:
    rate = _RATE.search(request) or _SPEED_SET.search(request)
    if rate:
        value = float(rate.group(1))
        if rate.re is _SPEED_SET and rate.group(2):  # "speed 120%"
            value /= 100
        if 0.5 <= value <= 2.0:
            intent.speed = value
        else:
            intent.notes.append("speed_out_of_range")
    elif _FASTER.search(request):
        intent.speed_change = 1.15
    elif _SLOWER.search(request):
        intent.speed_change = 1 / 1.15
