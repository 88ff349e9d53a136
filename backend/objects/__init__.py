"""Durable files (uploads, voiceovers, render outputs, captions) kept where every process can reach
them: the local data dir alone (embedded mode, ``store.py``) or an S3-compatible bucket with the data
dir as this process's cache (cluster mode, ``s3.py``). A file's object key is its path relative to the
data dir; writers ``publish`` a finished file, readers ``ensure_local`` before opening one, and
download links come from ``download_url`` (a presigned S3 GET in cluster mode)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from backend.core.settings import BackendSettings
from backend.objects.store import ObjectError, ObjectStore, UploadForm

__all__ = ["ObjectError", "ObjectStore", "UploadForm", "open_objects"]


@asynccontextmanager
async def open_objects(settings: BackendSettings) -> AsyncIterator[ObjectStore]:
    """The store the settings ask for: S3 when ``VOBACKEND_S3_ENDPOINT`` is set, else local disk;
    closed on exit."""
    if not settings.s3_endpoint:
        store = ObjectStore(settings.data_dir)
    else:
        from backend.objects.s3 import S3Objects  # aioboto3 is imported only in cluster mode

        store = await S3Objects.open(settings)
    try:
        yield store
    finally:
        await store.close()
