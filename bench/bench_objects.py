"""Object storage on one box (issue 14): what S3 mode adds to a durable file's life, against SeaweedFS
on 127.0.0.1. For files of 8, 100 and 500 MB (an upload's limit): ``publish`` (multipart upload),
``ensure_local`` on another data dir (a replica's first read: download + rename), a presigned GET
streamed by a client, each as MB/s (medians of 3 runs), and how much this process's peak RSS
(VmHWM) rose during that size's runs (the first size pays for loading aioboto3). Target: the peak
does not grow with the file (transfers stream in 8 MB parts; a 500 MB file never sits in memory).
Then a backend on S3 takes a 500 MB upload through the API (streamed to its disk, checked, published):
seconds and the backend's peak RSS beside the 400 MB target, as ``bench_upload`` does embedded.
Run: ``python -m bench.bench_objects [--sizes 8,100,500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from backend.core.settings import BackendSettings
from backend.objects import open_objects
from bench.bench_upload import _peak_rss_mb, stream_upload
from ops import services as ops_services
from tests.support.backend import Api, BackendProcess

MB = 1024 * 1024
RUNS = 3
RSS_TARGET_MB = 400


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _settings(s3: dict[str, str], data_dir: Path) -> BackendSettings:
    return BackendSettings(
        data_dir=data_dir,
        s3_endpoint=s3["endpoint"],
        s3_bucket=s3["bucket"],
        s3_access_key=s3["access_key"],
        s3_secret_key=s3["secret_key"],
        s3_region=s3["region"],
    )


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(MB)
    with path.open("wb") as fh:
        for _ in range(size // MB):
            fh.write(block)


async def _measure(s3: dict[str, str], root: Path, size_mb: int) -> dict[str, float]:
    times: dict[str, list[float]] = {"publish": [], "ensure_local": [], "presigned GET": []}
    before = _hwm_mb()
    async with (
        open_objects(_settings(s3, root / "one")) as one,
        open_objects(_settings(s3, root / "two")) as two,
    ):
        for run in range(RUNS):
            path = one.data_dir / "renders" / f"bench_{size_mb}_{run}.mp4"
            await asyncio.to_thread(_write, path, size_mb * MB)
            t0 = time.perf_counter()
            await one.publish(path)
            times["publish"].append(time.perf_counter() - t0)
            cached = two.data_dir / one.key(path)
            t0 = time.perf_counter()
            await two.ensure_local(cached)
            times["ensure_local"].append(time.perf_counter() - t0)
            assert cached.stat().st_size == size_mb * MB
            url, _ = await one.download_url(path, 600, "b.mp4", "video/mp4")
            t0 = time.perf_counter()
            got = 0
            async with httpx.AsyncClient(timeout=120) as http, http.stream("GET", url) as r:
                async for chunk in r.aiter_bytes(MB):
                    got += len(chunk)
            times["presigned GET"].append(time.perf_counter() - t0)
            assert got == size_mb * MB
            await one.delete(path)
            cached.unlink()
    out = {name: size_mb / statistics.median(t) for name, t in times.items()}
    out["rss growth MB"] = max(0.0, _hwm_mb() - before)
    return out


def run(sizes: tuple[int, ...] = (8, 100, 500)) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-objects-") as tmp:
        base = Path(tmp)
        t0 = time.perf_counter()
        state = ops_services.start(base / "services", ("seaweedfs",))
        print(f"SeaweedFS ready in {time.perf_counter() - t0:.1f} s")
        try:
            for size in sizes:
                found = asyncio.run(_measure(state["seaweedfs"], base / f"d{size}", size))
                rates = ", ".join(f"{k} {v:.0f} MB/s" for k, v in found.items() if "MB" not in k)
                print(
                    f"{size:>4} MB: {rates}; peak RSS growth {found['rss growth MB']:.0f} MB "
                    f"({found['rss growth MB'] / size:.2f}x the file)"
                )
            _api_upload(state["seaweedfs"], base)
        finally:
            ops_services.stop(base / "services", ("seaweedfs",), purge=True)


def _api_upload(s3: dict[str, str], root: Path) -> None:
    env = {
        "VOBACKEND_S3_ENDPOINT": s3["endpoint"],
        "VOBACKEND_S3_BUCKET": s3["bucket"],
        "VOBACKEND_S3_ACCESS_KEY": s3["access_key"],
        "VOBACKEND_S3_SECRET_KEY": s3["secret_key"],
        "VOBACKEND_S3_REGION": s3["region"],
    }
    proc = BackendProcess(root / "backend", env=env)
    proc.start()
    try:
        assert proc.proc is not None
        api = Api(proc.url)
        before = _peak_rss_mb(proc.proc.pid)
        seconds = stream_upload(api, root)
        peak = _peak_rss_mb(proc.proc.pid)
        api.close()
    finally:
        proc.stop()
    print(
        f"500 MB API upload into a backend on S3 (received, checked, published) in {seconds:.1f} s; "
        f"backend peak RSS {peak:.0f} MB (before {before:.0f} MB)   target < {RSS_TARGET_MB} MB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="8,100,500")
    args = parser.parse_args()
    run(tuple(int(s) for s in args.sizes.split(",")))
