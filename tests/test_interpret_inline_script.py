"""Issue 12: a script given inside the request's own line ("… for this script: Welcome to …") is
the script, not a request for one (pure unit tests of the backend's interpreter)."""

from __future__ import annotations

import pytest

from backend.conversation.interpret import parse, split_script

SCRIPT = "Welcome to Lumen, the desk lamp that follows the sun. Light that feels like morning."


def test_one_line_request_with_its_script() -> None:
    text = f"generate a natural male voiceover in English for this script: {SCRIPT}"
    intent = parse(text)
    assert intent.script == SCRIPT
    assert intent.voiceover and intent.gender == "male" and intent.language == "en"


@pytest.mark.parametrize(
    ("text", "request_part", "script"),
    [
        (f"voiceover for my script: {SCRIPT}", "voiceover for my", SCRIPT),
        (f"Make a voiceover, Script：{SCRIPT}", "Make a voiceover,", SCRIPT),
        ("用英文男声生成配音，脚本：欢迎来到 Lumen。", "用英文男声生成配音，", "欢迎来到 Lumen。"),
    ],
)
def test_the_mark_inside_a_line(text: str, request_part: str, script: str) -> None:
    assert split_script(text) == (request_part, script)


@pytest.mark.parametrize(
    "text",
    [
        "generate a voiceover for my script",  # the script was sent before
        "voiceover for this script:",  # nothing after the mark
        "make the caption text: bigger",  # "text:" inside a line is not a script mark
        "use my transcript",
    ],
)
def test_no_script_without_one(text: str) -> None:
    assert split_script(text)[1] is None


def test_a_mark_at_a_line_start_still_wins() -> None:
    text = "voiceover please, the script: below\nscript: Hello there. Second line."
    assert split_script(text)[1] == "Hello there. Second line."
