"""Issue 11, classes 2, 3 (speech) and 6 (estimate): reading a turn is linear in its length and
capped, a run of letters too long to read is refused or cut before Piper sees it, and the credit
estimate counts letters, digits and symbols, not words. Pure functions: no backend needed."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.conversation.interpret import (
    MAX_REQUEST_CHARS,
    SCRIPT_CHARS_PER_WORD,
    parse,
    read_turn,
)
from backend.core.errors import BAD_INPUT, ApiError
from backend.core.i18n import MESSAGES
from backend.speech.cues import parse_cues
from backend.speech.script import (
    MAX_SENTENCE_S,
    MAX_WORD_CHARS,
    _speech_s,
    estimate_duration_ms,
    overlong_word,
    parse_script,
    split_sentences,
)

MAX_WORDS = 20_000
SCRIPT_CAP = MAX_WORDS * SCRIPT_CHARS_PER_WORD
BOUND_S = 0.5  # CPU seconds one parse may take, for any input up to the cap

# Pieces the old quadratic regexes choked on, and pieces of the phrases the parser looks for.
UNITS = [
    "\n",
    " ",
    "\t",
    " \n",
    "1",
    "1.",
    "1:",
    "1x",
    "1%",
    '"',
    "“",
    "”",
    "'",
    "‘",
    "[",
    "(",
    "把",
    "字",
    "a",
    "a ",
    "a.",
    "music ",
    "title: a",
    "add title ",
    "pronounce a as ",
    "for 1 ",
    "from 1 to ",
    "caption ",
    "voice ",
    "[pause ",
    "[00:05] ",
    "00:05 ",
    "script",
    "9:16 ",
    "1080x",
    "speed ",
    "only the first ",
    "把a读作",
    "标题",
    "音乐",
    "前1秒",
    "“a",
    '"a ',
]


def _cpu(fn, *args):  # type: ignore[no-untyped-def]
    start = time.process_time()
    result = fn(*args)
    return result, time.process_time() - start


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("58 KB of newlines", "a" + "\n" * 58_000 + "b"),
        ("30,000 opening quotes", "“" * 30_000),
        ("digits", "1" * 60_000),
        ("spaces", "make it " + " " * 60_000 + "vertical"),
        ("straight quotes", '"' * 60_000),
        ("dots", "1." * 30_000),
        ("把", "把" * 60_000),
        ("music percent", "music " + "1" * 60_000),
        ("titles", "add title 'x' " * 5_000),
    ],
)
def test_hostile_turns_parse_fast(name: str, text: str) -> None:
    _intent, cpu = _cpu(parse, text)
    assert cpu < BOUND_S, (name, cpu)
    for fn in (parse_script, parse_cues):
        _out, cpu = _cpu(fn, text)
        assert cpu < 2 * BOUND_S, (name, fn.__name__, cpu)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.one_of(
        st.text(max_size=3_000),
        st.builds(
            lambda unit, n, tail: unit * n + tail,
            st.sampled_from(UNITS),
            st.integers(1, 60_000),
            st.text(max_size=50),
        ),
        st.builds(
            lambda a, b, n: (a + b) * n,
            st.sampled_from(UNITS),
            st.sampled_from(UNITS),
            st.integers(1, 20_000),
        ),
        st.builds(
            lambda head, unit, n: head + "\nscript: " + unit * n,
            st.text(max_size=200),
            st.sampled_from(UNITS),
            st.integers(1, 150_000),
        ),
    )
)
def test_any_turn_up_to_the_cap_is_read_within_the_bound(text: str) -> None:
    start = time.process_time()
    try:
        read_turn(text, ["Joe", "Heart"], "en", MAX_WORDS)
    except ApiError as exc:
        assert exc.code == BAD_INPUT
        assert len(text) > MAX_REQUEST_CHARS  # only a long message is refused
    assert time.process_time() - start < BOUND_S, len(text)


def test_a_long_request_is_refused_with_a_message_in_en_and_zh() -> None:
    long = "please make it vertical and " * 100
    for lang, word in (("en", "too long"), ("zh", "太长")):
        with pytest.raises(ApiError) as err:
            read_turn(long, None, lang, MAX_WORDS)
        assert err.value.code == BAD_INPUT and word in err.value.message
        assert str(MAX_REQUEST_CHARS) in err.value.message
    for key in ("message_too_long", "script_chars", "word_too_long"):
        assert set(MESSAGES[key]) >= {"en", "zh"}


def test_a_real_script_up_to_the_words_limit_still_reads() -> None:
    sentence = "Lumen keeps your desk bright all day, and it folds flat in one second. "
    script = sentence * (MAX_WORDS // len(sentence.split()))
    intent = read_turn("voiceover please\nscript: " + script, None, "en", MAX_WORDS)
    assert intent.voiceover and intent.script == script.strip()
    # pasted after the first line, without 'script:'
    intent = read_turn("read this out\n" + script, None, "en", MAX_WORDS)
    assert intent.script == script.strip()
    with pytest.raises(ApiError) as err:  # few words, many characters
        read_turn("script: " + "x" * (SCRIPT_CAP + 10), None, "en", MAX_WORDS)
    assert "characters" in err.value.message
    with pytest.raises(ApiError) as err:  # past the characters cap and the words limit
        read_turn("script: " + "word " * (SCRIPT_CAP // 5 + 10), None, "en", MAX_WORDS)
    assert "words" in err.value.message


def test_phrases_in_a_script_block_are_not_read_as_requests() -> None:
    intent = parse("voiceover please\nscript: Make it vertical. Music at 30%. Add title 'Hi'.")
    assert intent.aspect is None and intent.edits.music_volume is None
    assert not intent.edits.titles
    assert intent.script == "Make it vertical. Music at 30%. Add title 'Hi'."


def test_an_unreadable_word_is_cut_to_bounded_pieces_and_flagged() -> None:
    word = "a" * 6_000
    pieces = split_sentences(word)
    assert "".join(pieces) == word and len(pieces) > 20
    assert all(_speech_s(p) <= MAX_SENTENCE_S for p in pieces)
    assert overlong_word(f"Hello {word} there") == word
    assert overlong_word("Donaudampfschifffahrtsgesellschaftskapitän and 12345") is None
    assert overlong_word("x" * MAX_WORD_CHARS) is None
    assert overlong_word("你好" * 500) is None  # CJK has no spaces: not a "word"


@pytest.mark.parametrize(
    ("text", "at_least_s"),
    [
        ("a" * 3_000, 60),  # Piper: about 60 letters a second of babble
        ("internationalization counterrevolutionaries electroencephalography " * 3, 11.8),
        ("NASA FBI CIA HTML CSS JSON XML API SDK " * 3, 18.8),
        ("🙂🙂🙂 hello 🙂🙂 " * 3, 16.7),
        ("1234567 8901234 5678901", 10.5),
        ("https://example.com/some/very/long/path?with=query&and=more " * 2, 16.3),
    ],
)
def test_the_estimate_counts_letters_not_words(text: str, at_least_s: float) -> None:
    """The lengths Joe took to say these (measured); the old estimate gave 0.3 s to 7 s."""
    assert estimate_duration_ms(text) >= at_least_s * 1000
