"""Word-timed captions: karaoke ASS for libass burn-in, SRT/VTT sidecars with the same phrases.

User text goes into subtitle formats that have their own markup ({\\tags}, \\N, <b>), so every
writer escapes it: a caption can never restyle or move itself.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.core.types import CaptionStyle, Sentence, TextOverlay, Word
from backend.media.fonts import BUNDLED_DIR

FONTS_DIR = BUNDLED_DIR
FONT_FILE = FONTS_DIR / "DejaVuSans-Bold.ttf"

_WJ = "\u2060"  # word joiner: invisible, breaks "\N" / "{\" sequences without changing the look
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SIZES = {"small": 0.045, "medium": 0.06, "large": 0.078}
_ALIGN = {"bottom": 2, "middle": 5, "top": 8}
_HIGHLIGHT = "&H0000D7FF&"  # gold (ASS colours are &HBBGGRR)
_TITLE_SIZES = {"small": 0.06, "medium": 0.085, "large": 0.11}
_TITLE_ALIGN = {"bottom": 2, "center": 5, "middle": 5, "top": 8}


@dataclass(frozen=True)
class Phrase:
    """A caption line: a few consecutive words shown together."""

    words: tuple[Word, ...]

    @property
    def start_ms(self) -> int:
        return self.words[0].start_ms

    @property
    def end_ms(self) -> int:
        return max(self.words[-1].end_ms, self.words[0].start_ms + 1)

    @property
    def text(self) -> str:
        return join_words([w.text for w in self.words])


def join_words(words: Sequence[str]) -> str:
    """Join with spaces, except between CJK characters."""
    out = ""
    for w in words:
        if out and not (_CJK_RE.search(out[-1]) and _CJK_RE.match(w)):
            out += " "
        out += w
    return out


def _width(text: str) -> int:
    """Display width in Latin characters: a CJK character is about two wide."""
    return len(text) + len(_CJK_RE.findall(text))


def _word_count(words: Sequence[Word]) -> int:
    """Words for the per-line limit; CJK characters (one "word" each) are bounded by width instead."""
    return sum(1 for w in words if not _CJK_RE.fullmatch(w.text.strip("，。、；：！？,.;:!?")))


def layout(width: int, height: int) -> tuple[int, int]:
    """(max words, max characters) per caption line for an output size."""
    if height > width:  # vertical: a narrow column
        return 5, 24
    return 7, 42


def _sentence_words(sentence: Sentence) -> tuple[Word, ...]:
    """The sentence's words, or its text spread over its time span when there are none."""
    if sentence.words:
        return tuple(w for w in sentence.words if w.text.strip())
    tokens = sentence.text.split()
    if len(tokens) == 1 and _CJK_RE.search(tokens[0]):
        tokens = list(tokens[0])
    if not tokens:
        return ()
    span = max(sentence.end_ms - sentence.start_ms, len(tokens))
    weights = [len(t) + 1 for t in tokens]
    total = sum(weights)
    words = []
    pos = float(sentence.start_ms)
    for token, weight in zip(tokens, weights, strict=True):
        nxt = pos + span * weight / total
        words.append(Word(token, int(pos), int(nxt)))
        pos = nxt
    return tuple(words)


def phrases(sentences: Sequence[Sentence], max_words: int = 7, max_chars: int = 42) -> list[Phrase]:
    """Split sentences into caption lines; prefer breaking after commas, avoid one-word orphans."""
    out: list[Phrase] = []
    for sentence in sentences:
        words = _sentence_words(sentence)
        lines: list[list[Word]] = []
        cur: list[Word] = []
        for word in words:
            if cur and (
                _word_count(cur) >= max_words
                or _width(join_words([*(w.text for w in cur), word.text])) > max_chars
            ):
                lines.append(cur)
                cur = []
            cur.append(word)
            if len(cur) >= max(3, max_words // 2) and word.text[-1:] in ",;:，、；：":
                lines.append(cur)
                cur = []
        if cur:
            lines.append(cur)
        if len(lines) >= 2 and len(lines[-1]) == 1 and len(lines[-2]) > 2:
            lines[-1].insert(0, lines[-2].pop())  # no single-word last line
        out.extend(Phrase(tuple(line)) for line in lines if line)
    return out


# ---------------------------------------------------------------------------------------------
# Escaping


def ass_escape(text: str) -> str:
    """User text as literal ASS dialogue text: no override blocks, no \\N / \\n / \\h escapes."""
    text = re.sub(r"[\r\n\t\v\f]+", " ", text)
    text = text.replace("\\", "\\" + _WJ)
    return text.replace("{", "\\{").replace("}", "\\}")


def plain_escape(text: str) -> str:
    """SRT text that players and ffmpeg's SRT reader show literally (no {\\tags}, no \\N)."""
    text = re.sub(r"[\r\n\t\v\f]+", " ", text)
    return text.replace("\\", "\\" + _WJ).replace("{", "{" + _WJ)


def vtt_escape(text: str) -> str:
    text = plain_escape(text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------------------------------
# Writers


def _ass_time(ms: int) -> str:
    cs = max(ms, 0) // 10
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def _srt_time(ms: int, sep: str = ",") -> str:
    ms = max(ms, 0)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}{sep}{ms % 1000:03d}"


def _atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def font_size(style: CaptionStyle, width: int, height: int) -> int:
    return max(12, round(min(width, height) * _SIZES.get(style.size, _SIZES["medium"])))


def ass_document(
    sentences: Sequence[Sentence],
    style: CaptionStyle,
    width: int,
    height: int,
    font_name: str = "DejaVu Sans",
    titles: Sequence[TextOverlay] = (),
) -> str:
    """The ASS text: one event per spoken word showing its phrase with that word highlighted,
    plus one event per title (large, bold, on a translucent box so it reads on any picture)."""
    size = font_size(style, width, height)
    align = _ALIGN.get(style.position, 2)
    margin_v = round(height * 0.08)
    margin_h = round(width * 0.06)
    outline = max(2, round(size * 0.07))
    # No shadow: its translucent black is the one part of the style the overlay path of
    # backend.media.burn cannot draw exactly; the outline alone keeps the words readable.
    font = re.sub(r"[,\r\n{}\\]", " ", font_name).strip() or "DejaVu Sans"
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {width}",
        f"PlayResY: {height}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
        "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
        "Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
        f"Style: Caption,{font},{size},&H00FFFFFF,&H0000D7FF,&H00101010,&H96000000,-1,0,0,0,"
        f"100,100,0,0,1,{outline},0,{align},{margin_h},{margin_h},{margin_v},1",
        *(_title_style(f"Title{i}", t, font, width, height) for i, t in enumerate(titles)),
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for start, end, words, k in _karaoke_events(sentences, width, height):
        text = ""
        for i, w in enumerate(words):
            if i and not (_CJK_RE.search(words[i - 1].text[-1:]) and _CJK_RE.match(w.text)):
                text += " "  # spacing decided on the words themselves, as join_words does
            part = ass_escape(w.text)
            text += f"{{\\c{_HIGHLIGHT}}}{part}{{\\r}}" if i == k else part
        lines.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},Caption,,0,0,0,,{text}")
    for i, title in enumerate(titles):
        shown = f"{_ass_time(title.start_ms)},{_ass_time(title.end_ms)}"
        text = ass_escape(title.text).strip()
        lines.append(f"Dialogue: 1,{shown},Title{i},,0,0,0,,{text}")
    return "\n".join(lines) + "\n"


