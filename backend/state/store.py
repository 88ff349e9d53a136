"""SQLite persistence for the backend: identities, tokens, credits, sessions, media, render jobs.

One aiosqlite connection per process, WAL mode. Tokens are stored as SHA-256 hashes, never in clear.
Session state is a JSON document (script, settings, draft, generated media, undo history): a
``SessionState`` (``backend.state.model``), migrated from older versions when it is read.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiosqlite

from backend.state.model import SessionState, dump_state, load_state
from backend.state.records import (
    Identity,
    Job,
    MediaItem,
    hash_token,
    identity_row,
    job_row,
    media_row,
)
from storage.sqlite import open_sqlite

# Each entry moves the schema one version up (storage.sqlite). Step 1 uses IF NOT EXISTS so a data
# dir made before versioned migrations adopts it as it is.
MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,              -- also the bind id shown in registration links
    client_id TEXT NOT NULL,
    created REAL NOT NULL,
    credits INTEGER NOT NULL,
    frozen INTEGER NOT NULL DEFAULT 0,
    registered INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS identities_client ON identities(client_id, created);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    issued REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    language TEXT NOT NULL,
    created REAL NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS media (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,               -- script | video | audio | image | voiceover
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mime TEXT NOT NULL,
    info TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS media_session ON media(session_id, created);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    status TEXT NOT NULL,             -- queued | rendering | completed | failed
    progress REAL NOT NULL DEFAULT 0,
    draft TEXT NOT NULL,
    output TEXT,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
    """,
    # Which identity has voiced which sentence (the TTS cache key): the cache's audio is shared,
    # its savings are not, so a second user is charged for a sentence someone else voiced.
    """
CREATE TABLE IF NOT EXISTS voiced (
    identity_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (identity_id, cache_key)
) WITHOUT ROWID;
    """,
)


