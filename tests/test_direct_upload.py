"""The web upload page with S3 storage: the browser sends the file to SeaweedFS through a presigned
form, and the backend ingests it (issue 14). Real backend, real SeaweedFS, real Chromium."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio

from backend.core.settings import BackendSettings
from backend.objects import ObjectStore, open_objects
from tests.support.backend import Api, BackendProcess
from tests.support.media import make_test_video
from tests.support.services import Services
from tests.test_webupload import _browser_upload, browser, needs_browser  # noqa: F401


@pytest.fixture(scope="module")
def s3_backend(
    services: Services, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendProcess]:
    env = {k: v for k, v in services.env().items() if k.startswith("VOBACKEND_S3_")}
    proc = BackendProcess(
        tmp_path_factory.mktemp("direct"),
        env={**env, "VOBACKEND_MAX_UPLOAD_BYTES": str(20 * 1024 * 1024)},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def bucket(services: Services, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    """The backend's bucket seen from this test (its own cache dir)."""
    s3 = services.s3
    settings = BackendSettings(
        data_dir=tmp_path / "view",
        s3_endpoint=s3["endpoint"],
        s3_bucket=s3["bucket"],
        s3_access_key=s3["access_key"],
        s3_secret_key=s3["secret_key"],
        s3_region=s3["region"],
    )
    async with open_objects(settings) as objects:
        yield objects


def _link(api: Api) -> tuple[str, dict[str, str]]:
    r = api.post(f"/api/upload-link/nemo_agent/me/{api.sid}")
    assert r.json()["code"] == 0, r.text
    url = str(r.json()["data"]["url"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return url, query


async def _incoming(bucket: Any, sid: str) -> list[str]:
    found = await bucket.client.list_objects_v2(Bucket=bucket.bucket, Prefix=f"incoming/{sid}/")
    return [o["Key"] for o in found.get("Contents", [])]


async def test_direct_upload_over_http(
    s3_backend: BackendProcess, bucket: Any, tmp_path: Path
) -> None:
    api = Api(s3_backend.url)
    try:
        _, signed = _link(api)
        base = f"{s3_backend.url}/upload/{api.sid}/direct"
        clip = make_test_video(tmp_path / "clip.mp4", seconds=3, width=640, height=360)
        data = clip.read_bytes()
        async with httpx.AsyncClient(timeout=60) as http:
            big = await http.post(base, params=signed, json={"name": "x.mp4", "size": 21 << 20})
            assert big.json()["code"] == 4002, big.text
            form = (
                await http.post(base, params=signed, json={"name": "clip.mp4", "size": len(data)})
            ).json()
            assert form["code"] == 0, form
            form = form["data"]
            assert form["url"].startswith(bucket.endpoint) and form["key"].startswith(
                f"incoming/{api.sid}/"
            )
            sent = await http.post(
                form["url"], data=form["fields"], files={"file": ("clip.mp4", data)}
            )
            assert sent.status_code in (200, 201, 204), sent.text
            assert await _incoming(bucket, api.sid) == [form["key"]]
            # someone else's key, an altered link, and a key that never arrived are refused
            other = f"incoming/s_{uuid.uuid4().hex[:8]}/{uuid.uuid4().hex}"
            r = await http.post(base + "/done", params=signed, json={"key": other, "name": "a.mp4"})
            assert r.json()["code"] == 4000, r.text
            bad = {**signed, "sig": signed["sig"][::-1]}
            r = await http.post(base + "/done", params=bad, json={"key": form["key"], "name": "a"})
            assert r.json()["code"] == 4003 and r.status_code == 403, r.text
            nothing = f"incoming/{api.sid}/{uuid.uuid4().hex}"
            r = await http.post(base + "/done", params=signed, json={"key": nothing, "name": "a"})
            assert r.json()["code"] == 4000, r.text
            done = await http.post(
                base + "/done", params=signed, json={"key": form["key"], "name": "clip.mp4"}
            )
        assert done.json()["code"] == 0, done.text
        (video,) = done.json()["data"]["video_infos"]
        assert (video["name"], video["size"], video["width"]) == ("clip.mp4", len(data), 640)
        assert await _incoming(bucket, api.sid) == []  # used once, then deleted
        (kept,) = (s3_backend.data_dir / "sessions" / api.sid / "media").glob(f"{video['id']}.*")
        assert await bucket.exists(bucket.data_dir / kept.relative_to(s3_backend.data_dir))
        assert [v["id"] for v in api.state()["video_infos"]] == [video["id"]]
    finally:
        api.close()


@needs_browser
async def test_browser_sends_the_file_to_s3(
    s3_backend: BackendProcess,
    bucket: Any,
    browser: Any,  # noqa: F811 (the fixture of tests/test_webupload.py)
    tmp_path: Path,
) -> None:
    api = Api(s3_backend.url)
    try:
        url, _ = _link(api)
        async with httpx.AsyncClient() as http:
            page = await http.get(url)
        csp = page.headers["content-security-policy"]
        assert f"connect-src 'self' {bucket.endpoint}" in csp and "data-direct=" in page.text
        clip = make_test_video(tmp_path / "ad.mp4", seconds=3, width=1280, height=720)
        cls, text = await asyncio.to_thread(_browser_upload, browser, url, clip, tmp_path / "p.png")
        assert cls == "ok", text
        (video,) = api.state()["video_infos"]
        assert (video["name"], video["size"], video["width"]) == (
            "ad.mp4",
            clip.stat().st_size,
            1280,
        )
        assert await _incoming(bucket, api.sid) == []
        # the page answered "ok" only after /direct/done (the session has the video at once),
        # and the bytes went to the storage, never through the backend's form route
        sent = await asyncio.to_thread(
            browser.execute_script,
            "return performance.getEntriesByType('resource').map(e => e.name)",
        )
        assert any(u.startswith(bucket.endpoint + "/") for u in sent), sent
        assert any(f"/upload/{api.sid}/direct/done" in u for u in sent), sent
        assert not any(f"/upload/{api.sid}/files" in u for u in sent), sent
    finally:
        api.close()
