"""A session's turn lock, across API replicas (issue 14).

Two messages to one session must not edit its state at once. In one process an asyncio.Lock is
enough; with replicas behind a load balancer the two messages may reach two processes, so the lock
is also a PostgreSQL advisory lock, held on a connection of its own for as long as the turn runs.
A replica that dies drops its connection, and PostgreSQL frees the lock with it: no lock outlives
its holder, and nothing about a turn in progress lives only in one replica's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)
_RELEASES: set[asyncio.Task[None]] = set()  # unlocks in flight (a task needs a reference)


class SessionLock:
    """``acquire()`` / ``release()`` (sync, like asyncio.Lock's) or ``async with``."""

    def __init__(self, local: asyncio.Lock, pool: AsyncConnectionPool | None, sid: str) -> None:
        self.local = local
        self.pool = pool
        self.key = f"vo-session:{sid}"
        self.conn: AsyncConnection[Any] | None = None

    async def acquire(self) -> bool:
        await self.local.acquire()  # one waiter per replica holds a connection, not every one
        if self.pool is None:
            return True
        try:
            conn = await self.pool.getconn()
            try:
                await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (self.key,))
            except BaseException:
                # cancelled while waiting: the lock may have been granted all the same; closing
                # the connection is the one sure way to give it back
                with contextlib.suppress(Exception):
                    await conn.close()
                await self.pool.putconn(conn)
                raise
        except BaseException:
            self.local.release()
            raise
        self.conn = conn
        return True

    def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None or self.pool is None:
            self.local.release()
            return
        task = asyncio.get_running_loop().create_task(self._unlock(self.pool, conn))
        _RELEASES.add(task)
        task.add_done_callback(_RELEASES.discard)

    async def _unlock(self, pool: AsyncConnectionPool, conn: AsyncConnection[Any]) -> None:
        try:
            await conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.key,))
        except Exception:
            log.warning("could not unlock %s: closing its connection frees it", self.key)
            with contextlib.suppress(Exception):
                await conn.close()
        finally:
            with contextlib.suppress(Exception):
                await pool.putconn(conn)
            self.local.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lock_pool(url: str) -> AsyncConnectionPool:
    """Connections that hold advisory locks (one per session with a turn running here)."""
    return AsyncConnectionPool(
        url,
        min_size=1,
        max_size=64,
        open=False,
        kwargs={"autocommit": True},
        check=AsyncConnectionPool.check_connection,
    )