class BackendStore:
    """All backend state. Each method is one short transaction."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db
        # Check-then-write sequences on the one shared connection run one at a time (statements of
        # two coroutines would otherwise interleave inside one transaction).
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> BackendStore:
        return cls(await open_sqlite(path, MIGRATIONS, "backend store"))

    async def close(self) -> None:
        await self.db.close()

    # identities and tokens -------------------------------------------------------------
    async def last_token_issue(self, client_id: str) -> float | None:
        async with self.db.execute(
            "SELECT MAX(t.issued) FROM tokens t JOIN identities i ON i.id = t.identity_id WHERE i.client_id = ?",
            (client_id,),
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def issue_anonymous(
        self, client_id: str, credits: int, token: str, ttl: int, every: float
    ) -> tuple[Identity, float] | float:
        """A new identity and token for ``client_id``, unless one was issued to it less than
        ``every`` seconds ago: then the time of that issue. Atomic: ten requests at once for one
        client id issue exactly one token. The check and the inserts run under the store's write
        lock (one process owns the data dir) and the identity row is inserted only if no token
        was issued meanwhile, in one statement, so even a second writer could not double it."""
        async with self._write_lock:
            now = time.time()
            try:
                async with self.db.execute(
                    "SELECT MAX(t.issued) FROM tokens t JOIN identities i ON i.id = t.identity_id"
                    " WHERE i.client_id = ?",
                    (client_id,),
                ) as cur:
                    row = await cur.fetchone()
                last = float(row[0]) if row and row[0] is not None else None
                if last is not None and now - last < every:
                    return last
                ident, expires = await self._insert_identity(
                    client_id, credits, token, ttl, now, unless_since=now - every
                )
                if ident is None:  # nothing was inserted
                    return now
                await self.db.commit()
            except BaseException:
                await self.db.rollback()
                raise
            return ident, expires

    async def create_identity(
        self, client_id: str, credits: int, token: str, ttl: int
    ) -> tuple[Identity, float]:
        async with self._write_lock:
            ident, expires = await self._insert_identity(
                client_id, credits, token, ttl, time.time()
            )
            await self.db.commit()
        assert ident is not None
        return ident, expires

    async def _insert_identity(
        self,
        client_id: str,
        credits: int,
        token: str,
        ttl: int,
        now: float,
        unless_since: float | None = None,
    ) -> tuple[Identity | None, float]:
        """Insert an identity and its token (not committed). With ``unless_since``: only if the
        client id has no token issued after that time (else (None, 0))."""
        ident = Identity(
            id=uuid.uuid4().hex[:16],
            client_id=client_id,
            credits=credits,
            frozen=0,
            registered=False,
        )
        expires = now + ttl
        cur = await self.db.execute(
            "INSERT INTO identities (id, client_id, created, credits) SELECT ?, ?, ?, ?"
            " WHERE NOT EXISTS (SELECT 1 FROM tokens t JOIN identities i ON i.id = t.identity_id"
            " WHERE i.client_id = ? AND t.issued > ?)",
            (
                ident.id,
                client_id,
                now,
                credits,
                client_id,
                -1.0 if unless_since is None else unless_since,
            ),
        )
        if cur.rowcount != 1:
            return None, 0.0
        await self.db.execute(
            "INSERT INTO tokens (token_hash, identity_id, issued, expires) VALUES (?, ?, ?, ?)",
            (hash_token(token), ident.id, now, expires),
        )
        return ident, expires

    async def identity_for_token(self, token: str) -> Identity | None:
        async with self.db.execute(
            "SELECT i.* FROM tokens t JOIN identities i ON i.id = t.identity_id WHERE t.token_hash = ? AND t.expires > ?",
            (hash_token(token), time.time()),
        ) as cur:
            row = await cur.fetchone()
        return identity_row(row) if row else None

    async def identity(self, identity_id: str) -> Identity | None:
        async with self.db.execute("SELECT * FROM identities WHERE id = ?", (identity_id,)) as cur:
            row = await cur.fetchone()
        return identity_row(row) if row else None

    async def expire_tokens(self, identity_id: str) -> None:
        """Test and admin hook: make an identity's tokens expire now."""
        await self.db.execute(
            "UPDATE tokens SET expires = ? WHERE identity_id = ?", (time.time() - 1, identity_id)
        )
        await self.db.commit()

    # credits ---------------------------------------------------------------------------
    async def freeze(self, identity_id: str, amount: int) -> bool:
        cur = await self.db.execute(
            "UPDATE identities SET frozen = frozen + ? WHERE id = ? AND credits - frozen >= ?",
            (amount, identity_id, amount),
        )
        await self.db.commit()
        return cur.rowcount == 1

    async def release_all_frozen(self) -> int:
        """At start no turn is running, so every freeze is stranded (a crash mid-synthesis)."""
        cur = await self.db.execute("UPDATE identities SET frozen = 0 WHERE frozen != 0")
        await self.db.commit()
        return cur.rowcount

    async def settle(self, identity_id: str, frozen: int, charge: int) -> None:
        """Release a freeze and charge what the work really cost (0 on failure)."""
        await self.db.execute(
            "UPDATE identities SET frozen = MAX(frozen - ?, 0), credits = MAX(credits - ?, 0) WHERE id = ?",
            (frozen, charge, identity_id),
        )
        await self.db.commit()

    async def claim_voiced(self, identity_id: str, keys: list[str]) -> set[str]:
        """Record that ``identity_id`` has voiced these sentences (TTS cache keys); returns the
        ones it had not voiced before, which are what it is charged for."""
        fresh: set[str] = set()
        async with self._write_lock:
            now = time.time()
            for key in dict.fromkeys(keys):
                cur = await self.db.execute(
                    "INSERT OR IGNORE INTO voiced (identity_id, cache_key, created) VALUES (?, ?, ?)",
                    (identity_id, key, now),
                )
                if cur.rowcount == 1:
                    fresh.add(key)
            await self.db.commit()
        return fresh

    # sessions --------------------------------------------------------------------------
    async def create_session(
        self, identity_id: str, language: str, state: SessionState
    ) -> tuple[str, str]:
        sid = uuid.uuid4().hex
        task_id = "task_" + uuid.uuid4().hex[:12]
        await self.db.execute(
            "INSERT INTO sessions (id, task_id, identity_id, language, created, state) VALUES (?, ?, ?, ?, ?, ?)",
            (sid, task_id, identity_id, language, time.time(), dump_state(state)),
        )
        await self.db.commit()
        return sid, task_id

    async def session(self, sid: str) -> tuple[str, str, SessionState] | None:
        """(identity_id, language, state) of a session; a state stored by an older version is migrated."""
        async with self.db.execute(
            "SELECT identity_id, language, state FROM sessions WHERE id = ?", (sid,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return row["identity_id"], row["language"], load_state(row["state"])

    async def save_state(self, sid: str, state: SessionState) -> None:
        await self.db.execute(
            "UPDATE sessions SET state = ? WHERE id = ?", (dump_state(state), sid)
        )
        await self.db.commit()

    # media -----------------------------------------------------------------------------
    async def add_media(self, item: MediaItem) -> None:
        await self.db.execute(
            "INSERT INTO media (id, session_id, kind, name, path, size, mime, info, created) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                item.id,
                item.session_id,
                item.kind,
                item.name,
                str(item.path),
                item.size,
                item.mime,
                json.dumps(item.info),
                time.time(),
            ),
        )
        await self.db.commit()

    async def media(self, session_id: str, kind: str | None = None) -> list[MediaItem]:
        sql = "SELECT * FROM media WHERE session_id = ?"
        args: tuple[Any, ...] = (session_id,)
        if kind:
            sql += " AND kind = ?"
            args += (kind,)
        async with self.db.execute(sql + " ORDER BY created", args) as cur:
            rows = await cur.fetchall()
        return [media_row(r) for r in rows]

    async def media_item(self, session_id: str, media_id: str) -> MediaItem | None:
        async with self.db.execute(
            "SELECT * FROM media WHERE session_id = ? AND id = ?", (session_id, media_id)
        ) as cur:
            row = await cur.fetchone()
        return media_row(row) if row else None

    # render jobs -----------------------------------------------------------------------
    async def create_job(
        self, job_id: str, session_id: str, identity_id: str, draft: dict[str, Any]
    ) -> bool:
        now = time.time()
        try:
            await self.db.execute(
                "INSERT INTO jobs (id, session_id, identity_id, status, draft, created, updated) VALUES (?,?,?,?,?,?,?)",
                (job_id, session_id, identity_id, "queued", json.dumps(draft), now, now),
            )
        except aiosqlite.IntegrityError:
            return False
        await self.db.commit()
        return True

    async def job(self, job_id: str) -> Job | None:
        async with self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)) as cur:
            row = await cur.fetchone()
        return job_row(row) if row else None

    async def update_job(
        self,
        job_id: str,
        status: str,
        progress: float | None = None,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        await self.db.execute(
            "UPDATE jobs SET status = ?, progress = COALESCE(?, progress), output = COALESCE(?, output),"
            " error = COALESCE(?, error), updated = ? WHERE id = ?",
            (
                status,
                progress,
                json.dumps(output) if output else None,
                json.dumps(error) if error else None,
                time.time(),
                job_id,
            ),
        )
        await self.db.commit()

    async def unfinished_jobs(self) -> list[Job]:
        async with self.db.execute(
            "SELECT * FROM jobs WHERE status IN ('queued', 'rendering') ORDER BY created"
        ) as cur:
            rows = await cur.fetchall()
        return [job_row(r) for r in rows]
