"""Opening PostgreSQL the one way both stores need it (cluster mode): a psycopg 3 async pool whose
connections work in the store's own schema, and the schema created and migrated by numbered steps.

Each store lives in a schema of its own (``vo_backend``, ``vo_bot``), so the backend, the bot and
the job queue can share one database without their tables meeting. Replicas that start together
migrate one at a time (a transaction-level advisory lock), each step in one transaction with its
version row. Connections are checked when taken from the pool, so a restarted PostgreSQL costs
the next query a reconnect, not an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

Pool = AsyncConnectionPool[AsyncConnection[dict[str, Any]]]


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


async def open_pg(
    url: str, migrations: Sequence[str], schema: str, max_size: int = 10, wait: float = 30.0
) -> Pool:
    """An open pool on ``schema`` (created if missing), its tables at the newest version.

    ``migrations[i]`` moves the schema from version i to i+1: append only, never edit a shipped step.
    """
    pool: Pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs={
            "autocommit": True,
            "row_factory": dict_row,
            "options": f"-c search_path={schema}",
            "application_name": f"voiceover-{schema}",
        },
        check=AsyncConnectionPool.check_connection,
        open=False,
        name=schema,
    )
    await pool.open(wait=True, timeout=wait)
    try:
        async with pool.connection() as conn, conn.transaction():
            # One process migrates at a time; the lock ends with the transaction.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"migrate:{schema}",))
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            current = await pg_schema_version(conn)
            for version in range(current + 1, len(migrations) + 1):
                await conn.execute(migrations[version - 1].encode())
                await conn.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (%s, %s)",
                    (version, time.time()),
                )
                log.info("%s migrated to schema version %d", schema, version)
    except BaseException:
        await pool.close()
        raise
    return pool


async def pg_schema_version(conn: AsyncConnection[Any]) -> int:
    cur = await conn.execute("SELECT MAX(version) AS v FROM schema_version")
    row = await cur.fetchone()
    if row is None:
        return 0
    value = row["v"] if isinstance(row, dict) else row[0]
    return int(value or 0)


class ReplicaLife:
    """This process, as other replicas see it: a random key held as a session advisory lock on a
    connection of its own for as long as the process lives. Rows that name their owner's key can
    be taken over once no live process holds it (``owner_gone``), and never before."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.owner = secrets.randbelow(2**31 - 2) + 1
        self._conn: AsyncConnection[Any] | None = None
        self._closed = False
        # One user of the connection at a time: no second connection made by two reconnects,
        # and no close under a query still waiting on its socket.
        self._using = asyncio.Lock()

    async def ensure(self) -> None:
        """Hold the lock (again after a PostgreSQL restart broke its connection)."""
        async with self._using:
            await self._ensure()

    async def _ensure(self) -> None:
        if self._closed:  # never again after close: that would revive a finished replica
            raise psycopg.OperationalError(f"the {self.name} replica's store is closed")
        if self._conn is not None and not self._conn.closed:
            try:
                await self._conn.execute("SELECT 1")  # a restart shows only when it is used
                return
            except psycopg.Error:
                await self._conn.close()
        conn = await AsyncConnection.connect(
            self.url, autocommit=True, application_name=f"voiceover-{self.name}-replica"
        )
        if self._closed:  # closed while connecting (a lock released as the store shuts)
            await conn.close()
            raise psycopg.OperationalError(f"the {self.name} replica's store is closed")
        self._conn = conn
        await conn.execute("SELECT pg_advisory_lock(%s::bigint)", (self.owner,))

    async def close(self) -> None:
        self._closed = True
        async with self._using:
            if self._conn is not None:
                with contextlib.suppress(psycopg.Error):
                    # released before close returns (the server ends a closed session a little
                    # later); the locks would go with the connection anyway
                    await self._conn.execute("SELECT pg_advisory_unlock_all()")
                await self._conn.close()  # this process's rows are free

    async def _scalar(self, query: str, args: tuple[Any, ...]) -> Any:
        async with self._using:
            await self._ensure()
            assert self._conn is not None
            cur = await self._conn.execute(query.encode(), args)
            row = await cur.fetchone()
            return row[0] if row else None

    async def try_lock(self, name: str) -> bool:
        """Take the advisory lock ``name`` on this process's connection, without waiting. It is
        held until `unlock`, or until this process dies (its connection goes, and the lock with
        it). Session locks are re-entrant: the caller keeps one holder per name in the process."""
        return bool(await self._scalar(_TRY_LOCK, (NAMED_LOCKS, name)))

    async def unlock(self, name: str) -> None:
        if self._closed or self._conn is None or self._conn.closed:
            return  # the lock went with the connection
        await self._scalar("SELECT pg_advisory_unlock(%s, hashtext(%s))", (NAMED_LOCKS, name))

    async def held_elsewhere(self, name: str) -> bool:
        """Another process holds the lock ``name`` (two-key advisory locks show objsubid 2)."""
        return bool(await self._scalar(_HELD_ELSEWHERE, (NAMED_LOCKS, name)))


NAMED_LOCKS = 0x766F6274  # the first key of ReplicaLife's named locks ("vobt")
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
_HELD_ELSEWHERE = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
    " AND l.objsubid = 2 AND l.classid::bigint = %s AND l.pid <> pg_backend_pid()"
    " AND l.objid::bigint = (hashtext(%s)::bigint & 4294967295))"
)


def owner_gone(column: str = "owner") -> str:
    """SQL true when ``column`` names no live process (or is NULL). An advisory lock on one
    bigint key shows in pg_locks as classid 0, objid = the key, objsubid 1."""
    return (
        f"({column} IS NULL OR NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'"
        f" AND l.granted AND l.classid = 0 AND l.objsubid = 1 AND l.objid::bigint = {column}))"
    )