def _title_style(name: str, title: TextOverlay, font: str, width: int, height: int) -> str:
    """A bold title style: opaque-box border (BorderStyle 3) in translucent black."""
    size = max(16, round(min(width, height) * _TITLE_SIZES.get(title.size, 0.11)))
    align = _TITLE_ALIGN.get(title.position, 5)
    pad = max(4, round(size * 0.18))
    margin_h, margin_v = round(width * 0.06), round(height * 0.1)
    return (
        f"Style: {name},{font},{size},&H00FFFFFF,&H00FFFFFF,&H50000000,&H80000000,-1,0,0,0,"
        f"100,100,0,0,3,{pad},0,{align},{margin_h},{margin_h},{margin_v},1"
    )


def overlay_times(titles: Sequence[TextOverlay]) -> list[int]:
    """When titles appear and disappear (a still background needs new frames there)."""
    return sorted({t for title in titles for t in (title.start_ms, title.end_ms)})


def _karaoke_events(
    sentences: Sequence[Sentence], width: int, height: int
) -> Iterator[tuple[int, int, tuple[Word, ...], int]]:
    """(start ms, end ms, phrase words, highlighted index) for every caption event."""
    for phrase in phrases(sentences, *layout(width, height)):
        words = phrase.words
        for k, word in enumerate(words):
            start = phrase.start_ms if k == 0 else word.start_ms
            end = words[k + 1].start_ms if k + 1 < len(words) else phrase.end_ms
            if end // 10 > start // 10:
                yield start // 10 * 10, end // 10 * 10, words, k


def change_times(sentences: Sequence[Sentence], width: int, height: int) -> list[int]:
    """Every time (ms) at which the burned-in captions change, so a still background needs a
    new video frame only there."""
    times: set[int] = set()
    for start, end, _words, _k in _karaoke_events(sentences, width, height):
        times.update((start, end))
    return sorted(times)


def write_ass(
    sentences: Sequence[Sentence],
    style: CaptionStyle,
    width: int,
    height: int,
    out_path: Path,
    font_name: str = "DejaVu Sans",
    titles: Sequence[TextOverlay] = (),
) -> None:
    """Karaoke-style captions (and titles) for libass; use with fontsdir=FONTS_DIR."""
    _atomic_write(out_path, ass_document(sentences, style, width, height, font_name, titles))


def timed_phrases(
    sentences: Sequence[Sentence], width: int, height: int, end_ms: int | None = None
) -> list[tuple[int, int, str]]:
    """(start, end, text) of each caption line as burned in, cut at end_ms (a trimmed output)."""
    out = []
    for phrase in phrases(sentences, *layout(width, height)):
        start, end = phrase.start_ms, phrase.end_ms
        if end_ms is not None:
            if start >= end_ms:
                break
            end = min(end, end_ms)
        out.append((start, end, phrase.text))
    return out


def write_srt(
    sentences: Sequence[Sentence],
    out_path: Path,
    width: int = 1920,
    height: int = 1080,
    end_ms: int | None = None,
) -> None:
    """SRT sidecar (also the source of soft mov_text subtitles) with the ASS phrase timing."""
    blocks = []
    for n, (start, end, text) in enumerate(timed_phrases(sentences, width, height, end_ms), 1):
        blocks.append(f"{n}\n{_srt_time(start)} --> {_srt_time(end)}\n{plain_escape(text)}\n")
    _atomic_write(out_path, "\n".join(blocks))


def write_vtt(
    sentences: Sequence[Sentence],
    out_path: Path,
    width: int = 1920,
    height: int = 1080,
    end_ms: int | None = None,
) -> None:
    """WebVTT sidecar with the ASS phrase timing."""
    blocks = ["WEBVTT\n"]
    for start, end, text in timed_phrases(sentences, width, height, end_ms):
        blocks.append(f"{_srt_time(start, '.')} --> {_srt_time(end, '.')}\n{vtt_escape(text)}\n")
    _atomic_write(out_path, "\n".join(blocks))
