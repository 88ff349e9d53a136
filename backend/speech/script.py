"""Script text: sentence splitting, pause markers, caption words, pronunciations, length estimates.

Pure text work, no audio: the synthesizer and the cost estimate both read scripts through here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

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
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    token = text[start:dot].lstrip("\"'([“‘«").lower()
    rest = text[dot + 1 :].lstrip(_CLOSERS + " ")
    nxt = rest[:1]
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
    joined = ""
    for i, line in enumerate(lines):
        joined += line
        if i + 1 < len(lines):
            nxt = lines[i + 1][:1]
            if line[-1] not in _LATIN_STOPS + _CJK_STOPS + ",;:-" and (
                nxt.isupper() or nxt.isdigit() or _CJK_RE.match(nxt)
            ):
                joined += "\n"
            else:
                joined += " "
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


def _speech_s(text: str) -> float:
    cjk = len(_CJK_RE.findall(text))
    words = len(re.findall(r"\w+", _CJK_RE.sub(" ", text)))
    return words / _WORDS_PER_S + cjk / _CJK_CHARS_PER_S


def bound_sentence(sentence: str) -> list[str]:
    """`sentence` in pieces of at most MAX_SENTENCE_S of speech: cut after the last comma (or
    semicolon, colon, dash) that keeps the first piece under the bound, else between words."""
    if _speech_s(sentence) <= MAX_SENTENCE_S:
        return [sentence]
    # the longest prefix within the bound, in characters
    lo, hi = 1, len(sentence)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _speech_s(sentence[:mid]) <= MAX_SENTENCE_S:
            lo = mid
        else:
            hi = mid - 1
    limit = max(lo, 1)
    cut = max((sentence.rfind(c, 0, limit) for c in _BREAKS), default=-1) + 1
    if cut < limit // 3:  # no break late enough: between words (or CJK characters)
        space = sentence.rfind(" ", 0, limit)
        cut = space if space > limit // 3 else limit
    head, tail = sentence[:cut].strip(), sentence[cut:].strip()
    if not tail:
        return [head]
    return [head, *bound_sentence(tail)] if head else bound_sentence(tail)


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
    """A cheap upper-ish estimate of the speech length, used to freeze credits before synthesis."""
    speed = max(0.25, min(speed, 4.0))
    total = 0.0
    sentences = 0
    for item in parse_script(text):
        if not item.text:
            total += item.pause_ms
            continue
        cjk = len(_CJK_RE.findall(item.text))
        words = len(re.findall(r"\w+", _CJK_RE.sub(" ", item.text)))
        total += (words / _WORDS_PER_S + cjk / _CJK_CHARS_PER_S) * 1000 / speed
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
    """Text as handed to Piper: user pronunciations, then titles espeak would split on."""
    text = _apply_pronunciations(text, pronunciations)
    for title, full in _TITLES.items():
        text = re.sub(r"(?<!\w)" + title + r"\.(?=\s)", full, text, flags=re.I)
    return text
