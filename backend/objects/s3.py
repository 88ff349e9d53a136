"""Cluster mode: durable files in an S3-compatible bucket (SeaweedFS in tests), the data dir a cache.

One aioboto3 client per process, opened with the app and closed with it. Transfers stream: uploads
go in 8 MB parts, at most 2 in flight, and downloads are written 1 MB at a time, so a file of any
size costs about 70 MB of peak memory to publish and 5 MB to fetch (aioboto3's managed
``upload_file`` held the whole file: +300 MB for 300 MB, measured). A download lands in a hidden
``.*.tmp`` file first and is renamed into place, so a cached path is always a whole file (and a
killed process's partial download is swept at the next start). Links are presigned with SigV4 (at
most 7 days); the storage checks them, so an expired or altered link gets its 403 there. A sweep
keeps the cache within its budget (``backend.objects.cache``) and deletes abandoned browser uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import aioboto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from backend.core.settings import BackendSettings
from backend.objects.cache import evict
from backend.objects.store import ObjectError, ObjectStore, UploadForm

log = logging.getLogger(__name__)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit
MISSING = {"404", "NoSuchKey", "NotFound"}
MB = 1024 * 1024
PART_BYTES = 8 * MB  # S3's minimum part is 5 MB
# Two parts in flight overlap reading with sending; more bought nothing against SeaweedFS on this
# 2-core box (27-46 MB/s at 1-6) and each part costs ~30 MB of peak RSS in botocore and aiohttp.
PARTS_IN_FLIGHT = 2
SWEEP_SECONDS = 300.0  # how often the cache is brought back within budget, old uploads deleted
INCOMING = "incoming/"  # browser uploads (backend.api.direct_upload) before they are ingested


def _touch_if_cached(path: Path) -> bool:
    """Whether ``path`` is here; if so it counts as just used (the cache evicts by mtime)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return path.is_file()


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in MISSING


