"""The bot's store in PostgreSQL (``BOT_DATABASE_URL``), so bot replicas share the chat -> session
map, the in-flight renders and the upload watches: a chat keeps its session whichever replica
(Telegram webhook behind a load balancer, one Discord shard each) gets its next message.

A replica follows only the renders and upload links it started, or took over from a replica that
is gone: each replica holds an advisory lock while it lives, so a starting replica resumes what no
live one is following, and never what another is (no video delivered twice).

``PgChatStore`` subclasses ``ChatStore`` only to be accepted wherever the engine takes one: it
overrides every method (tests/test_chat_stores.py checks that none is inherited) and never
touches SQLite. Tables live in the ``vo_bot`` schema (``storage.pg``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg

from storage.db import (
    _CHAT_FIELDS,
    ACTIVE_STATUSES,
    SEEN_UPDATES_SECONDS,
    ChatRecord,
    ChatStore,
    JobRecord,
    UploadWatch,
)
from storage.pg import (
    Pool,
    ReplicaLife,
    is_postgres_url,
    open_pg,
    owner_gone,
    pg_schema_version,
)

SCHEMA = "vo_bot"
Params = tuple[Any, ...] | dict[str, Any]

MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE chats (
    chat_key     TEXT PRIMARY KEY,
    client_id    TEXT,
    token        TEXT,
    token_expiry DOUBLE PRECISION,
    session_id   TEXT,
    bind_id      TEXT,
    language     TEXT,
    voice        TEXT,
    updated      DOUBLE PRECISION NOT NULL
);
CREATE TABLE render_jobs (
    render_id  TEXT PRIMARY KEY,
    chat_key   TEXT NOT NULL,
    session_id TEXT,
    started    DOUBLE PRECISION NOT NULL,
    status     TEXT NOT NULL,
    updated    DOUBLE PRECISION NOT NULL
);
CREATE INDEX render_jobs_status ON render_jobs(status);
CREATE TABLE settings (
    chat_key TEXT NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT,
    PRIMARY KEY (chat_key, key)
);
CREATE TABLE upload_watches (
    chat_key TEXT PRIMARY KEY,
    known    TEXT NOT NULL,
    deadline DOUBLE PRECISION NOT NULL
);
    """,
    # 2: which bot replica follows a render or watches an upload link (its owner key, held as a
    # session advisory lock while that replica lives), so a starting replica takes over only the
    # ones whose replica is gone.
    """
ALTER TABLE render_jobs ADD COLUMN owner BIGINT;
ALTER TABLE upload_watches ADD COLUMN owner BIGINT;
    """,
    # 3: platform updates already taken: Telegram redelivers a webhook update it got no answer
    # for, maybe through the load balancer to another replica; each is handled once.
    """
CREATE TABLE seen_updates (
    platform  TEXT NOT NULL,
    update_id BIGINT NOT NULL,
    seen      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, update_id)
);
    """,
)

# Rows this replica may take: unowned, its own, or owned by a replica that is gone; then only
# those of a gone one (a live replica's own rows fail owner_gone: it holds its key).
_TAKEABLE = "(owner = %(me)s OR " + owner_gone() + ")"
_ORPHANED = owner_gone()
_PLATFORM = "(%(platform)s::text IS NULL OR split_part(chat_key, ':', 1) = %(platform)s)"
CHAT_LOCK_POLL_SECONDS = 0.2


async def open_chat_store(target: str | Path) -> ChatStore:
    """PostgreSQL for a ``postgresql://`` URL, else the SQLite file at that path."""
    if is_postgres_url(str(target)):
        return await PgChatStore.open(str(target))
    return await ChatStore.open(target)


def _job(row: dict[str, Any]) -> JobRecord:
    return JobRecord(
        row["render_id"], row["chat_key"], row["session_id"], row["started"], row["status"]
    )


