"""The backend as a cluster on 127.0.0.1 for tests (issue 14): API replicas and queue workers.

Real processes only: ``python -m backend`` replicas and ``python -m backend worker`` processes, on
the PostgreSQL (store + queue) and SeaweedFS (objects) of ``tests.support.services``.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.backend import Api, BackendProcess

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    """``python -m backend worker``: runs queued renders and syntheses."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "worker.log"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        seen = self.log().count("worker ready")  # a restart appends to the same log
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "worker", "--data-dir", str(self.data_dir)],
            env={**os.environ, **self.env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited: {self.log_path.read_text()[-2000:]}")
            if self.log().count("worker ready") > seen:
                return
            time.sleep(0.1)
        raise RuntimeError("worker did not start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """``kill -9``: no chance to put its jobs back (the queue's sweep must)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.proc = None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        self.proc = None


@dataclass
class Cluster:
    """API replicas and workers sharing one database (and object store)."""

    replicas: list[BackendProcess]
    workers: list[WorkerProcess]
    _turn: Iterator[int] = field(default_factory=itertools.count)

    def next_url(self) -> str:
        """Round robin over the live replicas, as a load balancer would."""
        live = [r for r in self.replicas if r.proc is not None and r.proc.poll() is None]
        return live[next(self._turn) % len(live)].url

    def api(self, **kw: str) -> ClusterApi:
        return ClusterApi(self, **kw)

    def start(self) -> None:
        for w in self.workers:
            w.start()
        for r in self.replicas:
            r.start()

    def revive(self) -> None:
        """Starts again every process that is not running (a fault test killed it, or a failed
        one left it dead), as a supervisor would."""
        dead = [
            p
            for p in [*self.workers, *self.replicas]
            if p.proc is None or p.proc.poll() is not None
        ]
        for p in dead:
            p.stop()  # reaps an exited process
            p.start()

    def stop(self) -> None:
        """SIGTERM to every process at once (a worker may take its 20 s grace), then wait."""
        for p in [*self.replicas, *self.workers]:
            if p.proc is not None and p.proc.poll() is None:
                p.proc.terminate()
        for r in self.replicas:
            r.stop()
        for w in self.workers:
            w.stop()


def make_cluster(
    base: Path, env: dict[str, str], replicas: int = 2, workers: int = 2, shared_dir: bool = False
) -> Cluster:
    """Replicas and workers with their own data dirs (their local caches), or one shared dir."""
    common = {"VOBACKEND_SECRET": "cluster-test-secret-" + "0" * 24, **env}
    return Cluster(
        replicas=[
            BackendProcess(base / ("shared" if shared_dir else f"api{i}"), env=common)
            for i in range(replicas)
        ],
        workers=[
            WorkerProcess(base / ("shared" if shared_dir else f"worker{i}"), env=common)
            for i in range(workers)
        ],
    )


class ClusterApi(Api):
    """The test client, sending each request to the next replica (no request sticks to one)."""

    def __init__(self, cluster: Cluster, **kw: Any) -> None:
        self.cluster = cluster
        self.replicas_used: set[str] = set()
        super().__init__(cluster.next_url(), **kw)

    def _hop(self) -> None:
        url = self.cluster.next_url()
        self.replicas_used.add(url)
        self.http.base_url = httpx.URL(url)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        self._hop()
        return super().get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        self._hop()
        return super().post(path, **kw)

    def say(self, text: str, sid: str | None = None) -> tuple[httpx.Response, list[dict[str, Any]]]:
        self._hop()
        return super().say(text, sid)

    def credits(self) -> tuple[int, int]:
        """(total, frozen) credits of this identity."""
        data = self.get("/api/credits/balance/simple").json()["data"]
        return int(data["total"]), int(data.get("frozen", 0))
