"""Object storage (issue 14): durable files in real SeaweedFS, presigned links checked by SeaweedFS
itself (moto would accept a tampered link), and the data dir as a per-process cache that a second
"replica" (another data dir) fills from the bucket."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import pytest_asyncio

from backend.core.settings import BackendSettings
from backend.objects import ObjectError, ObjectStore, open_objects
from backend.objects.cache import evict
from backend.objects.s3 import S3Objects
from bot.__main__ import DEMO_STEPS, EXAMPLE_SCRIPT
from bot.messages import VideoFile
from tests.support.backend import Api, BackendProcess
from tests.support.media import make_test_video, probe
from tests.support.services import Services
from tests.support.standin import buttons, engine_harness, next_steps, texts

SCRIPT = "Lumen keeps your desk bright. It dims itself at night."


def s3_settings(services: Services, data_dir: Path) -> BackendSettings:
    s3 = services.s3
    return BackendSettings(
        data_dir=data_dir,
        s3_endpoint=s3["endpoint"],
        s3_bucket=s3["bucket"],
        s3_access_key=s3["access_key"],
        s3_secret_key=s3["secret_key"],
        s3_region=s3["region"],
    )


@pytest_asyncio.fixture(loop_scope="function")  # its clients belong to the test's loop
async def replicas(
    services: Services, tmp_path: Path
) -> AsyncIterator[tuple[S3Objects, S3Objects]]:
    """Two object stores on one bucket, each with its own data dir: two processes' views."""
    async with (
        open_objects(s3_settings(services, tmp_path / "one")) as one,
        open_objects(s3_settings(services, tmp_path / "two")) as two,
    ):
        assert isinstance(one, S3Objects) and isinstance(two, S3Objects)
        yield one, two


