"""PostgreSQL persistence for the backend (cluster mode): the same rows and methods as the SQLite
``BackendStore``, shared by every API replica and worker.

psycopg 3 async with a pool, tables in the ``vo_backend`` schema (``storage.pg``). What SQLite got
from one process owning the file, PostgreSQL gets from transactions: a token is issued under an
advisory lock on the client id, a credit freeze is a row naming its replica (held alive by an
advisory lock) so a replica that starts releases the freezes of dead replicas' turns only, and the signing key is one row that
the first process writes and every later one reads.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any

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
from storage.pg import Pool, ReplicaLife, open_pg, owner_gone

SCHEMA = "vo_backend"

MIGRATIONS: tuple[str, ...] = (
    """
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    credits BIGINT NOT NULL,
    frozen BIGINT NOT NULL DEFAULT 0,
    registered BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX identities_client ON identities(client_id, created);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    issued DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX tokens_identity ON tokens(identity_id, issued);
-- One row per credit freeze of a running turn (identities.frozen is their sum).
CREATE TABLE freezes (
    id BIGSERIAL PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    amount BIGINT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX freezes_identity ON freezes(identity_id, amount);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identities(id),
    language TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE media (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    mime TEXT NOT NULL,
    info TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX media_session ON media(session_id, created);
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    status TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    draft TEXT NOT NULL,
    output TEXT,
    error TEXT,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX jobs_unfinished ON jobs(created) WHERE status IN ('queued', 'rendering');
CREATE TABLE voiced (
    identity_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (identity_id, cache_key)
);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
    """,
    # 2: the replica whose turn froze the credits (its key, an advisory lock while it lives).
    """
ALTER TABLE freezes ADD COLUMN owner BIGINT;
    """,
)

# A freeze older than this belongs to a turn that can no longer be running (its replica died).
STALE_FREEZE_SECONDS = 6 * 3600.0


class PgBackendStore:
    """All backend state in PostgreSQL. Each method is one short transaction on a pooled connection."""

    def __init__(self, pool: Pool, url: str) -> None:
        self.pool = pool
        self.life = ReplicaLife(url, "backend")

    @classmethod
    async def open(cls, url: str, max_size: int = 10) -> PgBackendStore:
        store = cls(await open_pg(url, MIGRATIONS, SCHEMA, max_size=max_size), url)
        try:
            await store.life.ensure()
        except BaseException:
            await store.pool.close()
            raise
        return store

    async def close(self) -> None:
        await self.life.close()
        await self.pool.close()

    async def _one(self, query: str, args: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return await cur.fetchone()

    async def _all(self, query: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return await cur.fetchall()

    async def _run(self, query: str, args: tuple[Any, ...] = ()) -> int:
        async with self.pool.connection() as conn:
            cur = await conn.execute(query.encode(), args)
            return cur.rowcount

    async def shared_secret(self) -> bytes:
        """The signing key every replica uses: made by the first process to ask, then read."""
        await self._run(
            "INSERT INTO secrets (name, value) VALUES ('signing', %s) ON CONFLICT DO NOTHING",
            (secrets.token_hex(32),),
        )
        row = await self._one("SELECT value FROM secrets WHERE name = 'signing'")
        assert row is not None
        return bytes.fromhex(row["value"])

    # identities and tokens -------------------------------------------------------------
    async def last_token_issue(self, client_id: str) -> float | None:
        row = await self._one(
            "SELECT MAX(t.issued) AS last FROM tokens t JOIN identities i ON i.id = t.identity_id"
            " WHERE i.client_id = %s",
            (client_id,),
        )
        return float(row["last"]) if row and row["last"] is not None else None

    async def issue_anonymous(
        self, client_id: str, credits: int, token: str, ttl: int, every: float
    ) -> tuple[Identity, float] | float:
        """As BackendStore.issue_anonymous; atomic across replicas: the check and the inserts run
        under a transaction-level advisory lock on the client id."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", ("issue:" + client_id,)
            )
            cur = await conn.execute(
                "SELECT MAX(t.issued) AS last FROM tokens t JOIN identities i"
                " ON i.id = t.identity_id WHERE i.client_id = %s",
                (client_id,),
            )
            row = await cur.fetchone()
            now = time.time()
            last = row["last"] if row else None
            if last is not None and now - float(last) < every:
                return float(last)
            ident = Identity(uuid.uuid4().hex[:16], client_id, credits, 0, False)
            await conn.execute(
                "INSERT INTO identities (id, client_id, created, credits) VALUES (%s, %s, %s, %s)",
                (ident.id, client_id, now, credits),
            )
            await conn.execute(
                "INSERT INTO tokens (token_hash, identity_id, issued, expires) VALUES (%s, %s, %s, %s)",
                (hash_token(token), ident.id, now, now + ttl),
            )
        return ident, now + ttl

    async def create_identity(
        self, client_id: str, credits: int, token: str, ttl: int
    ) -> tuple[Identity, float]:
        now = time.time()
        ident = Identity(uuid.uuid4().hex[:16], client_id, credits, 0, False)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO identities (id, client_id, created, credits) VALUES (%s, %s, %s, %s)",
                (ident.id, client_id, now, credits),
            )
            await conn.execute(
                "INSERT INTO tokens (token_hash, identity_id, issued, expires) VALUES (%s, %s, %s, %s)",
                (hash_token(token), ident.id, now, now + ttl),
            )
        return ident, now + ttl

    async def identity_for_token(self, token: str) -> Identity | None:
        row = await self._one(
            "SELECT i.* FROM tokens t JOIN identities i ON i.id = t.identity_id"
            " WHERE t.token_hash = %s AND t.expires > %s",
            (hash_token(token), time.time()),
        )
        return identity_row(row) if row else None

    async def identity(self, identity_id: str) -> Identity | None:
        row = await self._one("SELECT * FROM identities WHERE id = %s", (identity_id,))
        return identity_row(row) if row else None

    async def expire_tokens(self, identity_id: str) -> None:
        """Test and admin hook: make an identity's tokens expire now."""
        await self._run(
            "UPDATE tokens SET expires = %s WHERE identity_id = %s", (time.time() - 1, identity_id)
        )

    # credits ---------------------------------------------------------------------------
    async def freeze(self, identity_id: str, amount: int) -> bool:
        await self.life.ensure()
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE identities SET frozen = frozen + %s WHERE id = %s AND credits - frozen >= %s",
                (amount, identity_id, amount),
            )
            if cur.rowcount != 1:
                return False
            await conn.execute(
                "INSERT INTO freezes (identity_id, amount, created, owner) VALUES (%s, %s, %s, %s)",
                (identity_id, amount, time.time(), self.life.owner),
            )
        return True

    async def release_all_frozen(self, older_than: float = STALE_FREEZE_SECONDS) -> int:
        """Release the freezes of turns that cannot still be running: their replica is gone (its
        advisory lock with it), or they are older than any turn. Turns that other replicas are
        running while this one starts keep theirs."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "WITH gone AS (DELETE FROM freezes WHERE created < %s OR "
                + owner_gone()
                + " RETURNING identity_id, amount),"
                " sums AS (SELECT identity_id, SUM(amount) AS amount FROM gone GROUP BY identity_id)"
                " UPDATE identities i SET frozen = GREATEST(i.frozen - s.amount, 0)"
                " FROM sums s WHERE i.id = s.identity_id",
                (time.time() - older_than,),
            )
            return cur.rowcount

    async def settle(self, identity_id: str, frozen: int, charge: int) -> None:
        """Release a freeze and charge what the work really cost (0 on failure). A freeze already
        released as stale is not released twice."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "DELETE FROM freezes WHERE id = (SELECT id FROM freezes WHERE identity_id = %s"
                " AND amount = %s ORDER BY id LIMIT 1 FOR UPDATE) RETURNING amount",
                (identity_id, frozen),
            )
            released = 0 if await cur.fetchone() is None else frozen
            await conn.execute(
                "UPDATE identities SET frozen = GREATEST(frozen - %s, 0),"
                " credits = GREATEST(credits - %s, 0) WHERE id = %s",
                (released, charge, identity_id),
            )

    async def claim_voiced(self, identity_id: str, keys: list[str]) -> set[str]:
        """As BackendStore.claim_voiced: one statement, so two replicas never both get a key."""
        if not keys:
            return set()
        rows = await self._all(
            "INSERT INTO voiced (identity_id, cache_key, created)"
            " SELECT %s, k, %s FROM unnest(%s::text[]) AS k"
            " ON CONFLICT DO NOTHING RETURNING cache_key",
            (identity_id, time.time(), list(dict.fromkeys(keys))),
        )
        return {row["cache_key"] for row in rows}

    # sessions --------------------------------------------------------------------------
    async def create_session(
        self, identity_id: str, language: str, state: SessionState
    ) -> tuple[str, str]:
        sid = uuid.uuid4().hex
        task_id = "task_" + uuid.uuid4().hex[:12]
        await self._run(
            "INSERT INTO sessions (id, task_id, identity_id, language, created, state)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (sid, task_id, identity_id, language, time.time(), dump_state(state)),
        )
        return sid, task_id

    async def session(self, sid: str) -> tuple[str, str, SessionState] | None:
        row = await self._one(
            "SELECT identity_id, language, state FROM sessions WHERE id = %s", (sid,)
        )
        if row is None:
            return None
        return row["identity_id"], row["language"], load_state(row["state"])

    async def save_state(self, sid: str, state: SessionState) -> None:
        await self._run("UPDATE sessions SET state = %s WHERE id = %s", (dump_state(state), sid))

    # media -----------------------------------------------------------------------------
    async def add_media(self, item: MediaItem) -> None:
        await self._run(
            "INSERT INTO media (id, session_id, kind, name, path, size, mime, info, created)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
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

    async def media(self, session_id: str, kind: str | None = None) -> list[MediaItem]:
        sql = "SELECT * FROM media WHERE session_id = %s"
        args: tuple[Any, ...] = (session_id,)
        if kind:
            sql += " AND kind = %s"
            args += (kind,)
        return [media_row(r) for r in await self._all(sql + " ORDER BY created, id", args)]

    async def media_item(self, session_id: str, media_id: str) -> MediaItem | None:
        row = await self._one(
            "SELECT * FROM media WHERE session_id = %s AND id = %s", (session_id, media_id)
        )
        return media_row(row) if row else None

    # render jobs -----------------------------------------------------------------------
    async def create_job(
        self, job_id: str, session_id: str, identity_id: str, draft: dict[str, Any]
    ) -> bool:
        now = time.time()
        count = await self._run(
            "INSERT INTO jobs (id, session_id, identity_id, status, draft, created, updated)"
            " VALUES (%s, %s, %s, 'queued', %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (job_id, session_id, identity_id, json.dumps(draft), now, now),
        )
        return count == 1

    async def job(self, job_id: str) -> Job | None:
        row = await self._one("SELECT * FROM jobs WHERE id = %s", (job_id,))
        return job_row(row) if row else None

    async def update_job(
        self,
        job_id: str,
        status: str,
        progress: float | None = None,
        output: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None,
    ) -> None:
        await self._run(
            "UPDATE jobs SET status = %s, progress = COALESCE(%s, progress),"
            " output = COALESCE(%s, output), error = COALESCE(%s, error), updated = %s"
            " WHERE id = %s",
            (
                status,
                progress,
                json.dumps(output) if output else None,
                json.dumps(error) if error else None,
                time.time(),
                job_id,
            ),
        )

    async def unfinished_jobs(self) -> list[Job]:
        rows = await self._all(
            "SELECT * FROM jobs WHERE status IN ('queued', 'rendering') ORDER BY created"
        )
        return [job_row(r) for r in rows]