class S3Objects(ObjectStore):
    remote = True

    def __init__(self, settings: BackendSettings, client: Any, signer: Any, stack: AsyncExitStack):
        super().__init__(settings.data_dir)
        self.bucket = settings.s3_bucket
        self.endpoint = settings.s3_endpoint
        self.client = client
        self.signer = signer  # the client whose endpoint is in presigned links
        self._stack = stack
        self._fetching: dict[str, asyncio.Lock] = {}
        self._budget = settings.s3_cache_mb * MB
        # a browser upload nobody ingested (its form lives upload_deadline_seconds) is abandoned
        self._incoming_age = 2 * settings.upload_deadline_seconds
        self._sweeper = asyncio.create_task(self._sweep(), name="object-sweeper")

    async def _sweep(self) -> None:
        """Every few minutes: the cache back within its budget, abandoned browser uploads deleted."""
        while True:
            try:
                if self._budget > 0:
                    await asyncio.to_thread(evict, self.data_dir, self._budget)
                await self.sweep_incoming(self._incoming_age)
            except Exception:
                log.exception("object sweep failed; trying again later")
            await asyncio.sleep(SWEEP_SECONDS)

    async def sweep_incoming(self, max_age: float) -> int:
        """Delete browser uploads (``incoming/``) older than ``max_age`` seconds; how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=max_age)
        removed = 0
        pages = self.client.get_paginator("list_objects_v2")
        async for page in pages.paginate(Bucket=self.bucket, Prefix=INCOMING):
            for item in page.get("Contents", []):
                if item["LastModified"] <= cutoff:
                    await self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    removed += 1
        if removed:
            log.info("removed %d abandoned browser upload(s)", removed)
        return removed

    @classmethod
    async def open(cls, settings: BackendSettings) -> S3Objects:
        """Connect, and create the bucket if it is not there yet."""
        session = aioboto3.Session()
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
            connect_timeout=10,
            read_timeout=120,
        )

        def client(endpoint: str) -> Any:
            return session.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=settings.s3_access_key or None,
                aws_secret_access_key=settings.s3_secret_key or None,
                region_name=settings.s3_region,
                config=config,
            )

        stack = AsyncExitStack()
        try:
            main = await stack.enter_async_context(client(settings.s3_endpoint))
            signer = main
            if settings.s3_public_endpoint:
                signer = await stack.enter_async_context(client(settings.s3_public_endpoint))
            try:
                await main.head_bucket(Bucket=settings.s3_bucket)
            except ClientError as exc:
                if not _missing(exc):
                    raise
                await main.create_bucket(Bucket=settings.s3_bucket)
        except (ClientError, BotoCoreError) as exc:
            await stack.aclose()
            raise ObjectError(
                f"the object storage at {settings.s3_endpoint} (bucket {settings.s3_bucket!r}) "
                f"cannot be used: {exc}"
            ) from exc
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, main, signer, stack)

    async def publish(self, path: Path) -> None:
        key = self.key(path)
        fh = await asyncio.to_thread(Path(path).open, "rb")
        try:
            first = await asyncio.to_thread(fh.read, PART_BYTES)
            if len(first) < PART_BYTES:
                await self.client.put_object(Bucket=self.bucket, Key=key, Body=first)
            else:
                await self._multipart(key, fh, first)
        finally:
            await asyncio.to_thread(fh.close)
        log.debug("published %s", key)

    async def _multipart(self, key: str, fh: BinaryIO, first: bytes) -> None:
        """Upload ``first`` and the rest of ``fh`` in parts, a few at once; abort on any failure."""
        started = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
        upload_id = started["UploadId"]
        slots = asyncio.Semaphore(PARTS_IN_FLIGHT)
        done: list[dict[str, Any]] = []

        async def send(number: int, data: bytes) -> None:
            try:
                part = await self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
                )
                done.append({"PartNumber": number, "ETag": part["ETag"]})
            finally:
                slots.release()

        try:
            async with asyncio.TaskGroup() as group:
                number, data = 1, first
                while data:
                    await slots.acquire()  # reads wait for a free slot: bounded memory
                    group.create_task(send(number, data))
                    number += 1
                    data = await asyncio.to_thread(fh.read, PART_BYTES)
            await self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": sorted(done, key=lambda p: p["PartNumber"])},
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise

    async def ensure_local(self, path: Path) -> Path:
        key = self.key(path)
        path = Path(path)
        lock = self._fetching.setdefault(key, asyncio.Lock())
        try:
            async with lock:  # two readers of one missing file download it once
                if not await asyncio.to_thread(_touch_if_cached, path):
                    await self._download(key, path)
        finally:
            if not lock.locked():
                self._fetching.pop(key, None)
        return path

    async def _download(self, key: str, dest: Path) -> None:
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            got = await self.client.get_object(Bucket=self.bucket, Key=key)
            fh = await asyncio.to_thread(tmp.open, "wb")
            try:
                async for chunk in got["Body"].iter_chunks(MB):
                    await asyncio.to_thread(fh.write, chunk)
            finally:
                got["Body"].close()
                await asyncio.to_thread(fh.close)
            await asyncio.to_thread(os.replace, tmp, dest)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectError(f"{key} is missing") from exc
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(tmp.unlink)

    async def exists(self, path: Path) -> bool:
        try:
            await self.client.head_object(Bucket=self.bucket, Key=self.key(path))
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    async def delete(self, path: Path) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=self.key(path))
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)

    async def download_url(
        self, path: Path, ttl: int, filename: str, content_type: str
    ) -> tuple[str, int]:
        ttl = max(1, min(ttl, MAX_PRESIGN_SECONDS))
        url = await self.signer.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self.key(path),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=ttl,
        )
        return str(url), int(time.time()) + ttl

    async def upload_form(self, key: str, max_bytes: int, ttl: int) -> UploadForm:
        self.path(key)  # refuses a key that would climb out of the data dir
        ttl = max(1, min(ttl, MAX_PRESIGN_SECONDS))
        form = await self.signer.generate_presigned_post(
            self.bucket,
            key,
            Conditions=[["content-length-range", 1, max_bytes]],
            ExpiresIn=ttl,
        )
        fields = {str(k): str(v) for k, v in form["fields"].items()}
        return UploadForm(str(form["url"]), fields, key, int(time.time()) + ttl)

    async def fetch(self, key: str, dest: Path, max_bytes: int) -> int:
        try:
            head = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise ObjectError(f"{key} is missing") from exc
            raise
        size = int(head.get("ContentLength", 0))
        if size > max_bytes:
            raise ObjectError(f"{key} is larger than {max_bytes} bytes")
        await self._download(key, dest)
        return size

    async def forget(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._stack.aclose()

    def info(self) -> dict[str, Any]:
        return {"mode": "s3", "endpoint": self.endpoint, "bucket": self.bucket}