def _payload(size: int) -> bytes:
    """Bytes that differ at every offset, so a wrong Range shows."""
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(size // 32 + 1))[:size]


async def _published(store: ObjectStore, rel: str, data: bytes) -> Path:
    path = store.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    await store.publish(path)
    return path


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def test_presigned_get_serves_the_object_and_byte_ranges(
    replicas: tuple[S3Objects, S3Objects],
) -> None:
    one, _ = replicas
    data = _payload(300_000)
    path = await _published(one, f"renders/render_{uuid.uuid4().hex[:8]}.mp4", data)
    url, expires = await one.download_url(path, 600, "voiceover.mp4", "video/mp4")
    assert url.startswith(one.endpoint) and "X-Amz-Signature=" in url
    assert time.time() + 590 <= expires <= time.time() + 610
    async with httpx.AsyncClient(timeout=30) as http:
        whole = await http.get(url)
        assert whole.status_code == 200 and whole.content == data
        assert whole.headers["content-type"] == "video/mp4"
        assert "voiceover.mp4" in whole.headers.get("content-disposition", "")
        part = await http.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        tail = await http.get(url, headers={"Range": "bytes=-100"})
        assert tail.status_code == 206 and tail.content == data[-100:]


async def test_tampered_or_expired_presigned_links_get_403(
    replicas: tuple[S3Objects, S3Objects],
) -> None:
    one, _ = replicas
    secret = await _published(one, f"renders/render_{uuid.uuid4().hex[:8]}.mp4", b"private")
    other = await _published(one, f"renders/render_{uuid.uuid4().hex[:8]}.mp4", b"someone else")
    url, _ = await one.download_url(secret, 600, "v.mp4", "video/mp4")
    sig = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    tampered = [
        url.replace(one.key(secret), one.key(other)),  # the same signature on another object
        _with_query(url, **{"X-Amz-Signature": flipped}),
        _with_query(url, **{"X-Amz-Expires": "604800"}),  # a longer life than was signed
        _with_query(url, **{"response-content-type": "text/html"}),  # a signed parameter changed
    ]
    short, _ = await one.download_url(secret, 1, "v.mp4", "video/mp4")
    async with httpx.AsyncClient(timeout=30) as http:
        assert (await http.get(url)).content == b"private"  # the untouched link works
        for bad in tampered:
            r = await http.get(bad)
            assert r.status_code == 403, (bad, r.status_code, r.text[:200])
            assert b"someone else" not in r.content and b"private" not in r.content
        await asyncio.sleep(2.2)  # past the 1 s the link was signed for
        r = await http.get(short)
        assert r.status_code == 403 and "expired" in r.text.lower()


async def test_publish_then_ensure_local_on_another_replica(
    replicas: tuple[S3Objects, S3Objects],
) -> None:
    one, two = replicas
    rel = f"sessions/s_{uuid.uuid4().hex[:8]}/media/vid_1.mp4"
    data = os.urandom(9 * 1024 * 1024 + 17)  # above the 8 MB multipart threshold
    await _published(one, rel, data)
    cached = two.data_dir / rel
    assert not cached.exists() and await two.exists(cached)
    # several readers at once: one download, whole file, no temporary leftovers
    got = await asyncio.gather(*(two.ensure_local(cached) for _ in range(4)))
    assert got == [cached] * 4
    assert cached.read_bytes() == data
    assert [p.name for p in cached.parent.iterdir()] == ["vid_1.mp4"]
    await two.delete(cached)
    assert not cached.exists() and not await one.exists(one.data_dir / rel)
    with pytest.raises(ObjectError):
        await two.ensure_local(cached)
    assert list(cached.parent.iterdir()) == []  # a failed download leaves nothing


async def test_the_cache_evicts_least_recently_used_published_files(
    replicas: tuple[S3Objects, S3Objects],
) -> None:
    one, _ = replicas
    now = time.time()
    sid = f"s_{uuid.uuid4().hex[:8]}"
    olds = [
        await _published(one, f"sessions/{sid}/media/vid_{i}.mp4", b"o" * 1000) for i in range(4)
    ]
    fresh = await _published(one, f"renders/render_{sid}.mp4", b"f" * 1000)
    for age, path in zip((4000, 3000, 2000, 1000), olds, strict=True):
        os.utime(path, (now - age, now - age))
    await one.ensure_local(olds[0])  # used again just now: it becomes the newest
    partial = one.data_dir / "sessions" / sid / "media" / "up.part"
    hidden = one.data_dir / "renders" / ".render_x.mp4.1234.tmp"
    elsewhere = one.data_dir / "tts-cache" / "clip.wav"
    for path in (partial, hidden, elsewhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"p" * 5000)
        os.utime(path, (now - 9000, now - 9000))
    # 5,000 bytes of durable files over a 3,000 byte budget: down to 2,400, oldest use first, and
    # never a file used in the last 15 minutes nor a partial or non-durable one
    assert evict(one.data_dir, 3000, now=now) == (3, 3000)
    assert [p.exists() for p in olds] == [True, False, False, False]
    assert fresh.exists() and partial.exists() and hidden.exists() and elsewhere.exists()
    assert evict(one.data_dir, 3000, now=now) == (0, 0)  # under budget now
    assert evict(one.data_dir, 1000, now=now) == (0, 0)  # over, but the rest is in use
    await one.ensure_local(olds[2])  # evicted, not lost
    assert olds[2].read_bytes() == b"o" * 1000


async def test_keys_stay_inside_the_data_dir(replicas: tuple[S3Objects, S3Objects]) -> None:
    one, _ = replicas
    assert one.key(one.data_dir / "renders" / "a.mp4") == "renders/a.mp4"
    for outside in (one.data_dir.parent / "x.mp4", one.data_dir / ".." / "x.mp4", one.data_dir):
        with pytest.raises(ObjectError):
            one.key(outside)
    for key in ("../x", "/etc/passwd", "a/../../x", ""):
        with pytest.raises(ObjectError):
            one.path(key)
    with pytest.raises(ObjectError):
        await one.upload_form("../escape", 100, 60)


async def test_presigned_browser_upload_is_capped_and_fetched(
    replicas: tuple[S3Objects, S3Objects], tmp_path: Path
) -> None:
    one, two = replicas
    key = f"incoming/s_{uuid.uuid4().hex[:8]}/up_1"
    form = await one.upload_form(key, 1000, 300)
    async with httpx.AsyncClient(timeout=30) as http:
        big = await http.post(form.url, data=form.fields, files={"file": ("a.bin", b"x" * 1001)})
        assert big.status_code == 400 and "EntityTooLarge" in big.text
        ok = await http.post(form.url, data=form.fields, files={"file": ("a.bin", b"y" * 1000)})
        assert ok.status_code in (200, 201, 204), ok.text
        other = await http.post(
            form.url, data={**form.fields, "key": key + "x"}, files={"file": ("a.bin", b"z")}
        )
        assert other.status_code == 403  # the policy names the key
    assert await two.sweep_incoming(3600) == 0  # a fresh upload is kept
    dest = tmp_path / "got.bin"
    with pytest.raises(ObjectError):
        await two.fetch(key, dest, 999)  # larger than the caller allows
    assert await two.fetch(key, dest, 1000) == 1000 and dest.read_bytes() == b"y" * 1000
    await two.forget(key)
    with pytest.raises(ObjectError):
        await two.fetch(key, dest, 1000)
    # one nobody ingested is deleted once it is older than the sweep's limit
    await one.client.put_object(Bucket=one.bucket, Key=key + "-left", Body=b"left behind")
    kept = f"sessions/s_{uuid.uuid4().hex[:8]}/media/vid_1.mp4"
    await _published(one, kept, b"durable")
    await asyncio.sleep(1.1)  # S3 times are whole seconds
    assert await one.sweep_incoming(0) >= 1
    with pytest.raises(ObjectError):
        await two.fetch(key + "-left", dest, 1000)
    assert await two.exists(two.data_dir / kept)  # only incoming/ is swept


async def test_bad_storage_settings_are_named_and_keys_stay_secret(
    services: Services, tmp_path: Path
) -> None:
    settings = s3_settings(services, tmp_path)
    assert settings.s3_secret_key not in repr(settings) and settings.s3_secret_key not in str(
        settings
    )
    async with open_objects(settings) as store:
        assert settings.s3_secret_key not in str(store.info())
    wrong = settings.model_copy(update={"s3_secret_key": "not-the-key"})
    with pytest.raises(ObjectError, match="cannot be used") as refused:
        async with open_objects(wrong):
            pass
    assert "not-the-key" not in str(refused.value)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(ObjectError, match=closed):
        async with open_objects(settings.model_copy(update={"s3_endpoint": closed})):
            pass


async def test_local_mode_is_the_data_dir(tmp_path: Path) -> None:
    """Embedded: no links of its own (the backend's /files route), files stay where written."""
    async with open_objects(BackendSettings(data_dir=tmp_path)) as local:
        assert type(local) is ObjectStore and not local.remote
        path = await _published(local, "renders/r.mp4", b"abc")
        assert await local.ensure_local(path) == path and await local.exists(path)
        assert await local.download_url(path, 60, "r.mp4", "video/mp4") is None
        assert await local.upload_form("incoming/x", 10, 60) is None
        await local.delete(path)
        with pytest.raises(ObjectError):
            await local.ensure_local(path)


@pytest.fixture
def s3_backend(services: Services, tmp_path: Path) -> Iterator[BackendProcess]:
    env = {k: v for k, v in services.env().items() if k.startswith("VOBACKEND_S3_")}
    proc = BackendProcess(tmp_path / "backend", env=env)
    proc.start()
    yield proc
    proc.stop()


async def test_backend_on_s3_video_voiceover_export_presigned_mp4(
    s3_backend: BackendProcess, services: Services, tmp_path: Path
) -> None:
    api = Api(s3_backend.url)
    try:
        clip = make_test_video(tmp_path / "clip.mp4", seconds=4, width=640, height=360)
        r = api.upload(("clip.mp4", clip), ("script.txt", SCRIPT.encode()))
        assert r.status_code == 200, r.text
        video_id = r.json()["data"]["video_infos"][0]["id"]
        media = s3_backend.data_dir / "sessions" / api.sid / "media"
        settings = s3_settings(services, s3_backend.data_dir)
        async with open_objects(settings) as objects:
            (uploaded,) = media.glob(f"{video_id}.*")
            assert await objects.exists(uploaded)  # published when accepted
            r, events = api.say("generate a natural male voiceover in English for my script")
            assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
            (voice,) = media.glob("voi_*.wav")
            assert await objects.exists(voice)
            r, events = api.say("give me SRT and VTT files")
            assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
            # This process's copies go, as if another replica had received them: the render
            # must take them from the bucket.
            uploaded.unlink()
            voice.unlink()
            result = api.poll(api.export())
            assert result["status"] == "completed", result
            url = result["output"]["url"]
            assert url.startswith(services.s3["endpoint"] + "/"), url
            assert "X-Amz-Signature=" in url and "/files/" not in url
            out = tmp_path / "out.mp4"
            api.download(url, out)
            info = probe(out)
            assert info["audio_codec"] == "aac" and info["width"] == 640
            rendered = s3_backend.data_dir / "renders" / f"{result['id']}.mp4"
            assert rendered.read_bytes() == out.read_bytes()
            captions = result["output"]["captions"]
            assert sorted(captions) == ["srt", "vtt"]
            async with httpx.AsyncClient(timeout=30) as http:
                for ext, link in captions.items():
                    assert link.startswith(services.s3["endpoint"] + "/"), link
                    got = await http.get(link)
                    assert got.status_code == 200 and "Lumen keeps" in got.text, (ext, got.text)
                    assert got.text.startswith("WEBVTT") == (ext == "vtt")
            # the status a later poll gives is signed again, and works too
            again = api.get(f"/api/render/proxy/lambda/{result['id']}").json()["data"]["output"]
            async with httpx.AsyncClient(timeout=30) as http:
                head = await http.get(again["url"], headers={"Range": "bytes=0-63"})
            assert head.status_code == 206 and b"ftyp" in head.content
    finally:
        api.close()


async def test_the_bot_gets_its_video_from_the_presigned_link(
    s3_backend: BackendProcess, tmp_path: Path
) -> None:
    """The engine (console adapter) exports against a backend on S3 and delivers the MP4 it
    downloaded from the storage's presigned link (without its bearer token: another origin)."""
    import av

    async with engine_harness(s3_backend.url, tmp_path, render_poll_max_seconds=1.0) as (
        engine,
        console,
    ):
        await console.push_message("", [EXAMPLE_SCRIPT], chat_id="s3")
        for text in DEMO_STEPS:
            await console.push_message(text, chat_id="s3")
        assert await engine.store.in_flight_jobs() == []
    videos = [o for o in console.sent(VideoFile) if isinstance(o, VideoFile)]
    assert len(videos) == 1, texts(console)
    with av.open(str(videos[0].path)) as container:
        assert container.streams.audio and container.streams.video
    (rendered,) = (s3_backend.data_dir / "renders").glob("render_*.mp4")
    assert rendered.read_bytes() == videos[0].path.read_bytes()
    said = texts(console, "s3")
    assert len(said) == 1 and said[0].startswith("Your voiceover is ready"), said
    assert buttons(console, "s3") == [next_steps()]
