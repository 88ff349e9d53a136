"""The request interpreter: English and Chinese phrasings reach the same intents (pure unit tests)."""

from __future__ import annotations

import pytest

from backend.interpreter import parse, split_script
from backend.script_text import parse_script


def test_core_request() -> None:
    intent = parse("generate a natural male voiceover in English for my script")
    assert intent.voiceover and intent.gender == "male" and intent.language == "en"
    assert intent.script is None


@pytest.mark.parametrize(
    ("en", "zh"),
    [
        ("generate a female voiceover in Chinese", "用中文女声生成配音"),
        ("make it vertical", "改成竖屏"),
        ("slower", "慢一点"),
        ("faster", "快一点"),
        ("remove the captions", "去掉字幕"),
        ("square format", "改成方形"),
    ],
)
def test_chinese_matches_english(en: str, zh: str) -> None:
    a, b = parse(en), parse(zh)
    assert (a.voiceover, a.gender, a.language, a.aspect, a.speed_change, a.captions) == (
        b.voiceover,
        b.gender,
        b.language,
        b.aspect,
        b.speed_change,
        b.captions,
    )


def test_female_is_not_male() -> None:
    assert parse("a female voice please").gender == "female"


def test_speed_forms() -> None:
    assert parse("read it at 1.2x").speed == 1.2
    assert parse("slower please").speed_change == pytest.approx(1 / 1.15)
    assert "speed_out_of_range" in parse("make it 5x").notes


def test_voice_by_name() -> None:
    assert parse("use Joe for this", ["Joe", "Amy"]).voice_name == "Joe"
    assert parse("use joey", ["Joe"]).voice_name is None


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("voiceover please\nscript: Hello there. Second line.", "Hello there. Second line."),
        ("脚本：你好，欢迎。", "你好，欢迎。"),
        (
            'read this: "Welcome to the spring sale, everything is off"',
            "Welcome to the spring sale, everything is off",
        ),
        (
            "voice this\nWelcome to our shop where every lamp is hand made and tested twice.",
            "Welcome to our shop where every lamp is hand made and tested twice.",
        ),
    ],
)
def test_inline_scripts(text: str, script: str) -> None:
    assert split_script(text)[1] == script
    assert parse(text).voiceover


def test_unknown_request_is_not_understood() -> None:
    assert not parse("what's the weather like").understood


@pytest.mark.parametrize(
    ("marker", "ms"),
    [("[停顿1秒]", 1000), ("[停顿 1 秒]", 1000), ("[pause: 1s]", 1000), ("[pause 500ms]", 500)],
)
def test_pause_markers_become_pauses(marker: str, ms: int) -> None:
    items = parse_script(f"First line. {marker} Second line.")
    assert [(i.text, i.pause_ms) for i in items] == [
        ("First line.", 0),
        ("", ms),
        ("Second line.", 0),
    ]
