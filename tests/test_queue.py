"""Renders on the SAQ work queue (issue 14) with only ``VOBACKEND_QUEUE_URL`` set: the API replica
enqueues, a ``python -m backend worker`` process renders (the store stays SQLite in a shared data
dir). Real PostgreSQL, real worker process, real ffmpeg."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backend.core.settings import BackendSettings
from backend.runtime.locks import SessionLock, lock_pool
from backend.runtime.queue import RENDER_QUEUE, SPEECH_QUEUE, WorkQueue, queue_url
from tests.support.backend import Api, BackendProcess, iter_parts
from tests.support.cluster import WorkerProcess
from tests.support.media import probe
from tests.support.services import Services

SCRIPT = "Meet Lumen, the desk lamp that learns your rhythm. It wakes you gently with warm light."


@pytest.fixture(scope="module")
def queue_db(services: Services) -> str:
    return services.database("vo_test_queue")


@pytest.fixture(scope="module")
def node(
    queue_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BackendProcess, WorkerProcess]]:
    shared = tmp_path_factory.mktemp("queue_node")
    env = {"VOBACKEND_QUEUE_URL": queue_db}
    worker = WorkerProcess(shared, env=env)
    api = BackendProcess(shared, env=env)
    worker.start()
    api.start()
    try:
        yield api, worker
    finally:
        api.stop()
        worker.stop()


def saq_rows(url: str, key: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT queue, status FROM saq_jobs WHERE key = %s", (key,)).fetchall()
    return [(str(q), str(s)) for q, s in rows]


def speech_jobs(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM saq_jobs WHERE queue = %s AND status = 'complete'",
            (SPEECH_QUEUE,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_queue_url_defaults_to_a_postgres_store() -> None:
    assert queue_url(BackendSettings()) == ""  # embedded: no queue
    assert queue_url(BackendSettings(queue_url="postgresql://q/db")) == "postgresql://q/db"
    pg = BackendSettings.model_validate({"database_url": "postgresql://h/d"})
    assert queue_url(pg) == ("postgresql://h/d" if hasattr(pg, "database_url") else "")


def test_the_worker_renders_what_the_api_enqueued(
    node: tuple[BackendProcess, WorkerProcess], queue_db: str, tmp_path: Path
) -> None:
    backend, worker = node
    api = Api(backend.url)
    assert api.upload(("s.txt", SCRIPT.encode())).status_code == 200
    spoken = speech_jobs(queue_db)
    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    assert speech_jobs(queue_db) == spoken + 1  # the worker synthesized it
    done = [
        p
        for p in iter_parts(events)
        if p.get("functionResponse", {}).get("name") == "synthesize_speech"
    ]
    assert done[-1]["functionResponse"]["response"]["status"] == "done"
    assert 4000 < api.state()["draft"]["t"][0]["sg"][0]["d"] < 15000
    job = api.export()
    # the same id again (a retried request): refused as a duplicate, still one queue job
    again = api.post(
        "/api/render/proxy/lambda",
        json={"id": job, "sessionId": api.sid, "output": {"format": "mp4", "quality": "high"}},
    )
    assert again.status_code == 200 and again.json()["data"]["id"] == job
    result = api.poll(job)
    assert result["status"] == "completed", result
    assert saq_rows(queue_db, job) == [(RENDER_QUEUE, "complete")]
    assert f"render {job} completed" in worker.log()
    assert f"render {job} started" not in (backend.data_dir / "backend.log").read_text()
    info = probe(api.download(result["output"]["url"], tmp_path / "out.mp4"))
    assert info["video_codec"] == "h264" and info["audio_codec"] == "aac"
    api.close()


def test_a_queued_render_can_be_cancelled(
    node: tuple[BackendProcess, WorkerProcess], queue_db: str
) -> None:
    """WorkQueue.cancel aborts the job on the worker; the render row says it failed: cancelled."""
    backend, _worker = node
    api = Api(backend.url)
    long_script = " ".join([SCRIPT] * 40)  # long enough to still be rendering when cancelled
    assert api.upload(("s.txt", long_script.encode())).status_code == 200
    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    job = api.export()

    # the worker writes progress to the row: the API (which runs no render) reports it
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        data = api.get(f"/api/render/proxy/lambda/{job}").json()["data"]
        if data["status"] == "rendering" and data["progress"] > 0:
            break
        time.sleep(0.1)
    assert data["status"] == "rendering" and 0 < data["progress"] < 100, data

    async def cancel() -> bool:
        queue = WorkQueue(queue_db)
        await queue.connect()
        try:
            for _ in range(200):  # until the worker has it
                found = await queue.status(job)
                if found and found[0] == "active":
                    return await queue.cancel(job)
                await asyncio.sleep(0.05)
            return False
        finally:
            await queue.close()

    assert asyncio.run(cancel())
    result = api.poll(job)
    assert result["status"] == "failed", result
    assert "cancelled" in result["error"]["message"]
    assert saq_rows(queue_db, job) == [(RENDER_QUEUE, "aborted")]
    api.close()


def test_a_session_lock_holds_across_replicas(queue_db: str) -> None:
    """Two replicas (two pools) take one session's lock in turn; a dead holder's lock is freed."""

    async def scenario() -> list[str]:
        seen: list[str] = []
        pools = [lock_pool(queue_db), lock_pool(queue_db)]
        for pool in pools:
            await pool.open(wait=True)
        try:
            first = SessionLock(asyncio.Lock(), pools[0], "ses_shared")
            second = SessionLock(asyncio.Lock(), pools[1], "ses_shared")
            other = SessionLock(asyncio.Lock(), pools[1], "ses_other")
            await first.acquire()
            waiting = asyncio.create_task(second.acquire())
            async with other:  # another session is not held up
                seen.append("other session")
            await asyncio.sleep(0.5)
            seen.append("second waits" if not waiting.done() else "second got it too")
            first.release()
            await asyncio.wait_for(waiting, 30)
            seen.append("second after first")
            # the holder's replica dies: its connection goes, and the lock with it
            third = SessionLock(asyncio.Lock(), pools[0], "ses_shared")
            waiting = asyncio.create_task(third.acquire())
            await asyncio.sleep(0.3)
            assert second.conn is not None and not waiting.done()
            await second.conn.close()
            await asyncio.wait_for(waiting, 30)
            seen.append("freed by the dead holder")
            third.release()
            await asyncio.sleep(0.2)  # the unlock runs as a task
        finally:
            for pool in pools:
                await pool.close()
        return seen

    assert asyncio.run(scenario()) == [
        "other session",
        "second waits",
        "second after first",
        "freed by the dead holder",
    ]


def test_one_identity_does_not_hold_up_another(node: tuple[BackendProcess, WorkerProcess]) -> None:
    """Three renders of one identity, then one of another: the other's starts before the first
    identity's second (one render per identity runs at a time, cluster-wide)."""
    backend, worker = node
    heavy, light = Api(backend.url), Api(backend.url)
    for api in (heavy, light):
        assert api.upload(("s.txt", SCRIPT.encode())).status_code == 200
        r, events = api.say("generate a natural male voiceover in English for my script")
        assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    queued = [heavy.export() for _ in range(3)]
    other = light.export()
    for api, job in [(heavy, j) for j in queued] + [(light, other)]:
        assert api.poll(job)["status"] == "completed"
    started = re.findall(r"render (render_\w+) started", worker.log())
    order = [j for j in started if j in (*queued, other)]
    assert order.index(other) < order.index(queued[1]), order
    heavy.close()
    light.close()


def test_a_render_the_queue_never_got_is_put_back(
    node: tuple[BackendProcess, WorkerProcess], queue_db: str
) -> None:
    """The replica died between writing the render's row and queueing it: the next status poll
    (on any replica) queues it, and it is rendered."""
    backend, worker = node
    api = Api(backend.url)
    assert api.upload(("s.txt", SCRIPT.encode())).status_code == 200
    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    worker.stop()
    try:
        job = api.export()
        with psycopg.connect(queue_db, autocommit=True) as conn:
            conn.execute("DELETE FROM saq_jobs WHERE key = %s", (job,))
        assert saq_rows(queue_db, job) == []
        data = api.get(f"/api/render/proxy/lambda/{job}").json()["data"]
        assert data["status"] == "queued"
        assert saq_rows(queue_db, job) == [(RENDER_QUEUE, "queued")]
    finally:
        worker.start()
    assert api.poll(job)["status"] == "completed"
    api.close()
