"""Opening an SQLite file the one way both stores need it: WAL, a busy timeout, rows by name, and
the schema created and migrated by numbered steps recorded in ``schema_version``.

Shared by the bot's ``ChatStore`` and the backend's ``BackendStore`` so migrations work alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)


async def open_sqlite(
    path: Path | str, migrations: Sequence[str], name: str
) -> aiosqlite.Connection:
    """Open (creating the folder and the file as needed) and bring the schema up to date.

    ``migrations[i]`` moves the schema from version i to i+1: append only, never edit a shipped step.
    Each step runs in one transaction with its version row, so a crash leaves a whole step or none.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(str(path))
    try:
        db.row_factory = aiosqlite.Row
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version "
            "(version INTEGER PRIMARY KEY, applied REAL NOT NULL)"
        )
        await db.commit()
        current = await schema_version(db)
        for version in range(current + 1, len(migrations) + 1):
            await db.executescript(
                "BEGIN;\n"
                + migrations[version - 1]
                + "\nINSERT INTO schema_version(version, applied) "
                + f"VALUES ({version}, {time.time()});\nCOMMIT;"
            )
            log.info("%s migrated to schema version %d", name, version)
    except BaseException:
        await db.close()
        raise
    return db


async def schema_version(db: aiosqlite.Connection) -> int:
    async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0] or 0) if row else 0
