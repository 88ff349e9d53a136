"""The rows the backend keeps, as typed records: identities (with their credits), media items of a
session, render jobs; and how a token is stored (its SHA-256, never the token itself)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


class Row(Protocol):
    """A row by column name: an ``aiosqlite.Row`` (SQLite) or a dict (psycopg's ``dict_row``)."""

    def __getitem__(self, key: str, /) -> Any: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Identity:
    id: str
    client_id: str
    credits: int
    frozen: int
    registered: bool

    @property
    def available(self) -> int:
        return self.credits - self.frozen


@dataclass
class MediaItem:
    id: str
    session_id: str
    kind: str
    name: str
    path: Path
    size: int
    mime: str
    info: dict[str, Any]

    def public(self) -> dict[str, Any]:
        """What clients see: never the server-side path."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "size": self.size,
            "mime": self.mime,
            **self.info,
        }


@dataclass
class Job:
    id: str
    session_id: str
    identity_id: str
    status: str
    progress: float
    draft: dict[str, Any]
    output: dict[str, Any] | None
    error: dict[str, Any] | None


def identity_row(row: Row) -> Identity:
    return Identity(
        row["id"], row["client_id"], row["credits"], row["frozen"], bool(row["registered"])
    )


def media_row(row: Row) -> MediaItem:
    return MediaItem(
        row["id"],
        row["session_id"],
        row["kind"],
        row["name"],
        Path(row["path"]),
        row["size"],
        row["mime"],
        json.loads(row["info"]),
    )


def job_row(row: Row) -> Job:
    return Job(
        row["id"],
        row["session_id"],
        row["identity_id"],
        row["status"],
        row["progress"],
        json.loads(row["draft"]),
        json.loads(row["output"]) if row["output"] else None,
        json.loads(row["error"]) if row["error"] else None,
    )
