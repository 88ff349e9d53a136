"""Throughput of the cluster on one box (issue 14): videos per minute for 8 concurrent users, each
making 75-word script-only voiceovers end to end (upload, run_sse, export, poll, download), and the
p50/p95 of every request, for

- embedded: one ``python -m backend`` (SQLite, local disk, 2 render threads, the TTS thread);
- cluster, 1 worker: two API replicas (round robin), one ``python -m backend worker`` (2 render
  slots), PostgreSQL store + queue, SeaweedFS objects;
- cluster, 2 workers: the same with two workers of 1 render slot each (the same 2 render slots).

Target: on the same machine the cluster's throughput is within 15% of embedded (its overhead is
the queue, the database and the object store, not the work). Every script is fresh (a tag per
video), so the sentence cache does not flatter anyone.
Run: ``python -m bench.bench_cluster [--users 8] [--videos 2]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.bench_scaling import script_of
from ops import services as ops_services
from tests.support.backend import Api, BackendProcess
from tests.support.cluster import Cluster, ClusterApi, make_cluster

OVERHEAD_TARGET = 0.15
Timings = dict[str, list[float]]


def timed(timings: Timings, name: str, action: Callable[[], object]) -> object:
    t0 = time.perf_counter()
    result = action()
    timings[name].append(time.perf_counter() - t0)
    return result


def one_video(api: Api, tag: str, out: Path, timings: Timings) -> None:
    script = script_of(75, tag).encode()
    r = timed(timings, "upload", lambda: api.upload(("script.txt", script)))
    assert getattr(r, "status_code", 0) == 200
    said = timed(timings, "run_sse", lambda: api.say("generate a male voiceover for my script"))
    assert said[0].status_code == 200 and said[1][-1].get("turnComplete")  # type: ignore[index]
    job = str(timed(timings, "export", api.export))
    result = timed(timings, "render (export to completed)", lambda: api.poll(job, timeout=1200))
    assert result["status"] == "completed", result  # type: ignore[index]
    url = result["output"]["url"]  # type: ignore[index]
    timed(timings, "download", lambda: api.download(url, out))


def load(new_api: Callable[[], Api], users: int, videos: int, out: Path) -> tuple[float, Timings]:
    """(videos per minute, request timings) for `users` users making `videos` videos each."""
    timings: Timings = defaultdict(list)

    def user(n: int) -> None:
        api = new_api()
        for v in range(videos):
            one_video(api, f"U{n}V{v}x{uuid.uuid4().hex[:4]}", out / f"u{n}v{v}.mp4", timings)
        api.close()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    return users * videos / ((time.perf_counter() - t0) / 60), timings


def report(label: str, rate: float, timings: Timings) -> None:
    print(f"{label}: {rate:.2f} videos/min")
    for name, values in timings.items():
        values = sorted(values)
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"    {name:30s} p50 {statistics.median(values):6.2f} s   p95 {p95:6.2f} s")


def embedded(base: Path, users: int, videos: int, pipeline: bool = True) -> float:
    env = {"VOBACKEND_RENDER_WORKERS": "2", "VOBACKEND_RENDER_PIPELINE": "1" if pipeline else "0"}
    backend = BackendProcess(base / f"embedded{int(pipeline)}", env=env)
    backend.start()
    try:
        load(lambda: Api(backend.url), 1, 1, base)  # warm: voices loaded, fonts found
        rate, timings = load(lambda: Api(backend.url), users, videos, base)
    finally:
        backend.stop()
    how = "" if pipeline else ", no render pipelining: the cluster's way"
    report(f"embedded (1 process{how})", rate, timings)
    return rate


def clustered(base: Path, env: dict[str, str], workers: int, users: int, videos: int) -> float:
    slots = str(2 // workers)
    cluster: Cluster = make_cluster(
        base / f"cluster{workers}", {**env, "VOBACKEND_RENDER_WORKERS": slots}, workers=workers
    )
    cluster.start()
    try:
        load(lambda: ClusterApi(cluster), 1, 1, base)
        rate, timings = load(lambda: ClusterApi(cluster), users, videos, base)
    finally:
        cluster.stop()
    report(f"cluster (2 API replicas, {workers} worker(s) x {slots} render slot(s))", rate, timings)
    return rate


def run(users: int = 8, videos: int = 2, unpipelined: bool = False) -> None:
    """``unpipelined``: also embedded without rendering during synthesis (issue 13's pipelining,
    which a cluster does not do: the render runs on a worker after the speech is done)."""
    with tempfile.TemporaryDirectory(prefix="bench_cluster_") as tmp:
        base = Path(tmp)
        base_rate = embedded(base, users, videos)
        if unpipelined:
            embedded(base, users, videos, pipeline=False)
        state = ops_services.start(base / "services")
        try:
            rates = {}
            for workers in (1, 2):
                db = ops_services.create_database(
                    state["postgres"]["url"], f"bench_cluster_{workers}"
                )
                env = ops_services.env(state, db.rsplit("/", 1)[1])
                rates[workers] = clustered(base, env, workers, users, videos)
        finally:
            ops_services.stop(base / "services", purge=True)
    for workers, rate in rates.items():
        overhead = 1 - rate / base_rate
        verdict = "ok" if overhead < OVERHEAD_TARGET else "over target"
        print(
            f"cluster with {workers} worker(s) vs embedded: {overhead:+.0%} overhead "
            f"(target < {OVERHEAD_TARGET:.0%}: {verdict})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--unpipelined", action="store_true", help="also embedded, unpipelined")
    args = parser.parse_args()
    run(args.users, args.videos, args.unpipelined)
