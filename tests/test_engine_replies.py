"""What the engine says in the cases exploratory testing found wrong (STAND-IN backend,
tests/support/standin.py): credits short of a long script, a second export, the voiceover's
percentage, an export with nothing to export, next-step buttons after a turn that made nothing,
and the acknowledgment of an uploaded music file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from bot.messages import Buttons, VideoFile
from bot.texts import t
from tests.support.standin import (
    FAKE_MP4,
    NO_SCRIPT,
    StandIn,
    buttons,
    engine_harness,
    next_steps,
    progress,
    texts,
)

ASK = "generate a natural male voiceover in English for my script"
ASK_ZH = "用自然的男声为我的脚本配音"
REGISTER = "https://example.test/register"


async def until(cond: Callable[[], bool]) -> None:
    """Wait for a condition (a guard against hangs, not a timing assertion)."""
    async with asyncio.timeout(10):
        while not cond():  # noqa: ASYNC110 - the condition lives in another thread (the stand-in)
            await asyncio.sleep(0.01)


async def test_short_of_credits_says_how_many(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 2001 with `need` 210 and `available` 99 -> "needs about 210, you have 99" with the
    registration link, not "out of free credits"; with 0 left the old message stays."""
    standin.behaviour.credits = 99
    standin.behaviour.turn_cost = 210
    async with engine_harness(standin.base_url, tmp_path, register_url=REGISTER) as (
        engine,
        console,
    ):
        await console.push_message(ASK)
        await console.push_message(ASK_ZH, chat_id="zh")
        standin.behaviour.credits = 0
        await console.push_message(ASK, chat_id="empty")
        binds = {}
        for chat in ("local", "zh", "empty"):
            record = await engine.store.get_chat(console.chat_key(chat))
            assert record is not None
            binds[chat] = f"{REGISTER}?bind=bind-{record.client_id[:8]}"
    assert texts(console, "local") == [
        "💳 This needs about 210 credits and you have 99. Shorten the script, or register for "
        f"more: {binds['local']}"
    ]
    assert texts(console, "zh") == [
        f"💳 本次大约需要 210 积分，你还有 99。请缩短脚本，或注册获取更多积分：{binds['zh']}"
    ]
    assert texts(console, "empty") == [t("err_register", "en", url=binds["empty"])]
    assert standin.sse_started == 0


