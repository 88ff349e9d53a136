"""Timed scripts: ``[00:05] text`` lines and SRT/WebVTT files turned into cues.

Parsing only (no I/O). Cues come back sorted by start time; input that cannot mean anything
(a minute of 75 seconds, a cue that ends before it starts, no cues at all) raises ValueError with
a message that can be shown to the person who wrote the script.
"""

from __future__ import annotations

import html
import re

from backend.core.types import Cue

__all__ = ["format_time", "parse_cues", "parse_srt"]

_MAX_MS = 24 * 3600 * 1000
_TIME = r"(?:\d{1,2}:)?\d{1,3}:\d{1,2}(?:[.,]\d{1,3})?"
# A bracketed stamp anywhere: "[00:05]", "(0:05.5)", "[01:02:03]".
_BRACKETED = re.compile(r"[\[(]\s*(" + _TIME + r")\s*[\])]\s*(?:[-–—:|]\s*)?")
# A bare stamp at the start of a line: "00:05 - text", "00:05 text".
_BARE = re.compile(r"^\s*(" + _TIME + r")(\s*[-–—|:]\s+|\s+)(?=\S)")
_SRT_TIME = r"(?:\d{1,3}:)?\d{1,2}:\d{1,2}[.,]\d{1,3}"
_ARROW = re.compile(r"^\s*(" + _SRT_TIME + r")\s*-->\s*(" + _SRT_TIME + r")(?:\s.*)?$")
_TAG = re.compile(r"<[^>]{0,200}>|\{\\[^}]{0,200}\}")


def format_time(ms: int) -> str:
    """00:05 / 01:02:03.5 style, for messages."""
    s, rest = divmod(max(ms, 0), 1000)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    frac = f".{rest // 100}" if rest else ""
    return f"{h:02d}:{m:02d}:{s:02d}{frac}" if h else f"{m:02d}:{s:02d}{frac}"


def _to_ms(stamp: str) -> int:
    """'1:02:03.5' -> ms. Minutes/seconds of 60 or more (below the top field) are nonsense."""
    stamp = stamp.strip().replace(",", ".")
    main, _, frac = stamp.partition(".")
    fields = [int(f) for f in main.split(":")]
    if len(fields) == 3:
        h, m, s = fields
        if m >= 60:
            raise ValueError(f"'{stamp}' is not a valid time: minutes must be below 60.")
    else:
        h, (m, s) = 0, fields
    if s >= 60:
        raise ValueError(f"'{stamp}' is not a valid time: seconds must be below 60.")
    ms = ((h * 60 + m) * 60 + s) * 1000 + (int((frac + "00")[:3]) if frac else 0)
    if ms > _MAX_MS:
        raise ValueError(f"'{stamp}' is longer than 24 hours.")
    return ms


def _clean_text(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub("", text))).strip()


def parse_cues(text: str) -> list[Cue] | None:
    """Cues of a script whose lines start with timestamps; None when the text has none.

    Lines without a timestamp continue the cue above. A timestamp with no text ends the previous
    cue there (an explicit slot end). Text before the first timestamp is spoken at 00:00.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    bare_lines = sum(1 for ln in lines if _BARE.match(ln))
    # (ms, stamp as written, pieces of text): the pieces are joined once at the end (adding to
    # one string line by line was quadratic in a cue of many lines)
    marks: list[tuple[int, str, list[str]]] = []
    leading: list[str] = []

    def add_text(piece: str) -> None:
        (marks[-1][2] if marks else leading).append(piece)

    for line in lines:
        bare = _BARE.match(line)
        if bare and (bare.group(2).strip() or bare_lines >= 2):
            marks.append((_to_ms(bare.group(1)), bare.group(1), []))
            line = line[bare.end() :]
        pos = 0
        for match in _BRACKETED.finditer(line):
            add_text(line[pos : match.start()])
            marks.append((_to_ms(match.group(1)), match.group(1), []))
            pos = match.end()
        add_text(line[pos:])
    if not marks:
        return None
    lead = _clean_text(" ".join(leading))
    ordered = [  # stable: equal times keep their order
        (ms, stamp, " ".join(["", *body])) for ms, stamp, body in sorted(marks, key=lambda m: m[0])
    ]
    if lead:
        if ordered[0][0] > 0:
            ordered.insert(0, (0, "00:00", lead))
        else:
            first = ordered[0]
            ordered[0] = (first[0], first[1], lead + " " + first[2])
    cues: list[Cue] = []
    for ms, stamp, raw in ordered:
        body = _clean_text(raw)
        if cues and cues[-1].start_ms == ms and body:
            raise ValueError(
                f"Two lines start at the same time ({stamp}): give each line its own time."
            )
        if not body:  # an empty stamp closes the previous cue
            if cues and cues[-1].end_ms is None and ms > cues[-1].start_ms:
                last = cues[-1]
                cues[-1] = Cue(last.text, last.start_ms, ms)
            continue
        if cues and cues[-1].end_ms is not None and cues[-1].end_ms > ms:
            last = cues[-1]
            cues[-1] = Cue(last.text, last.start_ms, ms)
        cues.append(Cue(body, ms))
    if not cues:
        raise ValueError("The timestamps have no text after them: write each line after its time.")
    return cues


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT or WebVTT file (start and end), sorted; overlaps are cut at the next start."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    blocks = re.split(r"\n\s*\n", text.strip())
    raw: list[Cue] = []
    for number, block in enumerate(blocks, start=1):
        lines = [ln for ln in block.split("\n") if ln.strip()]
        if not lines:
            continue
        head = lines[0].strip()
        if head.startswith("WEBVTT") or head.split(" ")[0] in {"NOTE", "STYLE", "REGION"}:
            continue
        idx = next((i for i, ln in enumerate(lines[:3]) if "-->" in ln), None)
        if idx is None:
            raise ValueError(
                f"Subtitle block {number} has no time line like '00:00:01,000 --> 00:00:03,000'."
            )
        match = _ARROW.match(lines[idx])
        if match is None:
            raise ValueError(f"Subtitle block {number} has a garbled time line: {lines[idx]!r}.")
        start, end = _to_ms(match.group(1)), _to_ms(match.group(2))
        if end <= start:
            raise ValueError(
                f"Subtitle block {number} ends before it starts "
                f"({format_time(start)} --> {format_time(end)})."
            )
        body = _clean_text(" ".join(lines[idx + 1 :]))
        if body:
            raw.append(Cue(body, start, end))
    if not raw:
        raise ValueError("No subtitle cues were found in the file.")
    raw.sort(key=lambda c: c.start_ms)
    cues: list[Cue] = []
    for cue in raw:
        if cues and cue.start_ms == cues[-1].start_ms:  # same start: one cue, text joined
            last = cues[-1]
            cues[-1] = Cue(
                f"{last.text} {cue.text}", last.start_ms, max(last.end_ms or 0, cue.end_ms or 0)
            )
            continue
        if cues and (cues[-1].end_ms or 0) > cue.start_ms:
            last = cues[-1]
            cues[-1] = Cue(last.text, last.start_ms, cue.start_ms)
        cues.append(cue)
    return cues
