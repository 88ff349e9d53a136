"""aiosqlite store in WAL mode; the schema is created and migrated by code (`schema_version`).

One connection per process. Tokens live here and nowhere else; nothing in this module logs them.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aiosqlite

from storage.sqlite import open_sqlite, schema_version

log = logging.getLogger(__name__)

# Each entry migrates the schema from version i to i+1. Append only; never edit a shipped step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE chats (
        chat_key     TEXT PRIMARY KEY,
        client_id    TEXT,
        token        TEXT,
        token_expiry REAL,
        session_id   TEXT,
        bind_id      TEXT,
        language     TEXT,
        voice        TEXT,
        updated      REAL NOT NULL
    );
    CREATE TABLE render_jobs (
        render_id  TEXT PRIMARY KEY,
        chat_key   TEXT NOT NULL,
        session_id TEXT,
        started    REAL NOT NULL,
        status     TEXT NOT NULL,
        updated    REAL NOT NULL
    );
    CREATE INDEX render_jobs_status ON render_jobs(status);
    CREATE TABLE settings (
        chat_key TEXT NOT NULL,
        key      TEXT NOT NULL,
        value    TEXT,
        PRIMARY KEY (chat_key, key)
    );
    """,
    # 2: web-upload links waiting for a file, so a restarted bot still tells the chat when it lands.
    """
    CREATE TABLE upload_watches (
        chat_key TEXT PRIMARY KEY,
        known    TEXT NOT NULL,
        deadline REAL NOT NULL
    );
    """,
    # 3: platform updates already taken (Telegram redelivers a webhook update it got no answer for,
    # possibly to another replica behind the load balancer): each is handled once.
    """
    CREATE TABLE seen_updates (
        platform  TEXT NOT NULL,
        update_id INTEGER NOT NULL,
        seen      REAL NOT NULL,
        PRIMARY KEY (platform, update_id)
    );
    """,
)

ACTIVE_STATUSES = ("starting", "queued", "rendering")
SEEN_UPDATES_SECONDS = 86400.0  # Telegram keeps an undelivered update for 24 hours at most


def platform_match(key: str, platform: str | None) -> bool:
    """A chat key belongs to ``platform`` (None: to any)."""
    return platform is None or key.split(":", 1)[0] == platform


@dataclass
class ChatRecord:
    """One chat's link to the backend. `token` is a secret: its repr hides it."""

    chat_key: str
    client_id: str | None = None
    token: str | None = None
    token_expiry: float | None = None
    session_id: str | None = None
    bind_id: str | None = None
    language: str | None = None
    voice: str | None = None

    def __repr__(self) -> str:
        return (
            f"ChatRecord(chat_key={self.chat_key!r}, session_id={self.session_id!r}, "
            f"token={'***' if self.token else None}, language={self.language!r})"
        )


@dataclass(frozen=True)
class JobRecord:
    render_id: str
    chat_key: str
    session_id: str | None
    started: float
    status: str


@dataclass(frozen=True)
class UploadWatch:
    """A chat waiting for a file through its web-upload link: the uploads it had, and until when."""

    chat_key: str
    known: frozenset[str]
    deadline: float


_CHAT_FIELDS = tuple(f.name for f in fields(ChatRecord))


