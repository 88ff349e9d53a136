"""The backend the end-to-end tests talk to, in either mode of issue 14.

``embedded``: one ``python -m backend`` process (SQLite, local disk, in-process renders), as
``./dev demo`` runs it. ``cluster``: two API replicas and two queue workers on PostgreSQL and
SeaweedFS (tests.support.cluster), behind a round-robin proxy (tests.support.proxy) so that
consecutive requests of one test land on different replicas. Tests marked ``both_modes`` run once
in each (conftest.py parametrizes the ``backend`` fixture); both backends start once per session.
``VO_TEST_MODES=cluster`` runs every test that uses the backend against the cluster instead.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.state.pg_store import SCHEMA
from bot.__main__ import EXAMPLE_SCRIPT
from tests.support.backend import Api, BackendProcess
from tests.support.cluster import Cluster, make_cluster
from tests.support.proxy import RoundRobinProxy
from tests.support.services import Services

MODES = ("embedded", "cluster")


def uses_cluster(items: list[Any]) -> bool:
    """Some test of this session (pytest items) runs against the cluster."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "cluster":
            return True
        if "cluster_backend" in getattr(item, "fixturenames", ()):
            return True
    return False


def chosen_modes() -> list[str]:
    """VO_TEST_MODES (comma-separated): run every test that uses the backend in these modes, to
    look for what else the cluster breaks. Unset: only tests marked both_modes run in both."""
    chosen = [m.strip() for m in os.environ.get("VO_TEST_MODES", "").split(",") if m.strip()]
    unknown = set(chosen) - set(MODES)
    if unknown:
        raise ValueError(f"VO_TEST_MODES: unknown mode(s) {sorted(unknown)}; known: {MODES}")
    return chosen


WARM_UP = "generate a natural male voiceover in English for my script"


@dataclass
class ClusterBackend:
    """What the tests use of a BackendProcess (url, port, data_dir), for the cluster behind the
    proxy. ``data_dir`` is the cluster's base folder: tests that read a single process's files
    (its SQLite database, its upload temp files) are embedded-only."""

    cluster: Cluster
    proxy: RoundRobinProxy
    data_dir: Path
    database_url: str

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def port(self) -> int:
        return self.proxy.port

    def tts_caches(self) -> list[Path]:
        """Every process's sentence cache (the workers synthesize; each has its own)."""
        procs = [*self.cluster.replicas, *self.cluster.workers]
        return [p.data_dir / "tts-cache" for p in procs]

    def stop(self) -> None:
        """All processes told to stop at once (a worker's shutdown grace period is seconds)."""
        self.proxy.stop()
        procs = [*self.cluster.replicas, *self.cluster.workers]
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda p: p.stop(), procs))


def store_sql(backend: BackendProcess | ClusterBackend, statement: str, *params: object) -> None:
    """One statement on the backend's own store (its SQLite file, or the cluster's PostgreSQL
    database: both have the same tables), ``?`` placeholders: how a test sets up a state that
    takes days to reach (an expired token, no credits left)."""
    if isinstance(backend, ClusterBackend):
        import psycopg

        options = f"-c search_path={SCHEMA}"
        with psycopg.connect(backend.database_url, autocommit=True, options=options) as conn:
            conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return
    with sqlite3.connect(backend.data_dir / "backend.sqlite3") as db:
        db.execute(statement, params)
    db.close()


def tts_caches(backend: BackendProcess | ClusterBackend) -> list[Path]:
    if isinstance(backend, ClusterBackend):
        return backend.tts_caches()
    return [backend.data_dir / "tts-cache"]


def cache_contents(caches: list[Path]) -> set[Path]:
    return {path for cache in caches if cache.is_dir() for path in cache.iterdir()}


def restore_caches(caches: list[Path], before: set[Path]) -> None:
    """Removes what was synthesized since ``before`` (cache_contents), so no test's credits or
    cache counts depend on the order; a voice model a worker loaded (models/) stays."""
    for cache in caches:
        for path in set(cache.iterdir()) - before if cache.is_dir() else ():
            if not path.is_dir():
                path.unlink(missing_ok=True)


def warm_up(backend: BackendProcess) -> None:
    """Puts the example script's speech in the sentence cache before any test runs, so every test
    sees the same cache (conftest's _restore_tts_cache removes whatever a test adds)."""
    warm = Api(backend.url)
    assert warm.upload(("lumen_script.txt", EXAMPLE_SCRIPT.read_bytes())).status_code == 200
    r, _ = warm.say(WARM_UP)
    assert r.status_code == 200
    warm.close()


def share_cache(warm: BackendProcess, cluster: ClusterBackend) -> None:
    """The cluster's processes start with the sentence cache the embedded backend's warm-up made
    (same voices, same keys), rather than voicing the example script again."""
    clips = [
        c for c in (warm.data_dir / "tts-cache").glob("[!.]*") if c.suffix in (".wav", ".json")
    ]
    for cache in cluster.tts_caches():
        cache.mkdir(parents=True, exist_ok=True)
        for clip in sorted(clips, key=lambda c: c.suffix != ".wav"):  # audio first, as TTSEngine
            shutil.copy2(clip, cache / clip.name)


def embedded_backend(base: Path) -> BackendProcess:
    proc = BackendProcess(base)
    proc.start()
    return proc


def cluster_backend(services: Services, base: Path) -> ClusterBackend:
    """Two replicas and two workers on a database of their own, the proxy in front."""
    database_url = services.database("vo_test_modes")
    cluster = make_cluster(base, services.env("vo_test_modes"))
    proxy = RoundRobinProxy([r.url for r in cluster.replicas])
    procs = [*cluster.workers, *cluster.replicas]
    try:
        with ThreadPoolExecutor(len(procs)) as pool:  # their imports and migrations overlap
            list(pool.map(lambda p: p.start(), procs))
        proxy.start()
    except BaseException:
        proxy.stop()
        cluster.stop()
        raise
    return ClusterBackend(cluster, proxy, base, database_url)