class PgChatStore(ChatStore):
    """Async access to the bot's tables in PostgreSQL; one pool per process."""

    def __init__(self, pool: Pool, url: str) -> None:  # no super().__init__: no SQLite here
        self._pool = pool
        self._life = ReplicaLife(url, "bot")

    @property
    def owner(self) -> int:
        return self._life.owner

    @classmethod
    async def open(cls, path: Path | str) -> PgChatStore:
        """``path`` is the database URL; the schema is created and migrated as needed."""
        store = cls(await open_pg(str(path), MIGRATIONS, SCHEMA, max_size=5), str(path))
        try:
            await store._alive()
        except BaseException:
            await store._pool.close()
            raise
        return store

    async def _alive(self) -> None:
        await self._life.ensure()

    async def close(self) -> None:
        await self._life.close()
        await self._pool.close()

    async def _one(self, query: str, args: Params = ()) -> dict[str, Any] | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return await cur.fetchone()

    async def _all(self, query: str, args: Params = ()) -> list[dict[str, Any]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return await cur.fetchall()

    async def _run(self, query: str, args: Params = ()) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return cur.rowcount

    async def schema_version(self) -> int:
        async with self._pool.connection() as conn:
            return await pg_schema_version(conn)

    async def journal_mode(self) -> str:
        """PostgreSQL has no journal mode; its write-ahead log is always on."""
        return "wal"

    # chats
    async def get_chat(self, chat_key: str) -> ChatRecord | None:
        row = await self._one("SELECT * FROM chats WHERE chat_key = %s", (chat_key,))
        if row is None:
            return None
        return ChatRecord(**{name: row[name] for name in _CHAT_FIELDS})

    async def chat(self, chat_key: str) -> ChatRecord:
        """The chat's record, created empty on first use (two replicas at once: one row)."""
        await self._run(
            "INSERT INTO chats (chat_key, updated) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (chat_key, time.time()),
        )
        record = await self.get_chat(chat_key)
        assert record is not None
        return record

    async def save_chat(self, record: ChatRecord) -> None:
        values = [getattr(record, name) for name in _CHAT_FIELDS]
        cols = ", ".join(_CHAT_FIELDS)
        marks = ", ".join("%s" for _ in _CHAT_FIELDS)
        updates = ", ".join(f"{n} = excluded.{n}" for n in _CHAT_FIELDS[1:])
        await self._run(
            f"INSERT INTO chats ({cols}, updated) VALUES ({marks}, %s) "
            f"ON CONFLICT (chat_key) DO UPDATE SET {updates}, updated = excluded.updated",
            (*values, time.time()),
        )

    async def update_chat(self, chat_key: str, **changes: Any) -> ChatRecord:
        """Only the named columns are written, so two replicas changing different fields of one
        chat do not undo each other."""
        for name in changes:
            if name not in _CHAT_FIELDS or name == "chat_key":
                raise KeyError(name)
        await self.chat(chat_key)
        if changes:
            sets = ", ".join(f"{name} = %s" for name in changes)
            await self._run(
                f"UPDATE chats SET {sets}, updated = %s WHERE chat_key = %s",
                (*changes.values(), time.time(), chat_key),
            )
        record = await self.get_chat(chat_key)
        assert record is not None
        return record

    # render jobs
    async def add_job(
        self, chat_key: str, render_id: str, session_id: str | None, status: str = "queued"
    ) -> None:
        now = time.time()
        await self._alive()
        await self._run(
            "INSERT INTO render_jobs (render_id, chat_key, session_id, started, status, updated,"
            " owner) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (render_id) DO UPDATE SET"
            " chat_key = excluded.chat_key, session_id = excluded.session_id,"
            " started = excluded.started, status = excluded.status, updated = excluded.updated,"
            " owner = excluded.owner",
            (render_id, chat_key, session_id, now, status, now, self.owner),
        )

    async def set_job_status(self, render_id: str, status: str) -> None:
        await self._run(
            "UPDATE render_jobs SET status = %s, updated = %s WHERE render_id = %s",
            (status, time.time(), render_id),
        )

    async def settle_chat_jobs(self, chat_key: str, status: str) -> int:
        return await self._run(
            "UPDATE render_jobs SET status = %s, updated = %s"
            " WHERE chat_key = %s AND status = ANY(%s)",
            (status, time.time(), chat_key, list(ACTIVE_STATUSES)),
        )

    async def get_job(self, render_id: str) -> JobRecord | None:
        row = await self._one(
            "SELECT render_id, chat_key, session_id, started, status FROM render_jobs"
            " WHERE render_id = %s",
            (render_id,),
        )
        return _job(row) if row else None

    async def in_flight_jobs(
        self, platform: str | None = None, *, orphans_only: bool = False
    ) -> list[JobRecord]:
        """Renders started but not delivered whose replica is gone (or this one's, unless
        ``orphans_only``), now this replica's to follow: two replicas never both take one."""
        await self._alive()
        rows = await self._all(
            "UPDATE render_jobs SET owner = %(me)s WHERE status = ANY(%(active)s) AND "
            + (_ORPHANED if orphans_only else _TAKEABLE)
            + " AND " + _PLATFORM
            + " RETURNING render_id, chat_key, session_id, started, status",
            {"me": self.owner, "active": list(ACTIVE_STATUSES), "platform": platform},
        )  # fmt: skip
        return sorted((_job(row) for row in rows), key=lambda job: job.started)

    # web-upload links waiting for their file
    async def add_upload_watch(self, chat_key: str, known: set[str], deadline: float) -> None:
        await self._alive()
        await self._run(
            "INSERT INTO upload_watches (chat_key, known, deadline, owner) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (chat_key) DO UPDATE SET known = excluded.known,"
            " deadline = excluded.deadline, owner = excluded.owner",
            (chat_key, json.dumps(sorted(known)), deadline, self.owner),
        )

    async def remove_upload_watch(self, chat_key: str) -> None:
        await self._run("DELETE FROM upload_watches WHERE chat_key = %s", (chat_key,))

    async def upload_watches(
        self, platform: str | None = None, *, orphans_only: bool = False
    ) -> list[UploadWatch]:
        """Watches still running whose replica is gone (or this one's, unless ``orphans_only``),
        now this replica's; expired ones are dropped on the way."""
        await self._alive()
        await self._run("DELETE FROM upload_watches WHERE deadline <= %s", (time.time(),))
        rows = await self._all(
            "UPDATE upload_watches SET owner = %(me)s WHERE "
            + (_ORPHANED if orphans_only else _TAKEABLE) + " AND " + _PLATFORM
            + " RETURNING chat_key, known, deadline",
            {"me": self.owner, "platform": platform},
        )  # fmt: skip
        watches = [
            UploadWatch(row["chat_key"], frozenset(json.loads(row["known"])), row["deadline"])
            for row in rows
        ]
        return sorted(watches, key=lambda watch: watch.deadline)

    # one replica at a time per chat, and each platform update once
    shared = True  # other bot replicas use the same chats

    @asynccontextmanager
    async def chat_turn(self, chat_key: str) -> AsyncIterator[object]:
        """Held while a replica handles a message of the chat, so the chat's messages run one at
        a time across replicas (the engine's own lock orders them inside one): an advisory lock
        on this replica's connection, freed at once if the replica dies."""
        name = "chat:" + chat_key
        while not await self._life.try_lock(name):  # noqa: ASYNC110 - the holder is another process
            await asyncio.sleep(CHAT_LOCK_POLL_SECONDS)
        try:
            yield None
        finally:
            with suppress(psycopg.Error):  # a lost connection took the lock with it
                await asyncio.shield(self._life.unlock(name))

    async def chat_elsewhere(self, chat_key: str) -> bool:
        """Another replica is handling a message of this chat (this one will wait its turn)."""
        return await self._life.held_elsewhere("chat:" + chat_key)

    async def exporting_elsewhere(self, chat_key: str) -> bool:
        """Another replica holds the chat and a render of it is in flight: an export asked for
        meanwhile (a double tap landing on two replicas) would make the same video twice."""
        if not await self.chat_elsewhere(chat_key):
            return False
        row = await self._one(
            "SELECT 1 AS x FROM render_jobs WHERE chat_key = %s AND status = ANY(%s) LIMIT 1",
            (chat_key, list(ACTIVE_STATUSES)),
        )
        return row is not None

    async def claim_update(self, platform: str, update_id: int) -> bool:
        """True the first time a platform's update is seen by any replica, False after."""
        now = time.time()
        fresh = await self._run(
            "INSERT INTO seen_updates (platform, update_id, seen) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (platform, update_id, now),
        )
        if fresh and update_id % 500 == 0:
            await self._run(
                "DELETE FROM seen_updates WHERE seen < %s", (now - SEEN_UPDATES_SECONDS,)
            )
        return fresh == 1

    # per-chat settings
    async def get_setting(self, chat_key: str, key: str, default: str | None = None) -> str | None:
        row = await self._one(
            "SELECT value FROM settings WHERE chat_key = %s AND key = %s", (chat_key, key)
        )
        return row["value"] if row else default

    async def set_setting(self, chat_key: str, key: str, value: str | None) -> None:
        await self._run(
            "INSERT INTO settings (chat_key, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (chat_key, key) DO UPDATE SET value = excluded.value",
            (chat_key, key, value),
        )
