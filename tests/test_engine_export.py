"""Export against the STAND-IN backend (tests/support/standin.py): polling through transient
errors, and the render request carrying the session's draft."""

from __future__ import annotations

from pathlib import Path

from bot.messages import VideoFile
from bot.texts import t
from tests.support.standin import (
    DRAFT,
    StandIn,
    buttons,
    engine_harness,
    next_steps,
    progress,
    texts,
)


async def test_polling_rides_out_502_and_429(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a proxy's 502 twice, a 503 and a 429 twice while polling -> still delivered."""
    standin.fail("render_status", 502, times=2)
    standin.fail("render_status", 503)
    standin.fail("render_status", 429, times=2)
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("export")
        assert await engine.store.in_flight_jobs() == []
        jobs = [r.path for r in standin.requests if r.path.startswith("/api/render/proxy/lambda/")]
        job = await engine.store.get_job(jobs[0].rsplit("/", 1)[-1])
    assert len(console.sent(VideoFile)) == 1
    assert job is not None and job.status == "delivered"
    assert len(jobs) >= 6  # every error was followed by another poll
    assert texts(console) == []  # no error reached the chat


async def test_polling_stops_on_definitive_errors(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: 1002 while polling -> the job is failed at once and the user told."""
    standin.behaviour.render_polls = 50
    standin.fail("render_status", 1002)
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        await console.push_message("export")
        assert await engine.store.in_flight_jobs() == []
    assert standin.count("/api/render/proxy/lambda/") == 1
    assert console.sent(VideoFile) == []
    assert texts(console) == [t("err_request_failed", "en")]


async def test_polling_5xx_until_the_ceiling(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: a backend answering 502 for good -> polled until the job ceiling, then that message."""
    standin.fail("render_status", 502, times=10_000)
    async with engine_harness(standin.base_url, tmp_path, job_ceiling_seconds=0.5) as (
        engine,
        console,
    ):
        await console.push_message("export")
        assert await engine.store.in_flight_jobs() == []
    assert standin.count("/api/render/proxy/lambda/") > 2
    assert texts(console) == [t("ceiling", "en", minutes=0)]
    assert not any("Bad Gateway" in p for p in progress(console))


async def test_render_request_carries_the_draft(standin: StandIn, tmp_path: Path) -> None:
    """Stand-in: the export body is the seed's, with the session's current draft in it."""
    async with engine_harness(standin.base_url, tmp_path) as (_engine, console):
        await console.push_message("generate a natural male voiceover in English for my script")
        await console.push_message("export")
    assert len(console.sent(VideoFile)) == 1
    [body] = standin.render_bodies
    assert body["draft"] == DRAFT
    assert body["output"] == {"format": "mp4", "quality": "high"}
    assert body["id"].startswith("render_") and body["sessionId"].startswith("sess_")
    assert texts(console) == [standin.behaviour.sse_text]
    assert buttons(console) == [next_steps()]