class ChatStore:
    """Async access to the bot's SQLite file."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    @classmethod
    async def open(cls, path: Path | str) -> ChatStore:
        """Open (creating the folder, the file and the schema as needed) and migrate."""
        return cls(await open_sqlite(path, MIGRATIONS, "storage"))

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> ChatStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    async def journal_mode(self) -> str:
        async with self._db.execute("PRAGMA journal_mode") as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else ""

    # chats

    async def get_chat(self, chat_key: str) -> ChatRecord | None:
        async with self._db.execute("SELECT * FROM chats WHERE chat_key = ?", (chat_key,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return ChatRecord(**{name: row[name] for name in _CHAT_FIELDS})

    async def chat(self, chat_key: str) -> ChatRecord:
        """The chat's record, created empty on first use."""
        record = await self.get_chat(chat_key)
        if record is None:
            record = ChatRecord(chat_key)
            await self.save_chat(record)
        return record

    async def save_chat(self, record: ChatRecord) -> None:
        values = [getattr(record, name) for name in _CHAT_FIELDS]
        cols = ", ".join(_CHAT_FIELDS)
        marks = ", ".join("?" for _ in _CHAT_FIELDS)
        updates = ", ".join(f"{n} = excluded.{n}" for n in _CHAT_FIELDS[1:])
        await self._db.execute(
            f"INSERT INTO chats ({cols}, updated) VALUES ({marks}, ?) "
            f"ON CONFLICT(chat_key) DO UPDATE SET {updates}, updated = excluded.updated",
            (*values, time.time()),
        )
        await self._db.commit()

    async def update_chat(self, chat_key: str, **changes: Any) -> ChatRecord:
        record = await self.chat(chat_key)
        for name, value in changes.items():
            if name not in _CHAT_FIELDS or name == "chat_key":
                raise KeyError(name)
            setattr(record, name, value)
        await self.save_chat(record)
        return record

    # render jobs

    async def add_job(
        self, chat_key: str, render_id: str, session_id: str | None, status: str = "queued"
    ) -> None:
        now = time.time()
        await self._db.execute(
            "INSERT OR REPLACE INTO render_jobs (render_id, chat_key, session_id, started, status, updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (render_id, chat_key, session_id, now, status, now),
        )
        await self._db.commit()

    async def set_job_status(self, render_id: str, status: str) -> None:
        await self._db.execute(
            "UPDATE render_jobs SET status = ?, updated = ? WHERE render_id = ?",
            (status, time.time(), render_id),
        )
        await self._db.commit()

    async def settle_chat_jobs(self, chat_key: str, status: str) -> int:
        """Mark the chat's in-flight renders (after /cancel, so a restart does not resume them)."""
        marks = ", ".join("?" for _ in ACTIVE_STATUSES)
        cur = await self._db.execute(
            f"UPDATE render_jobs SET status = ?, updated = ? WHERE chat_key = ? AND status IN ({marks})",
            (status, time.time(), chat_key, *ACTIVE_STATUSES),
        )
        await self._db.commit()
        return cur.rowcount

    async def get_job(self, render_id: str) -> JobRecord | None:
        async with self._db.execute(
            "SELECT render_id, chat_key, session_id, started, status FROM render_jobs WHERE render_id = ?",
            (render_id,),
        ) as cur:
            row = await cur.fetchone()
        return JobRecord(*row) if row else None

    async def in_flight_jobs(
        self, platform: str | None = None, *, orphans_only: bool = False
    ) -> list[JobRecord]:
        """Renders started but not yet delivered: what a restarted bot must pick back up.
        ``orphans_only``: those of a replica that is gone; one process has no other replica."""
        if orphans_only:
            return []
        marks = ", ".join("?" for _ in ACTIVE_STATUSES)
        async with self._db.execute(
            "SELECT render_id, chat_key, session_id, started, status FROM render_jobs "
            f"WHERE status IN ({marks}) ORDER BY started",
            ACTIVE_STATUSES,
        ) as cur:
            rows = await cur.fetchall()
        return [JobRecord(*row) for row in rows if platform_match(row[1], platform)]

    # web-upload links waiting for their file

    async def add_upload_watch(self, chat_key: str, known: set[str], deadline: float) -> None:
        """One watch per chat: a new link replaces the chat's previous one."""
        await self._db.execute(
            "INSERT OR REPLACE INTO upload_watches (chat_key, known, deadline) VALUES (?, ?, ?)",
            (chat_key, json.dumps(sorted(known)), deadline),
        )
        await self._db.commit()

    async def remove_upload_watch(self, chat_key: str) -> None:
        await self._db.execute("DELETE FROM upload_watches WHERE chat_key = ?", (chat_key,))
        await self._db.commit()

    async def upload_watches(
        self, platform: str | None = None, *, orphans_only: bool = False
    ) -> list[UploadWatch]:
        """Watches still running, oldest deadline first; expired ones are dropped on the way."""
        if orphans_only:
            return []
        await self._db.execute("DELETE FROM upload_watches WHERE deadline <= ?", (time.time(),))
        await self._db.commit()
        async with self._db.execute(
            "SELECT chat_key, known, deadline FROM upload_watches ORDER BY deadline"
        ) as cur:
            rows = await cur.fetchall()
        return [
            UploadWatch(row[0], frozenset(json.loads(row[1])), row[2])
            for row in rows
            if platform_match(row[0], platform)
        ]

    # one process at a time per chat, and each platform update once

    shared = False  # one process has the chats to itself (PgChatStore: bot replicas share it)

    def chat_turn(self, chat_key: str) -> AbstractAsyncContextManager[object]:
        """Held while a message of the chat is handled. One process: nothing to hold (the engine
        orders a chat's messages itself); replicas on PostgreSQL hold a lock per chat."""
        return nullcontext()

    async def chat_elsewhere(self, chat_key: str) -> bool:
        """Another replica is handling a message of this chat (never, with one process)."""
        return False

    async def exporting_elsewhere(self, chat_key: str) -> bool:
        """Another replica is following a render of this chat (never, with one process)."""
        return False

    async def claim_update(self, platform: str, update_id: int) -> bool:
        """True the first time a platform's update is seen, False for a redelivery."""
        now = time.time()
        cur = await self._db.execute(
            "INSERT OR IGNORE INTO seen_updates (platform, update_id, seen) VALUES (?, ?, ?)",
            (platform, update_id, now),
        )
        fresh = cur.rowcount == 1
        if fresh and update_id % 500 == 0:
            await self._db.execute(
                "DELETE FROM seen_updates WHERE seen < ?", (now - SEEN_UPDATES_SECONDS,)
            )
        await self._db.commit()
        return fresh

    # per-chat settings

    async def get_setting(self, chat_key: str, key: str, default: str | None = None) -> str | None:
        async with self._db.execute(
            "SELECT value FROM settings WHERE chat_key = ? AND key = ?", (chat_key, key)
        ) as cur:
            row = await cur.fetchone()
        return row[0] if row else default

    async def set_setting(self, chat_key: str, key: str, value: str | None) -> None:
        await self._db.execute(
            "INSERT INTO settings (chat_key, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(chat_key, key) DO UPDATE SET value = excluded.value",
            (chat_key, key, value),
        )
        await self._db.commit()
