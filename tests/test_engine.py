"""Engine tests against the STAND-IN backend (tests/support/standin.py), not the real one.

Each test drives the real Engine through the programmatic console, with a real SQLite file and real
HTTP on 127.0.0.1; the stand-in scripts the faults. End-to-end tests against the real backend live
elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from bot.messages import Attachment, Buttons, Inbound, Limits, Link, Progress, Text, VideoFile
from bot.texts import t
from tests.support.standin import (
    FAKE_MP4,
    SUMMARY,
    StandIn,
    buttons,
    engine_harness,
    next_steps,
)

SCRIPT = "Meet Lumen, the smart desk lamp that works the way you do. Better light, better work."
ASK = "generate a natural male voiceover in English for my script"


@pytest.fixture
def script_file(tmp_path: Path) -> Path:
    path = tmp_path / "lumen.txt"
    path.write_text(SCRIPT)
    return path


async def until(cond: Callable[[], bool]) -> None:
    """Wait for a condition (a guard against hangs, not a timing assertion)."""
    async with asyncio.timeout(10):
        while not cond():  # noqa: ASYNC110 - the condition lives in another thread (the stand-in)
            await asyncio.sleep(0.01)


def texts(console: ConsoleAdapter, chat: str = "local") -> list[str]:
    return [o.text for o in console.sent(Text, chat) if isinstance(o, Text)]


def progress(console: ConsoleAdapter, chat: str = "local") -> list[str]:
    return [o.text for o in console.sent(Progress, chat) if isinstance(o, Progress)]


async def test_demo_conversation_stand_in(
    standin: StandIn, script_file: Path, tmp_path: Path
) -> None:
    """Stand-in: upload, voiceover, export -> an MP4 in the output folder; headers on every call."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("", [script_file])
        await console.push_message(ASK)
        await console.push_message("export")
        assert await engine.store.in_flight_jobs() == []
    said = texts(console)
    assert any("Got your script lumen.txt (16 words)" in p for p in progress(console))
    assert "Your voiceover is ready: 22 s of speech in Joe's voice." in said
    stages = progress(console)
    assert any("Recording the voiceover" in s for s in stages)
    assert not any("synthesize_speech" in s or "functionCall" in s for s in stages + said)
    videos = [o for o in console.sent(VideoFile) if isinstance(o, VideoFile)]
    assert len(videos) == 1
    assert videos[0].path.parent == tmp_path / "output"
    assert videos[0].path.read_bytes().startswith(FAKE_MP4)
    assert not list((tmp_path / "output").glob("*.part"))
    assert any(isinstance(o, Buttons) for o in console.sent(Buttons))
    for seen in standin.requests:
        if seen.path.startswith("/files/"):
            continue  # a signed URL (same origin here; cross-origin downloads: test_client)
        assert seen.headers["x-skill-source"] == "ai-voiceover-generator"
        assert seen.headers["x-skill-platform"] == "console"
        assert seen.headers["x-skill-version"]
        if "anonymous-token" not in seen.path:
            assert seen.headers["authorization"].startswith("Bearer standin_")
    assert standin.count("/api/tasks/me/with-session", "POST") == 1  # one session per chat


