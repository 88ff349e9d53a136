"""Storage tests on a real SQLite file in tmp_path."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from storage import ChatRecord, ChatStore
from storage.db import MIGRATIONS


async def test_schema_created_in_wal_and_reopen_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "bot.sqlite3"
    async with await ChatStore.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS)
        assert (await store.journal_mode()).lower() == "wal"
        await store.update_chat("console:1", session_id="s1", language="zh")
    async with await ChatStore.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS)
        rec = await store.get_chat("console:1")
    assert rec is not None and rec.session_id == "s1" and rec.language == "zh"
    with sqlite3.connect(path) as raw:
        versions = raw.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


async def test_a_version_1_file_is_migrated_and_keeps_its_chats(tmp_path: Path) -> None:
    """A file written by the first release (schema 1) gains the upload-watch table on open."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
        )
        raw.executescript(MIGRATIONS[0])
        raw.execute("INSERT INTO schema_version VALUES (1, 0)")
        raw.execute("INSERT INTO chats (chat_key, session_id, updated) VALUES ('tg:5', 's5', 0)")
    async with await ChatStore.open(path) as store:
        assert await store.schema_version() == len(MIGRATIONS) >= 2
        rec = await store.get_chat("tg:5")
        assert rec is not None and rec.session_id == "s5"
        assert await store.upload_watches() == []


async def test_upload_watches_replace_expire_and_remove(tmp_path: Path) -> None:
    async with await ChatStore.open(tmp_path / "w.db") as store:
        now = time.time()
        await store.add_upload_watch("tg:1", {"a"}, now + 60)
        await store.add_upload_watch("tg:1", {"a", "b"}, now + 120)  # a new link replaces the old
        await store.add_upload_watch("dc:2", set(), now - 1)  # already expired
        watches = await store.upload_watches()
        assert [(w.chat_key, w.known) for w in watches] == [("tg:1", frozenset({"a", "b"}))]
        await store.remove_upload_watch("tg:1")
    async with await ChatStore.open(tmp_path / "w.db") as store:
        assert await store.upload_watches() == []


async def test_chat_round_trip_and_secret_repr(tmp_path: Path) -> None:
    async with await ChatStore.open(tmp_path / "b.db") as store:
        assert await store.get_chat("tg:9") is None
        rec = await store.chat("tg:9")
        assert rec == ChatRecord("tg:9")
        rec.client_id, rec.token, rec.token_expiry, rec.bind_id = (
            "cid",
            "tok_very_secret",
            123.5,
            "b1",
        )
        await store.save_chat(rec)
        again = await store.get_chat("tg:9")
        assert again == rec
        assert "tok_very_secret" not in repr(again)
        updated = await store.update_chat("tg:9", voice="joe")
        assert updated.voice == "joe" and updated.token == "tok_very_secret"


async def test_in_flight_jobs(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    async with await ChatStore.open(path) as store:
        await store.add_job("tg:1", "render_1", "s1")
        await store.add_job("tg:2", "render_2", "s2")
        await store.set_job_status("render_2", "rendering")
        await store.add_job("tg:3", "render_3", "s3")
        await store.set_job_status("render_3", "delivered")
    async with await ChatStore.open(path) as store:  # survives a restart
        jobs = await store.in_flight_jobs()
        assert [(j.render_id, j.status) for j in jobs] == [
            ("render_1", "queued"),
            ("render_2", "rendering"),
        ]
        await store.set_job_status("render_1", "failed")
        assert [j.render_id for j in await store.in_flight_jobs()] == ["render_2"]
        await store.add_job("tg:2", "render_4", "s2")
        assert await store.settle_chat_jobs("tg:2", "cancelled") == 2
        assert await store.in_flight_jobs() == []
        job = await store.get_job("render_3")
        assert job is not None and job.chat_key == "tg:3" and job.status == "delivered"


async def test_per_chat_settings(tmp_path: Path) -> None:
    async with await ChatStore.open(tmp_path / "b.db") as store:
        assert await store.get_setting("tg:1", "voice", "default") == "default"
        await store.set_setting("tg:1", "voice", "joe")
        await store.set_setting("tg:1", "voice", "amy")
        await store.set_setting("tg:2", "voice", "joe")
        assert await store.get_setting("tg:1", "voice") == "amy"
        assert await store.get_setting("tg:2", "voice") == "joe"


async def test_backend_store_adopts_a_data_dir_from_before_versioned_migrations(
    tmp_path: Path,
) -> None:
    """Real SQLite: a backend.sqlite3 written by the old opener (tables, PRAGMA user_version, no
    schema_version table) opens through the shared migration runner with its rows kept."""
    from backend.state.store import MIGRATIONS as BACKEND_MIGRATIONS
    from backend.state.store import BackendStore
    from storage.sqlite import schema_version

    path = tmp_path / "backend.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(BACKEND_MIGRATIONS[0])
        db.execute("PRAGMA user_version=1")
        db.execute(
            "INSERT INTO identities (id, client_id, created, credits) VALUES ('id1', 'c1', 0, 77)"
        )
    store = await BackendStore.open(path)
    try:
        assert await schema_version(store.db) == len(BACKEND_MIGRATIONS)
        ident = await store.identity("id1")
        assert ident is not None and ident.credits == 77
    finally:
        await store.close()
    store = await BackendStore.open(path)  # a second start runs no step again
    try:
        async with store.db.execute("SELECT COUNT(*) FROM schema_version") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == len(BACKEND_MIGRATIONS)
    finally:
        await store.close()