async def test_short_of_credits_registered(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a registered account (NEMO_TOKEN) short of credits -> shorten or top up."""
    standin.tokens["operator-token-123"] = "operator"
    standin.behaviour.credits = 99
    standin.behaviour.turn_cost = 210
    async with engine_harness(standin.base_url, tmp_path, nemo_token="operator-token-123") as (
        _e,
        console,
    ):
        await console.push_message(ASK)
    assert texts(console) == [t("err_short_topup", "en", need=210, available=99)]
    assert "top up" in texts(console)[0] and "210" in texts(console)[0]


async def test_a_second_export_is_not_started_again(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: "export" while an export waits in line or renders -> "already exporting", one
    MP4; "export in 720p" (an edit, then an export) still queues; afterwards export works again."""
    standin.behaviour.heartbeat_seconds = 0.5
    standin.behaviour.render_seconds = 1.0
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        console.push_nowait(ASK)
        await until(lambda: standin.sse_started == 1)
        console.push_nowait("export")  # waits in line behind the turn
        await until(lambda: t("queued", "en") in texts(console))
        await console.push_message("/export")  # while the first export waits
        await until(lambda: standin.count("/api/render/proxy/lambda", "POST") == 1)
        await console.push_message("export")  # while it renders
        console.push_nowait("export in 720p")
        await until(lambda: texts(console).count(t("queued", "en")) == 2)
        await console.wait_idle()
        assert texts(console).count(t("already_exporting", "en")) == 2
        assert standin.count("/api/render/proxy/lambda", "POST") == 2
        await console.push_message("导出")  # nothing running: a new export
    said = texts(console)
    assert said.count(t("already_exporting", "en")) == 2
    assert t("already_exporting", "zh") == "🎬 正在导出中：视频马上就到。"
    assert standin.count("/api/render/proxy/lambda", "POST") == 3
    videos = [o for o in console.sent(VideoFile) if isinstance(o, VideoFile)]
    assert len(videos) == 3 and all(v.path.read_bytes().startswith(FAKE_MP4) for v in videos)
    assert buttons(console) == [next_steps()]


async def test_voiceover_progress_shows_the_percentage(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: partial synthesize_speech results {"status": "running", "done", "total"} -> the
    progress line counts up; the next stage and the final line carry no percentage."""
    standin.behaviour.synth_steps = 5
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
        await console.push_message(ASK_ZH, chat_id="zh")
    lines = progress(console, "local")
    recording = [p.splitlines()[-1] for p in lines if "Recording the voiceover..." in p]
    assert recording == [
        "🗣️ Recording the voiceover...",
        *(f"🗣️ Recording the voiceover... {pct}%" for pct in (20, 40, 60, 80, 100)),
    ]
    assert any(p.endswith("🎞️ Placing it on the timeline...") for p in lines)
    assert lines[-1].splitlines()[-3:] == [
        "✓ 🗣️ Recording the voiceover",
        "✓ 🎞️ Placing it on the timeline",
        "✅ Done",
    ]
    assert any(p.endswith("🗣️ 正在生成配音... 40%") for p in progress(console, "zh"))
    assert texts(console, "local") == texts(console, "zh") == [standin.behaviour.sse_text]
    assert buttons(console, "local") == [next_steps()]
    assert buttons(console, "zh") == [next_steps("zh")]


async def test_export_with_nothing_to_export(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: "export" on an empty project -> a clear message, no "Rendering..." and no render."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("export")
        await console.push_message("导出", chat_id="zh")
        await console.push_message("/export", chat_id="zh")
    assert texts(console, "local") == [
        "🎬 There is nothing to export yet: send a script or a video first."
    ]
    assert texts(console, "zh") == ["🎬 还没有可导出的内容：请先发送脚本或视频。"] * 2
    assert progress(console) == []
    assert standin.count("/api/render/proxy/lambda") == 0


async def test_next_steps_only_after_a_voiceover(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: "please send a script first" (the timeline step on an empty project) comes
    without the Export/Slower/Vertical buttons; the same step on a project with a voiceover, and a
    turn that recorded one, come with them."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    standin.behaviour.sse_mode = "no_script"
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK, chat_id="empty")
        standin.behaviour.voiced = True
        await console.push_message("make it vertical", chat_id="voiced")
        standin.behaviour.sse_mode = "text"
        await console.push_message(ASK, chat_id="fresh")
    assert texts(console, "empty") == [NO_SCRIPT]
    assert console.sent(Buttons, "empty") == []
    assert len(console.sent(Buttons, "voiced")) == 1
    assert len(console.sent(Buttons, "fresh")) == 1
    assert texts(console, "voiced") == [NO_SCRIPT]
    assert texts(console, "fresh") == [standin.behaviour.sse_text]


async def test_music_upload_acknowledgment(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: an MP3 is acknowledged with a music icon and the duration, in the chat's
    language's punctuation (full-width in Chinese)."""
    zh = tmp_path / "背景音乐.mp3"
    zh.write_bytes(b"ID3" + b"\x00" * 64)
    en = tmp_path / "music.mp3"
    en.write_bytes(b"ID3" + b"\x00" * 64)
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("上传", [zh], chat_id="zh")
        await console.push_message("", [en])
    assert progress(console, "zh")[-1] == "🎵 已收到 背景音乐.mp3（30 秒）。现在告诉我要做什么。"
    assert (
        progress(console, "local")[-1] == "🎵 Got music.mp3 (30 s). Now tell me what to do with it."
    )