async def test_chinese_keywords_route_to_endpoints(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 积分 -> credits, 状态 -> state, 导出 -> render; replies in Chinese."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        await console.push_message("积分")
        await console.push_message("状态")
        standin.behaviour.voiced = True
        await console.push_message("导出", chat_id="voiced")
    said = texts(console)
    assert said[0] == t("credits", "zh", available=100, frozen=0, total=100)
    assert said[1] == t("state_empty", "zh")
    assert standin.count("/api/render/proxy/lambda", "POST") == 1
    assert standin.sse_started == 0  # keyword routes skip the agent
    videos = [o for o in console.sent(VideoFile, "voiced") if isinstance(o, VideoFile)]
    assert len(videos) == 1 and videos[0].caption == t("video_ready", "zh")


async def test_reply_without_text_polls_state(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a turn with tool calls only -> the bot reports the timeline summary."""
    standin.behaviour.sse_mode = "no_text"
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        await console.push_message(ASK)
    assert t("no_text_changed", "en", summary=SUMMARY) in texts(console)
    assert standin.count("/latest") == 1
    assert buttons(console) == [next_steps()]


async def test_token_expiry_mid_conversation(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: the token expires between two messages -> new token, same session, one retry."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message(ASK)
        standin.expire_tokens()
        await console.push_message("make it slower")
        record = await engine.store.get_chat(console.chat_key())
    assert standin.count("anonymous-token") == 2
    assert standin.count("with-session") == 1
    assert texts(console).count(standin.behaviour.sse_text) == 2
    assert record is not None and record.token in standin.tokens
    assert buttons(console) == [next_steps()] * 2


async def test_revoked_token_gets_new_identity(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: re-issue for the same client id is rate limited -> new client id and session."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message(ASK)
        first = await engine.store.get_chat(console.chat_key())
        standin.revoke_tokens()
        await console.push_message("make it slower")
        second = await engine.store.get_chat(console.chat_key())
    assert first is not None and second is not None
    assert second.client_id != first.client_id
    assert second.session_id != first.session_id
    assert t("session_renewed", "en") in texts(console)
    assert texts(console).count(standin.behaviour.sse_text) == 2
    assert buttons(console) == [next_steps()] * 2


async def test_session_not_found_creates_new_session(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 1002 -> a new session and one retry, and the user is told."""
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        await console.push_message("status")
        standin.forget_sessions()
        await console.push_message(ASK)
    assert standin.count("with-session") == 2
    assert standin.count("/run_sse") == 2  # the 1002 and the retry
    assert t("session_renewed", "en") in texts(console)
    assert standin.behaviour.sse_text in texts(console)
    assert buttons(console) == [next_steps()]


async def test_no_credits_anonymous_gets_registration_link(
    standin: StandIn, tmp_path: Path
) -> None:
    """Stand-in: 2001 with a bind id -> registration URL with ?bind=."""
    standin.fail("run_sse", 2001)
    async with engine_harness(
        standin.base_url, tmp_path, register_url="https://example.test/register"
    ) as (
        _e,
        console,
    ):
        await console.push_message(ASK)
    assert texts(console)[-1] == t(
        "err_register", "en", url="https://example.test/register?bind=bind-standin-1"
    )
    assert standin.count("/run_sse") == 1  # 2001 is not retried


async def test_no_credits_registered_gets_top_up(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: with NEMO_TOKEN set (a registered account), 2001 -> "top up credits"."""
    standin.tokens["operator-token-123"] = "operator"
    standin.behaviour.credits = 0
    async with engine_harness(standin.base_url, tmp_path, nemo_token="operator-token-123") as (
        _e,
        console,
    ):
        await console.push_message(ASK)
    assert texts(console)[-1] == t("err_topup", "en")
    assert standin.count("anonymous-token") == 0


async def test_credits_running_out_inside_the_stream(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: an errorCode event after work started -> message, no retry."""
    standin.behaviour.sse_mode = "error_event"
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
    assert texts(console)[-1].startswith("💳")
    assert "?bind=bind-" in texts(console)[-1]
    assert standin.sse_started == 1


async def test_rate_limit_retried_once(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: one 429 -> retried after the configured wait; two -> a clear message."""
    standin.fail("run_sse", 429)
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
        assert standin.count("/run_sse") == 2
        assert standin.behaviour.sse_text in texts(console)
        standin.fail("run_sse", 429, times=2)
        await console.push_message("again please")
    assert standin.count("/run_sse") == 4
    assert texts(console)[-1] == t("err_rate_limited", "en")
    assert buttons(console) == [next_steps()]


async def test_stream_cut_polls_state(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: the SSE stream drops halfway -> clear message plus the state summary."""
    standin.behaviour.sse_mode = "cut"
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
    assert texts(console)[-1] == t("err_stream_cut", "en", summary=SUMMARY)
    assert progress(console)[-1].endswith("...")  # the progress message ends at the last stage


async def test_backend_down(tmp_path: Path) -> None:
    """No server at all on the port -> the backend-down message, not a crash."""
    from bot.embedded import free_port

    async with engine_harness(f"http://127.0.0.1:{free_port()}", tmp_path) as (_e, console):
        await console.push_message(ASK)
        await console.push_message("export")
    assert texts(console) == [t("err_backend_down", "en")] * 2


async def test_render_failure(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a failed render -> its reason, and the job is no longer in flight."""
    standin.behaviour.render_fail = True
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("export")
        assert await engine.store.in_flight_jobs() == []
    assert progress(console)[-1] == t("render_failed", "en")
    assert "encoder crashed" not in "".join(progress(console) + texts(console))


async def test_large_result_goes_out_as_link(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a result above the platform's upload limit -> a link with size, no upload."""
    standin.behaviour.output_size = 50_000
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        console.limits = Limits(max_upload_bytes=10_000, same_machine=True)
        await console.push_message("export", chat_id="small")
    links = [o for o in console.sent(Link) if isinstance(o, Link)]
    assert len(links) == 1 and links[0].size == 50_000 and links[0].expires_at is not None
    assert "50 KB" in links[0].label
    assert console.sent(VideoFile) == []
    assert standin.count("/files/") == 0


async def test_gui_translation_export_and_panel(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: "Click the Export button" -> the bot exports; "open the panel" -> it shows state."""
    standin.behaviour.sse_mode = "gui_export"
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message(ASK)
        standin.behaviour.sse_mode = "gui_panel"
        await console.push_message("add captions")
    said = texts(console)
    assert not any("Click" in s or "Open the" in s for s in said)
    assert said.count("Voiceover added.") == 2
    assert len(console.sent(VideoFile)) == 1
    assert t("state", "en", summary=SUMMARY) in said
    assert buttons(console) == [next_steps()]


async def test_still_working_ticks_while_silent(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: heartbeats only for a while -> "Still working" edits of the progress message."""
    standin.behaviour.heartbeat_seconds = 0.6
    async with engine_harness(standin.base_url, tmp_path, still_working_seconds=0.1) as (
        _e,
        console,
    ):
        await console.push_message(ASK)
    ticks = [p for p in progress(console) if "⏳ Still working..." in p]
    assert ticks
    sends = [r for r in console.outputs if isinstance(r.out, Progress) and r.action == "send"]
    assert len(sends) == 1  # one progress message per job, edited in place
    assert standin.behaviour.sse_text in texts(console)
    assert buttons(console) == [next_steps()]


async def test_job_ceiling(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a turn that outlives JOB_CEILING_SECONDS -> the ceiling message."""
    standin.behaviour.heartbeat_seconds = 5.0
    async with engine_harness(standin.base_url, tmp_path, job_ceiling_seconds=0.3) as (_e, console):
        await console.push_message(ASK)
    assert texts(console)[-1] == t("ceiling", "en", minutes=0)


async def test_order_per_chat_and_queued_notice(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a message during a job is queued (and the user told), then handled in order."""
    standin.behaviour.heartbeat_seconds = 0.4
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait(ASK)
        await until(lambda: standin.sse_started == 1)
        console.push_nowait("credits")
        console.push_nowait("status")
        await console.wait_idle()
        assert not engine.busy(console.chat_key())
    said = texts(console)
    assert said.count(t("queued", "en")) == 2
    first_reply = said.index(standin.behaviour.sse_text)
    assert said.index(t("queued", "en")) < first_reply
    credits = said.index(t("credits", "en", available=100, frozen=0, total=100))
    assert first_reply < credits < said.index(t("state", "en", summary=SUMMARY))
    assert buttons(console) == [next_steps()]


async def test_chats_run_concurrently(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: chat B is answered while chat A's job is still running."""
    standin.behaviour.heartbeat_seconds = 1.5
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        a = console.push_nowait(ASK, chat_id="a")
        await until(lambda: standin.sse_started == 1)
        await console.push_message("credits", chat_id="b")
        assert engine.busy(console.chat_key("a")) and not a.done()
        assert texts(console, "b") == [t("credits", "en", available=100, frozen=0, total=100)]
        assert t("queued", "en") not in texts(console, "b")
        await console.wait_idle()
    assert standin.behaviour.sse_text in texts(console, "a")
    assert buttons(console, "a") == [next_steps()]


async def test_cancel_stops_job_and_queue(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: /cancel stops the running turn and drops what was queued behind it."""
    standin.behaviour.heartbeat_seconds = 5.0
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait(ASK)
        await until(lambda: standin.sse_started == 1)
        console.push_nowait("credits")
        await until(lambda: t("queued", "en") in texts(console))
        await console.push_message("/cancel")
        await console.wait_idle()
        assert not engine.busy(console.chat_key())
        await console.push_message("/cancel")
    said = texts(console)
    assert t("cancelled", "en") in said
    assert standin.behaviour.sse_text not in said
    assert not any(s.startswith("💳") for s in said)  # the queued request was dropped
    assert said[-1] == t("nothing_to_cancel", "en")


async def test_restart_during_render_delivers_result(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: the bot stops while a render runs; a new Engine over the same SQLite file delivers it."""
    standin.behaviour.render_seconds = 3600
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait("export", chat_id="r")
        await until(lambda: standin.count("/api/render/proxy/lambda/") >= 2)
        jobs = await engine.store.in_flight_jobs()
        assert [j.chat_key for j in jobs] == ["console:r"]
    # the first engine is gone (its tasks cancelled); the render finishes meanwhile
    assert console.sent(VideoFile) == []
    standin.behaviour.render_seconds = 0
    async with engine_harness(standin.base_url, tmp_path) as (engine2, console2):
        assert await engine2.resume(console2.replier_for) == 1
        await engine2.wait_background()
        assert await engine2.store.in_flight_jobs() == []
        job = await engine2.store.get_job(jobs[0].render_id)
    assert job is not None and job.status == "delivered"
    videos = [o for o in console2.sent(VideoFile, "r") if isinstance(o, VideoFile)]
    assert len(videos) == 1 and videos[0].path.read_bytes().startswith(FAKE_MP4)
    assert texts(console2, "r")[0] == t("resumed", "en")


async def test_stopped_while_asking_for_the_render_asks_again_at_restart(
    standin: StandIn, tmp_path: Path
) -> None:
    """Stand-in + real Engine, console and SQLite file: the bot stops while its render request is
    still out (SIGTERM on a busy box). The job was stored first, so the progress message says the
    render carries on, and the next start asks for the same render id again and delivers it."""
    standin.behaviour.render_start_seconds = 2
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait("export", chat_id="s")
        await until(lambda: len(standin.render_bodies) == 1)
        jobs = await engine.store.in_flight_jobs()
        assert [(j.chat_key, j.status) for j in jobs] == [("console:s", "starting")]
    assert console.sent(VideoFile) == []
    assert progress(console, "s")[-1] == t("render_interrupted", "en")
    standin.behaviour.render_start_seconds = 0
    async with engine_harness(standin.base_url, tmp_path) as (engine2, console2):
        assert await engine2.resume(console2.replier_for) == 1
        await engine2.wait_background()
        assert await engine2.store.in_flight_jobs() == []
        job = await engine2.store.get_job(jobs[0].render_id)
    assert job is not None and job.status == "delivered"
    assert [b["id"] for b in standin.render_bodies] == [jobs[0].render_id] * 2
    assert len(console2.sent(VideoFile, "s")) == 1
    assert texts(console2, "s")[0] == t("resumed", "en")


async def test_upload_errors(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 4001 -> the backend's reason, then the formats; 4002 -> compress/trim; >500 MB
    refused before any upload."""
    pdf = tmp_path / "brief.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    vid = tmp_path / "clip.mp4"
    vid.write_bytes(FAKE_MP4)
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("", [pdf])
        standin.fail("upload", 4002)
        await console.push_message("", [vid])
        uploads_before = standin.count("/api/upload-video")
        huge = Attachment(
            name="huge.mp4",
            mime="video/mp4",
            size=600 * 1024 * 1024,
            url="https://example.test/huge.mp4",
        )
        await engine.handle(Inbound("local", "u", "you", "", (huge,)), console.replier())
        assert standin.count("/api/upload-video") == uploads_before
    said = texts(console)
    assert said == [
        t("err_formats_reason", "en", message="brief.pdf: this file type is not supported."),
        t("err_too_large", "en"),
        t("err_too_large", "en"),
    ]


async def test_export_blocked_and_upload_hint(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 402 on export -> the upgrade message; "upload" with no file -> how to attach."""
    standin.fail("render_start", 402)
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("export")
        await console.push_message("上传")
    assert texts(console) == [t("err_upgrade", "en"), t("upload_hint", "zh")]


async def test_commands(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: /start, /help, /new (a fresh session), /credits, /status."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("/start")
        await console.push_message("/help")
        await console.push_message("/status")
        first = (await engine.store.chat(console.chat_key())).session_id
        await console.push_message("/new")
        second = (await engine.store.chat(console.chat_key())).session_id
        await console.push_message("/credits")
    assert first and second and first != second
    assert texts(console) == [
        t("greeting", "en"),
        t("help", "en"),
        t("state_empty", "en"),
        t("new_session", "en"),
        t("credits", "en", available=100, frozen=0, total=100),
    ]


async def test_tokens_never_logged(
    standin: StandIn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Stand-in: with DEBUG logging through the redaction filter, no token or signature appears."""
    from bot.redact import RedactingFilter

    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG):
        async with engine_harness(standin.base_url, tmp_path) as (_e, console):
            await console.push_message(ASK)
            await console.push_message("export")
    assert len(console.sent(VideoFile)) == 1
    logged = caplog.text
    assert "httpx" in logged or "HTTP Request" in logged or "bot." in logged
    for token in standin.tokens:
        assert token not in logged
    assert "secret-signature" not in logged
    assert texts(console) == [standin.behaviour.sse_text]
    assert buttons(console) == [next_steps()]


async def test_cancel_during_render_is_not_resumed(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: /cancel while a render is polled -> the job is settled, a restart does not resume it."""
    standin.behaviour.render_seconds = 3600
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait("export")
        await until(lambda: standin.count("/api/render/proxy/lambda/") >= 1)
        [job] = await engine.store.in_flight_jobs()
        await console.push_message("/cancel")
        await console.wait_idle()
        assert await engine.store.in_flight_jobs() == []
    assert t("cancelled", "en") in texts(console)
    assert console.sent(VideoFile) == []
    progress(console)  # the export's progress line, read: it has no result to announce
    # The render finishes now; an engine restarted on the same store must not pick it up.
    standin.behaviour.render_seconds = 0
    polls = standin.count("/api/render/proxy/lambda/", "GET")
    async with engine_harness(standin.base_url, tmp_path) as (engine2, console2):
        assert await engine2.resume(console2.replier_for) == 0
        await engine2.wait_background()
        stored = await engine2.store.get_job(job.render_id)
    assert stored is not None and stored.status == "cancelled"
    assert console2.texts() == []  # no "resumed" notice, no video
    assert standin.count("/api/render/proxy/lambda/", "GET") == polls
    assert standin.count("/files/") == 0


async def test_language_kept_per_chat_across_restart(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a chat that wrote Chinese gets Chinese replies to language-less commands, even after a restart."""
    standin.behaviour.voiced = False  # an empty project, as the real backend starts one
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("积分")
    async with engine_harness(standin.base_url, tmp_path) as (_e, console2):
        await console2.push_message("/credits")
        await console2.push_message("/status", chat_id="other")
    assert texts(console2) == [t("credits", "zh", available=100, frozen=0, total=100)]
    assert texts(console2, "other") == [t("state_empty", "en")]
    assert texts(console) == [t("credits", "zh", available=100, frozen=0, total=100)]


async def test_button_press_keeps_the_chat_language(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a Chinese chat presses "slower" (the engine's own English payload) -> still Chinese."""
    async with engine_harness(standin.base_url, tmp_path) as (_e, console):
        await console.push_message("用自然的男声为我的脚本配音")
        offered = [o for o in console.sent(Buttons) if isinstance(o, Buttons)]
        before = len(console.outputs)
        assert offered and offered[-1].text == t("next_steps", "zh")
        payloads = [b.command for b in offered[-1].buttons]
        assert "slower" in payloads
        await console.push_message("slower")  # what pressing the "慢一点" button sends
        await console.push_message("/credits")
    rows = [o for o in console.sent(Buttons) if isinstance(o, Buttons)][len(offered) :]
    assert [b.text for b in rows] == [t("next_steps", "zh")]
    assert [b.label for b in rows[0].buttons] == [
        t("button_export", "zh"),
        t("button_slower", "zh"),
        t("button_vertical", "zh"),
    ]
    later = console.outputs[before:]
    steps = [r.out.text for r in console.records(Progress) if r in later]
    assert steps and steps[-1].endswith(t("done", "zh")) and "正在生成配音" in steps[-1]
    assert texts(console)[-1] == t("credits", "zh", available=100, frozen=0, total=100)


async def test_a_restart_tells_queued_and_running_messages(
    standin: StandIn, tmp_path: Path
) -> None:
    """Stand-in: the adapter cancels its handlers on shutdown. The message being worked on and the
    one waiting in line each get a notice (a platform never sends them again), not silence."""
    standin.behaviour.heartbeat_seconds = 5.0
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        running = console.push_nowait(ASK)
        await until(lambda: standin.sse_started == 1)
        waiting = console.push_nowait("make it vertical please")
        await until(lambda: t("queued", "en") in texts(console))
        waiting.cancel()
        running.cancel()
        await console.wait_idle()
    said = texts(console)
    assert t("restart_queued", "en", text="make it vertical please") in said
    assert any(s.startswith("🔄 The bot is restarting in the middle of") for s in said)
