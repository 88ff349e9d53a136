"""Script text: sentence splitting, pause markers, caption words, pronunciations, length estimates.

Pure text work, no audio: the synthesizer and the cost estimate both read scripts through here.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from backend.speech import zh_numbers, zh_readings

SENTENCE_GAP_MS = 250
PARAGRAPH_GAP_MS = 600

_WORDS_PER_S = 3.0  # Joe speaks ~3.4 words/s: the estimate stays a little high, as a freeze should
_CJK_CHARS_PER_S = 4.5
_PAUSE_RE = re.compile(
    r"\[\s*(?:pause|停顿|暂停)\s*[:：]?\s*(?:(\d+(?:\.\d+)?)\s*(ms|毫秒|s|secs?|seconds?|秒)?)?\s*\]",
    re.I,
)
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_CJK_STOPS = "。！？"
_LATIN_STOPS = ".!?…"
_CLOSERS = "\"')]}”’»」』"
_BULLET_RE = re.compile(r"^\s*(?:[-*•·]|\d{1,3}[.)])\s+")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
_TITLES = {"mr": "Mister", "mrs": "Missus", "ms": "Miz", "dr": "Doctor", "prof": "Professor"}
_ALWAYS_ABBREV = {*_TITLES, "st", "mt", "e.g", "i.e", "vs", "cf", "approx", "no", "fig", "jr", "sr"}
_ABBREV_SCAN = 12  # longer than any abbreviation ("approx", "e.g")
_LOWER_ABBREV = {"etc", "a.m", "p.m", "inc", "ltd", "co", "corp", "u.s", "u.k", "jan", "feb", "aug"}


@dataclass(frozen=True)
class ScriptItem:
    """One sentence to speak (text set) or an explicit silence (pause_ms set)."""

    text: str = ""
    pause_ms: int = 0
    paragraph_start: bool = False


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CTRL_RE.sub("", text).replace("\t", " ")


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the '.' at `dot` ends an abbreviation/initial rather than a sentence."""
    start = dot
    # Linear: a token longer than any abbreviation is not one, so look back a bounded distance.
    while start > 0 and dot - start <= _ABBREV_SCAN and not text[start - 1].isspace():
        start -= 1
    token = text[start:dot].lstrip("\"'([“‘«").lower()
    after = dot + 1
    while after < len(text) and (text[after] in _CLOSERS or text[after] == " "):
        after += 1
    nxt = text[after : after + 1]
    if token in _ALWAYS_ABBREV:
        return True
    if len(token) == 1 and token.isalpha():  # initials: "J. K. Rowling"
        return True
    if token in _LOWER_ABBREV and (not nxt or nxt.islower() or nxt.isdigit()):
        return True
    return bool(nxt) and (nxt.islower() or nxt in ",;:")


