"""The bot's chat store on both engines, the same assertions: SQLite (one bot) and PostgreSQL (bot
replicas sharing chats; a real server from ``tests/support/services.py``, a fresh database each)."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from storage import ChatStore
from storage.postgres import PgChatStore, open_chat_store
from tests.support.services import Services


@pytest.fixture
def pg_url(services: Services) -> str:
    return services.database("chat_" + uuid.uuid4().hex[:10])


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChatStore]:
    target = (
        tmp_path / "bot.sqlite3" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    )
    opened = await open_chat_store(target)
    assert isinstance(opened, PgChatStore) == (request.param == "postgres")
    async with opened:
        yield opened


async def test_chat_round_trip(store: ChatStore) -> None:
    assert await store.get_chat("tg:1") is None
    fresh = await store.chat("tg:1")
    assert fresh.session_id is None
    await store.update_chat("tg:1", session_id="s1", token="secret-token", language="zh")
    got = await store.get_chat("tg:1")
    assert got is not None and (got.session_id, got.token, got.language) == (
        "s1",
        "secret-token",
        "zh",
    )
    assert "secret-token" not in repr(got)
    got.voice = "joe"
    await store.save_chat(got)
    again = await store.chat("tg:1")
    assert (again.voice, again.session_id) == ("joe", "s1")
    with pytest.raises(KeyError):
        await store.update_chat("tg:1", nonsense=1)
    assert await store.schema_version() >= 1


async def test_render_jobs_in_flight_and_settled(store: ChatStore) -> None:
    await store.add_job("tg:1", "r1", "s1")
    await store.add_job("tg:1", "r2", "s1", status="rendering")
    await store.add_job("tg:2", "r3", None)
    await store.set_job_status("r3", "delivered")
    assert [j.render_id for j in await store.in_flight_jobs()] == ["r1", "r2"]
    assert await store.settle_chat_jobs("tg:1", "cancelled") == 2
    assert await store.in_flight_jobs() == []
    job = await store.get_job("r2")
    assert job is not None and (job.chat_key, job.status) == ("tg:1", "cancelled")
    assert await store.get_job("nope") is None


async def test_upload_watches_replace_expire_and_remove(store: ChatStore) -> None:
    later = time.time() + 600
    await store.add_upload_watch("tg:1", {"a"}, later)
    await store.add_upload_watch("tg:1", {"a", "b"}, later + 1)  # one per chat
    await store.add_upload_watch("tg:2", set(), time.time() - 1)  # already expired
    watches = await store.upload_watches()
    assert [(w.chat_key, w.known) for w in watches] == [("tg:1", frozenset({"a", "b"}))]
    await store.remove_upload_watch("tg:1")
    assert await store.upload_watches() == []


async def test_settings(store: ChatStore) -> None:
    assert await store.get_setting("tg:1", "voice", "default") == "default"
    await store.set_setting("tg:1", "voice", "joe")
    await store.set_setting("tg:1", "voice", "amy")
    assert await store.get_setting("tg:1", "voice") == "amy"
    assert await store.get_setting("tg:2", "voice") is None


def test_the_postgres_store_inherits_no_sqlite_method() -> None:
    public = {
        name
        for name, member in inspect.getmembers(ChatStore, inspect.isfunction)
        if not name.startswith("_") or name in ("__aenter__", "__aexit__")
    }
    mine = set(vars(PgChatStore))
    assert public - mine <= {"__aenter__", "__aexit__"}, public - mine


def test_bot_settings_pick_the_database() -> None:
    assert Settings(data_dir=Path("d")).store_target == Path("d") / "bot.sqlite3"
    url = "postgresql://u:p@127.0.0.1:1/db"
    settings = Settings(data_dir=Path("d"), database_url=url)
    assert settings.store_target == url
    assert "u:p" not in repr(settings)


async def test_a_second_bot_replica_carries_on_the_chat(pg_url: str) -> None:
    """Replica A links a chat to its session, starts a render and a web-upload watch, then dies;
    replica B, on the same database, sees all three."""
    a = await open_chat_store(pg_url)
    b = await open_chat_store(pg_url)
    try:
        await a.update_chat("tg:42", session_id="sess-42", token="tok", language="en")
        await a.add_job("tg:42", "render-42", "sess-42")
        await a.add_upload_watch("tg:42", {"m1"}, time.time() + 600)
        await a.close()
        chat = await b.get_chat("tg:42")
        assert chat is not None and (chat.session_id, chat.token) == ("sess-42", "tok")
        assert [j.render_id for j in await b.in_flight_jobs()] == ["render-42"]
        assert [w.chat_key for w in await b.upload_watches()] == ["tg:42"]
    finally:
        await b.close()


async def test_two_replicas_meeting_a_new_chat_make_one_row(pg_url: str) -> None:
    a = await open_chat_store(pg_url)
    b = await open_chat_store(pg_url)
    try:
        await asyncio.gather(*((a if i % 2 else b).chat("dc:7") for i in range(10)))
        await asyncio.gather(
            a.update_chat("dc:7", session_id="s"), b.update_chat("dc:7", language="zh")
        )
        chat = await a.get_chat("dc:7")
        assert chat is not None and (chat.session_id, chat.language) == ("s", "zh")
    finally:
        await a.close()
        await b.close()


async def test_a_starting_replica_takes_over_only_what_no_live_replica_follows(pg_url: str) -> None:
    """Replica A follows a render and watches an upload link. B starting beside it resumes
    neither (A would deliver the video twice otherwise); once A is gone, the next replica to ask
    takes both, and one starting after that gets nothing."""
    a = await open_chat_store(pg_url)
    b = await open_chat_store(pg_url)
    c = await open_chat_store(pg_url)
    try:
        await a.add_job("tg:1", "r-a", "s")
        await a.add_upload_watch("tg:1", {"m"}, time.time() + 600)
        await b.add_job("tg:2", "r-b", "s")
        assert [j.render_id for j in await a.in_flight_jobs()] == ["r-a"]  # its own, again
        assert await c.in_flight_jobs() == []
        assert await c.upload_watches() == []
        await a.close()  # A dies: its advisory lock goes with its connection
        taken, watches = await asyncio.gather(c.in_flight_jobs(), c.upload_watches())
        assert [j.render_id for j in taken] == ["r-a"]
        assert [w.chat_key for w in watches] == ["tg:1"]
        d = await open_chat_store(pg_url)
        try:
            assert await d.in_flight_jobs() == []
            assert await d.upload_watches() == []
        finally:
            await d.close()
    finally:
        await b.close()
        await c.close()


async def test_two_replicas_starting_together_split_the_orphans(pg_url: str) -> None:
    gone = await open_chat_store(pg_url)
    for i in range(20):
        await gone.add_job(f"tg:{i}", f"r{i}", "s")
    await gone.close()
    a, b = await open_chat_store(pg_url), await open_chat_store(pg_url)
    try:
        got_a, got_b = await asyncio.gather(a.in_flight_jobs(), b.in_flight_jobs())
        ids_a = {j.render_id for j in got_a}
        ids_b = {j.render_id for j in got_b}
        assert not ids_a & ids_b and len(ids_a | ids_b) == 20
    finally:
        await a.close()
        await b.close()


async def test_a_replica_holds_its_work_again_after_a_postgres_restart(
    pg_url: str, services: Services
) -> None:
    a = await open_chat_store(pg_url)
    try:
        await a.add_job("tg:1", "r1", "s")
        services.stop_postgres()
        services.start_postgres()
        await a.add_job("tg:2", "r2", "s")  # reconnects and takes its lock again
        b = await open_chat_store(pg_url)
        try:
            assert await b.in_flight_jobs() == []
        finally:
            await b.close()
    finally:
        await a.close()
