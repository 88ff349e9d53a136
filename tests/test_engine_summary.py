"""The timeline summary is built in the bot from `state.draft`, in the chat's language (STAND-IN
backend, tests/support/standin.py, which like the hosted service sends no summary of its own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.protocol.summary import summary_or_empty, timeline_summary
from bot.texts import t
from tests.support.standin import (
    BACKEND_SUMMARY,
    SUMMARY,
    SUMMARY_ZH,
    StandIn,
    buttons,
    engine_harness,
    next_steps,
    texts,
)

ASK_ZH = "用自然的男声为我的脚本配音"

FULL_DRAFT = {
    "t": [
        {
            "tt": 0,
            "sg": [{"name": "city.mp4", "s": 0, "d": 10000, "m": {"volume": 100}, "src": "m1"}],
        },
        {
            "tt": 1,
            "sg": [
                {
                    "name": "Voiceover: Amy",
                    "s": 500,
                    "d": 9500,
                    "m": {
                        "role": "voiceover",
                        "voice_name": "Amy",
                        "language": "en_US",
                        "speed": 1.2,
                    },
                }
            ],
        },
        {
            "tt": 1,
            "sg": [{"name": "Lo-fi", "s": 0, "d": 10000, "m": {"role": "music", "volume": 35}}],
        },
        {
            "tt": 7,
            "sg": [
                {"text": "a", "s": 0, "d": 4000, "m": {"role": "caption", "burn_in": True}},
                {"text": "b", "s": 4000, "d": 6000, "m": {"role": "caption", "burn_in": True}},
            ],
        },
        {"tt": 7, "sg": [{"text": "Urban Dreams", "s": 0, "d": 3000, "m": {"role": "title"}}]},
        {"tt": 7, "sg": []},  # an empty track is not listed
    ]
}


def test_english_summary_matches_the_design_format() -> None:
    """DESIGN section 4's wording; the bot and the self-hosted backend both use this one function."""
    assert timeline_summary(FULL_DRAFT, "en") == (
        "Timeline (5 tracks): 1. Video: city.mp4 (0-10s) 2. Voiceover: Amy, en-US, 1.20x (0-10s) "
        "3. BGM: Lo-fi (0-10s, 35%) 4. Captions: 2 lines, burned in (0-10s) "
        '5. Title: "Urban Dreams" (0-3s) Output: 1920x1080.'
    )
    assert summary_or_empty({"t": []}, "en") == "Timeline (0 tracks): empty"
    assert summary_or_empty({"t": []}, "zh") == "时间线（0 条轨道）：空"


def test_summary_ends_with_the_output_settings() -> None:
    """The export's size, trim and caption files close the summary, in both languages; the
    English is the self-hosted backend's own."""
    draft = {**FULL_DRAFT, "w": 1080, "h": 1920, "trim": 5500, "sidecars": True}
    english = timeline_summary(draft, "en")
    assert english.endswith(
        '5. Title: "Urban Dreams" (0-3s) Output: 1080x1920, first 5.5 s, caption files SRT and VTT.'
    )
    assert timeline_summary(draft, "zh").endswith(
        "（0-3 秒） 输出：1080x1920，只保留前 5.5 秒，附 SRT 和 VTT 字幕文件。"
    )
    plain = {**FULL_DRAFT, "w": 720, "h": 1280, "trim": 0}
    assert timeline_summary(plain, "en").endswith("(0-3s) Output: 720x1280.")
    assert timeline_summary(plain, "zh").endswith("（0-3 秒） 输出：720x1280。")
    assert timeline_summary({"w": 1080, "h": 1920, "trim": 5000, "t": []}, "en") == ""


def test_chinese_summary_and_empty_drafts() -> None:
    assert timeline_summary(FULL_DRAFT, "zh") == (
        "时间线（5 条轨道）：1. 视频：city.mp4（0-10 秒） 2. 配音：Amy，en-US，1.20x（0-10 秒） "
        "3. 背景音乐：Lo-fi（0-10 秒，音量 35%） 4. 字幕：2 行，烧录在画面中（0-10 秒） "
        "5. 标题：“Urban Dreams”（0-3 秒） 输出：1920x1080。"
    )
    empties: tuple[dict[str, Any], ...] = (
        {},
        {"t": []},
        {"t": [{"tt": 0, "sg": []}]},
        {"t": "garbled"},
    )
    for empty in empties:
        assert timeline_summary(empty, "zh") == ""


async def test_status_and_no_text_reply_in_chinese(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a Chinese chat's /status and a reply with no text show the Chinese timeline."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    standin.behaviour.sse_mode = "no_text"
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("状态")
        await console.push_message(ASK_ZH)
        await console.push_message("/status")
    assert texts(console) == [
        t("state_empty", "zh"),
        t("no_text_changed", "zh", summary=SUMMARY_ZH),
        t("state", "zh", summary=SUMMARY_ZH),
    ]
    assert buttons(console) == [next_steps("zh")]


async def test_summary_without_backend_summary(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: like the hosted service, no `summary` in the state -> the bot builds it (English)."""
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("generate a natural male voiceover in English for my script")
        await console.push_message("status")
    assert texts(console)[-1] == t("state", "en", summary=SUMMARY)
    assert buttons(console) == [next_steps()]


async def test_backend_summary_only_without_a_draft(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: the backend's summary is used only when the reply has no draft; the draft wins."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    standin.behaviour.send_summary = True
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("status")  # empty draft + the backend's "(0 tracks): empty"
        await console.push_message("generate a natural male voiceover in English for my script")
        await console.push_message("status")
        standin.behaviour.send_draft = False
        await console.push_message("status")
    said = texts(console)
    assert said[0] == t("state_empty", "en")
    assert said[-2] == t("state", "en", summary=SUMMARY)
    assert said[-1] == t("state", "en", summary=BACKEND_SUMMARY)
    assert buttons(console) == [next_steps()]
