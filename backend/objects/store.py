"""The object store every durable file goes through, and its embedded (local disk) form.

Local paths are what ffmpeg, the TTS and the ingest step read and write, so they stay: in embedded
mode a path under the data dir is the file itself and every call here is a check at most; in
cluster mode (``backend.objects.s3``) the same path is this process's cache of an object whose key is
the path relative to the data dir. Code that writes a durable file calls ``publish`` once it is
complete; code that reads one calls ``ensure_local`` first.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ObjectError(Exception):
    """A key outside the data dir, or an object that is in neither the cache nor the bucket."""


@dataclass(frozen=True)
class UploadForm:
    """A presigned browser upload: POST ``fields`` plus the file (last) as multipart to ``url``."""

    url: str
    fields: dict[str, str]
    key: str
    expires_at: int


class ObjectStore:
    """Embedded mode: the data dir is the only copy. Subclassed by the S3 store."""

    remote = False

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()

    def key(self, path: Path) -> str:
        """The object key of ``path``: its place under the data dir, '/'-separated.

        Refuses anything outside the data dir (a key is never built from a path we did not make)."""
        resolved = Path(path).resolve()
        try:
            rel = resolved.relative_to(self.data_dir)
        except ValueError as exc:
            raise ObjectError(f"{path} is not inside the data dir") from exc
        if not rel.parts:
            raise ObjectError("the data dir itself is not an object")
        return rel.as_posix()

    def path(self, key: str) -> Path:
        """The cache path of ``key`` (the inverse of ``key``); refuses keys that climb out."""
        found = (self.data_dir / key).resolve()
        if found == self.data_dir or self.data_dir not in found.parents:
            raise ObjectError(f"bad object key {key!r}")
        return found

    async def publish(self, path: Path) -> None:
        """Make the finished file at ``path`` durable and visible to every process."""
        self.key(path)

    async def ensure_local(self, path: Path) -> Path:
        """``path`` with the file in it, fetched into this process's cache when it is elsewhere."""
        self.key(path)
        if not await asyncio.to_thread(Path(path).is_file):
            raise ObjectError(f"{self.key(path)} is missing")
        return Path(path)

    async def exists(self, path: Path) -> bool:
        """Whether the durable copy of ``path`` exists (the cache may not have it)."""
        self.key(path)
        return await asyncio.to_thread(Path(path).is_file)

    async def delete(self, path: Path) -> None:
        """Remove the durable copy and the cached one."""
        self.key(path)
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)

    async def download_url(
        self, path: Path, ttl: int, filename: str, content_type: str
    ) -> tuple[str, int] | None:
        """A presigned link to the object and its expiry, or None where the backend serves files
        itself (embedded mode: its own signed ``/files`` route)."""
        return None

    async def upload_form(self, key: str, max_bytes: int, ttl: int) -> UploadForm | None:
        """A presigned browser upload of at most ``max_bytes`` to ``key``; None in embedded mode
        (the upload page posts to the backend)."""
        return None

    async def fetch(self, key: str, dest: Path, max_bytes: int) -> int:
        """Copy object ``key`` (a browser's direct upload) to ``dest``; its size. S3 only."""
        raise ObjectError("direct uploads need object storage")

    async def forget(self, key: str) -> None:
        """Delete object ``key`` (a direct upload once ingested). Nothing to do embedded."""

    async def close(self) -> None:
        """Release connections."""

    def info(self) -> dict[str, Any]:
        """For logs: where objects live, without secrets."""
        return {"mode": "local", "dir": str(self.data_dir)}
