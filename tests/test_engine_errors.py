"""Backend errors reach people only as the bot's own localized words (STAND-IN backend,
tests/support/standin.py); the raw backend text goes to the log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.texts import t
from tests.support.standin import StandIn, engine_harness, progress, texts

ASK = "generate a natural male voiceover in English for my script"
ASK_ZH = "用自然的男声为我的脚本配音"


async def test_proxy_502_and_unknown_codes_get_the_bots_words(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: a non-JSON 502 -> the service message, not "❌ Bad Gateway"; an unknown 4xxx
    with an English message in a Chinese chat -> Chinese; both logged raw."""
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("积分")
        standin.fail("run_sse", 502)
        standin.fail("credits", 4004)
        with caplog.at_level(logging.WARNING, logger="bot"):
            await console.push_message(ASK_ZH)
            await console.push_message("余额")
            await console.push_message("/credits", chat_id="en")  # the stand-in is healthy again
            standin.fail("run_sse", 500)
            await console.push_message(ASK, chat_id="en")
    said = texts(console)
    assert said[1:3] == [t("err_service", "zh"), t("err_request_failed", "zh")]
    assert said[-1] == t("err_service", "en")
    assert not any("Bad Gateway" in s or "stand-in fault" in s for s in said)
    assert "Bad Gateway" in caplog.text and "stand-in fault 4004" in caplog.text


async def test_bad_input_keeps_the_backends_message(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 4005 is written for a person by the backend (in the session's language): shown."""
    standin.fail("run_sse", 4005)
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
    assert texts(console) == [t("err_generic", "en", message="stand-in fault 4005")]


async def test_render_failure_in_chinese_chat(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: a failed render (English reason) and a completed one without output -> the bot's
    Chinese message; the raw reason is logged."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        standin.behaviour.render_fail = True
        with caplog.at_level(logging.WARNING, logger="bot"):
            await console.push_message("导出")
        standin.behaviour.render_fail = False
        standin.behaviour.render_no_output = True
        await console.push_message("导出")
        assert await engine.store.in_flight_jobs() == []
    finished = [p for p in progress(console) if p.startswith("❌")]
    assert finished == [t("render_failed", "zh")] * 2
    assert not any("encoder crashed" in p or "no output" in p for p in progress(console))
    assert "encoder crashed" in caplog.text