def split_sentences(text: str) -> list[str]:
    """Split one paragraph (no blank lines) into sentences."""
    lines = [_BULLET_RE.sub("", ln).strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    # A line break ends a sentence when the next line looks like a new one (titles, lists).
    parts: list[str] = []
    for i, line in enumerate(lines):
        parts.append(line)
        if i + 1 < len(lines):
            nxt = lines[i + 1][:1]
            if line[-1] not in _LATIN_STOPS + _CJK_STOPS + ",;:-" and (
                nxt.isupper() or nxt.isdigit() or _CJK_RE.match(nxt)
            ):
                parts.append("\n")
            else:
                parts.append(" ")
    joined = "".join(parts)
    sentences: list[str] = []
    start = 0
    i = 0
    n = len(joined)
    while i < n:
        ch = joined[i]
        end: int | None = None
        if ch in _CJK_STOPS:
            end = i + 1
        elif ch == "\n":
            end = i
        elif ch in _LATIN_STOPS:
            j = i
            while j + 1 < n and joined[j + 1] in _LATIN_STOPS:
                j += 1
            k = j + 1
            while k < n and joined[k] in _CLOSERS:
                k += 1
            if k >= n or joined[k].isspace():
                if not (ch == "." and j == i and _is_abbreviation(joined, i)):
                    end = k
            i = j
        if end is not None:
            while end < n and joined[end] in _CLOSERS:
                end += 1
            sentences.append(joined[start:end])
            start = end
            i = max(end, i + 1)
            continue
        i += 1
    sentences.append(joined[start:])
    out = [re.sub(r"\s+", " ", s).strip() for s in sentences]
    return [piece for s in out if re.search(r"\w", s) for piece in bound_sentence(s)]


# Piper's memory grows with the length of what it speaks at once (about 9 MB a word): a script
# with no full stops would be one huge sentence. Sentences are cut to about 9 s of speech.
MAX_SENTENCE_S = 9.0
_BREAKS = ",;:，、；：—–"
# How long things take to say, per character (measured with Joe, kept on the high side: this also
# freezes credits before synthesis). A word is at least _MIN_WORD_S; lower-case letters go at
# about 14 a second (long words too: "internationalization" is not one third of a second); an
# acronym is spelled out; a number of three digits or more is read as "one million two hundred
# ..."; an emoji is read by its name ("slightly smiling face"); a symbol is a word ("percent").
_MIN_WORD_S = 1 / _WORDS_PER_S
_LETTER_S = 1 / 14
_CAPS_LETTER_S = 0.25
_DIGIT_S, _SHORT_NUMBER_DIGIT_S = 0.5, 0.2
_EMOJI_S = 1.2
_SYMBOL_S = 0.5
_INNER_PUNCT_S = 0.3  # "example.com": "dot"
_SILENT = set(".,;:!?'\"()[]{}-–—…“”‘’«»「」『』、。，！？；：·")
_LETTER_RUN = re.compile(
    r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+"
)
_DIGIT_RUN = re.compile(r"\d+")


def _char_costs(text: str) -> list[float]:
    """Seconds of speech each character stands for (see the rates above). Linear in the text."""
    n = len(text)
    cost: list[float | None] = [None] * n
    for m in _CJK_RE.finditer(text):
        cost[m.start()] = 1 / _CJK_CHARS_PER_S
    for m in _LETTER_RUN.finditer(text):
        run = m.group()
        each = _CAPS_LETTER_S if len(run) >= 2 and run.isupper() else _LETTER_S
        for i in range(m.start(), m.end()):
            cost[i] = each
    for m in _DIGIT_RUN.finditer(text):
        each = _DIGIT_S if m.end() - m.start() >= 3 else _SHORT_NUMBER_DIGIT_S
        for i in range(m.start(), m.end()):
            cost[i] = each
    out = [0.0] * n
    for i, ch in enumerate(text):
        c = cost[i]
        if c is None:
            if ch.isspace():
                c = 0.0
            elif ch in _SILENT:
                inner = 0 < i < n - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
                c = _INNER_PUNCT_S if inner else 0.0
            else:
                category = unicodedata.category(ch)
                c = (
                    _EMOJI_S
                    if category == "So"
                    else 0.0
                    if category[0] in "MC" or ch == "_"
                    else _SYMBOL_S
                )
        out[i] = c
    return out


def _cumulative_s(text: str) -> list[float]:
    """cum[i]: estimated seconds of speech of text[:i] (non-decreasing, len(text) + 1 entries).
    A word (a run between spaces holding a letter or digit) counts at least _MIN_WORD_S."""
    costs = _char_costs(text)
    cum = [0.0] * (len(text) + 1)
    total = word_start = 0.0
    has_word = False
    for i, ch in enumerate(text):
        if ch.isspace() or _CJK_RE.match(ch):
            if has_word and total - word_start < _MIN_WORD_S:
                total = word_start + _MIN_WORD_S
            has_word = False
            total += costs[i]
            word_start = total
        else:
            has_word = has_word or ch.isalnum()
            total += costs[i]
        cum[i + 1] = total
    if has_word and total - word_start < _MIN_WORD_S:
        cum[-1] = word_start + _MIN_WORD_S
    return cum


def _speech_s(text: str) -> float:
    return _cumulative_s(text)[-1]


def bound_sentence(sentence: str) -> list[str]:
    """`sentence` in pieces of at most MAX_SENTENCE_S of speech: cut after the last comma (or
    semicolon, colon, dash) that keeps the piece under the bound, else between words, else
    (a run with no space, like a 6,000-letter "word") at the bound. Linear in the sentence."""
    cum = _cumulative_s(sentence)
    if cum[-1] <= MAX_SENTENCE_S:
        return [sentence]
    pieces: list[str] = []
    n = len(sentence)
    start = 0
    while start < n:
        while start < n and sentence[start].isspace():
            start += 1
        if start >= n:
            break
        if cum[n] - cum[start] <= MAX_SENTENCE_S:
            pieces.append(sentence[start:].strip())
            break
        # the longest piece within the bound, in characters (at least one)
        limit = max(bisect.bisect_right(cum, cum[start] + MAX_SENTENCE_S, start) - 1, start + 1)
        third = start + (limit - start) // 3
        cut = max(sentence.rfind(c, start, limit) for c in _BREAKS) + 1
        if cut < third:  # no break late enough: between words (or CJK characters)
            space = sentence.rfind(" ", start, limit)
            cut = space if space > third else limit
        head = sentence[start:cut].strip()
        if head:
            pieces.append(head)
        start = cut
    return pieces


# Longer than any word (German compounds, chemical names stay under it): a run of letters and
# digits this long with no space is not something to read out (a 6,000-letter "word" took 1.6 GB).
MAX_WORD_CHARS = 100
_WORD_CHARS = r"A-Za-z0-9\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff"
_OVERLONG_WORD = re.compile(rf"(?<![{_WORD_CHARS}])[{_WORD_CHARS}]{{{MAX_WORD_CHARS + 1},}}")


def overlong_word(text: str) -> str | None:
    """The first run of letters/digits (Latin, Greek, Cyrillic) longer than MAX_WORD_CHARS, if any."""
    m = _OVERLONG_WORD.search(text)
    return m.group() if m else None


def parse_script(text: str) -> list[ScriptItem]:
    """Sentences and explicit pauses, in order. Blank lines separate paragraphs."""
    items: list[ScriptItem] = []
    for paragraph in re.split(r"\n\s*\n", _clean(text)):
        first = True
        pos = 0
        for match in [*_PAUSE_RE.finditer(paragraph), None]:
            chunk = paragraph[pos : match.start() if match else len(paragraph)]
            for sentence in split_sentences(chunk):
                items.append(ScriptItem(text=sentence, paragraph_start=first))
                first = False
            if match is None:
                break
            value = float(match.group(1) or 0.5)
            unit = (match.group(2) or "s").lower()
            ms = value if unit in ("ms", "毫秒") else value * 1000
            items.append(ScriptItem(pause_ms=int(min(ms, 30_000))))
            pos = match.end()
    return items


def caption_words(sentence: str) -> list[str]:
    """The words shown in captions: whitespace tokens, CJK split per character, punctuation glued."""
    words: list[str] = []
    for token in sentence.split():
        pieces: list[str] = []
        buf = ""
        for ch in token:
            if _CJK_RE.match(ch):
                if buf:
                    pieces.append(buf)
                buf = ""
                pieces.append(ch)
            elif pieces and not buf and not re.match(r"\w", ch):
                pieces[-1] += ch  # CJK punctuation sticks to the previous character
            else:
                buf += ch
        if buf:
            pieces.append(buf)
        for piece in pieces:
            if re.search(r"\w", piece) or not words:
                words.append(piece)
            else:
                words[-1] += piece if _CJK_RE.search(words[-1]) else " " + piece
    if words and not re.search(r"\w", words[0]) and len(words) > 1:
        words[1] = words[0] + " " + words[1]
        words.pop(0)
    return words


_KANA_RE = re.compile(r"[\u3040-\u30ff]")
_HANGUL_RE = re.compile(r"[\uac00-\ud7af]")


def script_language(text: str) -> str | None:
    """ "zh", "ja" or "ko" when the script is mostly written in that script, else None. Only what a
    voice of another language cannot read at all is detected: an English voice reads German
    badly, but it reads Chinese characters out as "Chinese letter", one by one."""
    cjk = len(_CJK_RE.findall(text))
    latin = len(re.findall(r"[A-Za-z\u00c0-\u024f]", text))
    if cjk == 0 or cjk * 2 < latin:  # a CJK character carries a word, a Latin letter a fraction
        return None
    if len(_HANGUL_RE.findall(text)) * 2 >= cjk:
        return "ko"
    if _KANA_RE.search(text):
        return "ja"
    return "zh"


def estimate_duration_ms(text: str, speed: float = 1.0) -> int:
    """An upper-ish estimate of the speech length, used to freeze credits before synthesis: by
    letters, digits and symbols, not by words (a 3,000-letter "word" is long)."""
    speed = max(0.25, min(speed, 4.0))
    total = 0.0
    sentences = 0
    for item in parse_script(text):
        if not item.text:
            total += item.pause_ms
            continue
        total += _speech_s(item.text) * 1000 / speed
        total += (PARAGRAPH_GAP_MS if item.paragraph_start else SENTENCE_GAP_MS) if sentences else 0
        sentences += 1
    return int(total)


def _literal(value: str) -> Callable[[re.Match[str]], str]:
    """A re.sub replacement that never interprets backslashes in user-given pronunciations."""
    return lambda _match: value


def _apply_pronunciations(text: str, pronunciations: dict[str, str] | None) -> str:
    if pronunciations:
        for key in sorted(pronunciations, key=len, reverse=True):
            if key.strip():
                pattern = r"(?<!\w)" + re.escape(key.strip()) + r"(?!\w)"
                text = re.sub(pattern, _literal(pronunciations[key]), text, flags=re.I)
    return text


def spoken_text(text: str, pronunciations: dict[str, str] | None) -> str:
    """Text as handed to the voice: user pronunciations, then titles espeak would split on, then
    numbers, the particles 地/得, 长 "long" and 还 "give back" in Chinese text in the forms the
    Mandarin G2P reads right (the tones of 一/不 and 得 "must" are set in the G2P: zh_tones)."""
    text = _apply_pronunciations(text, pronunciations)
    for title, full in _TITLES.items():
        text = re.sub(r"(?<!\w)" + title + r"\.(?=\s)", full, text, flags=re.I)
    return zh_readings.normalize(zh_numbers.normalize(text))
