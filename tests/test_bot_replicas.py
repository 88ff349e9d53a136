"""Bot replicas sharing one PostgreSQL (``BOT_DATABASE_URL``): real Engines over a real database
(``tests/support/services.py``), against the stand-in backend. One replica dies; another keeps
serving the chat, with its session, and delivers the render the dead one was following, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.messages import VideoFile
from bot.texts import t
from storage.postgres import PgChatStore
from tests.support.services import Services
from tests.support.standin import (
    FAKE_MP4,
    StandIn,
    buttons,
    engine_harness,
    next_steps,
    texts,
)

ASK = "generate a natural male voiceover in English for my script"


@pytest.fixture
def bot_db(services: Services) -> str:
    return services.database("bots_" + uuid.uuid4().hex[:10])


async def until(cond: Callable[[], bool]) -> None:
    """Wait for a condition (a guard against hangs, not a timing assertion)."""
    async with asyncio.timeout(10):
        while not cond():  # noqa: ASYNC110 - the condition lives in another thread (the stand-in)
            await asyncio.sleep(0.01)


async def test_a_second_replica_serves_the_chat_with_its_session(
    standin: StandIn, tmp_path: Path, bot_db: str
) -> None:
    async with engine_harness(standin.base_url, tmp_path / "a", database_url=bot_db) as (
        engine_a,
        console_a,
    ):
        assert isinstance(engine_a.store, PgChatStore)
        await console_a.push_message(ASK, chat_id="c1")
        record = await engine_a.store.get_chat("console:c1")
        assert record is not None and record.session_id
    assert texts(console_a, "c1") == [standin.behaviour.sse_text]
    assert buttons(console_a, "c1") == [next_steps()]
    # replica A is gone; B, with a data dir of its own, gets the chat's next message
    async with engine_harness(standin.base_url, tmp_path / "b", database_url=bot_db) as (
        _engine_b,
        console_b,
    ):
        await console_b.push_message("export", chat_id="c1")
    [body] = standin.render_bodies
    assert body["sessionId"] == record.session_id  # the same session, not a new one
    assert len(console_b.sent(VideoFile, "c1")) == 1
    assert texts(console_b, "c1") == []
    assert not (tmp_path / "b" / "data" / "bot.sqlite3").exists()


async def test_the_render_of_a_dead_replica_is_delivered_once(
    standin: StandIn, tmp_path: Path, bot_db: str
) -> None:
    standin.behaviour.render_seconds = 3600
    async with engine_harness(standin.base_url, tmp_path / "a", database_url=bot_db) as (
        engine_a,
        console_a,
    ):
        console_a.push_nowait("export", chat_id="r")
        await until(lambda: standin.count("/api/render/proxy/lambda/") >= 2)
        async with engine_harness(standin.base_url, tmp_path / "b", database_url=bot_db) as (
            engine_b,
            console_b,
        ):
            # B starts while A still follows the render: B must leave it to A
            assert await engine_b.resume(console_b.replier_for) == 0
        [job] = await engine_a.store.in_flight_jobs()
    assert console_a.sent(VideoFile) == []  # A died before the render finished
    standin.behaviour.render_seconds = 0
    harness_c = engine_harness(standin.base_url, tmp_path / "c", database_url=bot_db)
    harness_d = engine_harness(standin.base_url, tmp_path / "d", database_url=bot_db)
    async with harness_c as (engine_c, console_c), harness_d as (engine_d, console_d):
        resumed = await asyncio.gather(
            engine_c.resume(console_c.replier_for), engine_d.resume(console_d.replier_for)
        )
        assert sorted(resumed) == [0, 1]  # two replicas starting together: one takes it
        await engine_c.wait_background()
        await engine_d.wait_background()
        done = await engine_c.store.get_job(job.render_id)
    assert done is not None and done.status == "delivered"
    videos = console_c.sent(VideoFile, "r") + console_d.sent(VideoFile, "r")
    assert len(videos) == 1
    assert isinstance(videos[0], VideoFile) and videos[0].path.read_bytes().startswith(FAKE_MP4)
    said = texts(console_c, "r") + texts(console_d, "r")
    assert said.count(t("resumed", "en")) == 1
