"""Timed scripts and subtitle files -> cues (pure parsing, no I/O)."""

from __future__ import annotations

import pytest

from backend.core.types import Cue
from backend.speech.cues import parse_cues, parse_srt


def test_timestamped_lines() -> None:
    assert parse_cues("[00:00] First line.\n[00:05] Second line.\n[00:09] Third.") == [
        Cue("First line.", 0),
        Cue("Second line.", 5000),
        Cue("Third.", 9000),
    ]
    assert parse_cues("[0:05.5] Half.\n[01:02:03] Later.") == [
        Cue("Half.", 5500),
        Cue("Later.", 3723000),
    ]
    assert parse_cues("00:05 - Bare stamp.\n00:08 - Another.") == [
        Cue("Bare stamp.", 5000),
        Cue("Another.", 8000),
    ]
    # Several stamps on one line, a continuation line, an empty stamp that ends the last cue.
    assert parse_cues("[00:00] One. [00:03] Two\ncontinues here.\n[00:06]") == [
        Cue("One.", 0),
        Cue("Two continues here.", 3000, 6000),
    ]


def test_unordered_cues_are_sorted_and_leading_text_starts_at_zero() -> None:
    assert parse_cues("Intro words.\n[00:09] Last.\n[00:04] Middle.") == [
        Cue("Intro words.", 0),
        Cue("Middle.", 4000),
        Cue("Last.", 9000),
    ]


def test_plain_scripts_have_no_cues() -> None:
    assert parse_cues("Hello there. We open at 10:30 every day.") is None
    assert parse_cues("10:30 is when we open.") is None
    assert parse_cues("Take a break [pause 1s] and go on.") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[00:75] Too many seconds.", "seconds must be below 60"),
        ("[01:75:00] Too many minutes.", "minutes must be below 60"),
        ("[00:05] One.\n[00:05] Two.", "same time"),
        ("[00:01]\n[00:02]", "no text"),
    ],
)
def test_nonsense_timestamps_explain_themselves(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cues(text)


def test_srt_and_vtt() -> None:
    srt = (
        "\ufeff2\n00:00:04,000 --> 00:00:06,500\nSecond <i>cue</i>\n\n"
        "1\n00:00:01,000 --> 00:00:04,500\n{\\an8}First\ncue\n"
    )
    assert parse_srt(srt) == [Cue("First cue", 1000, 4000), Cue("Second cue", 4000, 6500)]
    vtt = "WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.000 align:start\nHi &amp; bye\n"
    assert parse_srt(vtt) == [Cue("Hi & bye", 1000, 2000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1\n00:00:05,000 --> 00:00:04,000\nBackwards", "ends before it starts"),
        ("1\n00:00:0x,000 --> 00:00:04,000\nGarbled", "garbled time line"),
        ("just some words", "no time line"),
        ("WEBVTT\n", "No subtitle cues"),
    ],
)
def test_bad_subtitles_explain_themselves(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_srt(text)
