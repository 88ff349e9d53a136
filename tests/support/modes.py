"""The backend the end-to-end tests talk to, in either mode of issue 14.

``embedded``: one ``python -m backend`` process (SQLite, local disk, in-process renders), as
``./dev demo`` runs it. ``cluster``: two API replicas and two queue workers on PostgreSQL and
SeaweedFS (tests.support.cluster), behind a round-robin proxy (tests.support.proxy) so that
consecutive requests of one test land on different replicas. Tests marked ``both_modes`` run once
in each (conftest.py parametrizes the ``backend`` fixture); both backends start once per session.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.__main__ import EXAMPLE_SCRIPT
from tests.support.backend import Api, BackendProcess
from tests.support.cluster import Cluster, make_cluster
from tests.support.proxy import RoundRobinProxy
from tests.support.services import Services

MODES = ("embedded", "cluster")
WARM_UP = "generate a natural male voiceover in English for my script"


@dataclass
class ClusterBackend:
    """What the tests use of a BackendProcess (url, port, data_dir), for the cluster behind the
    proxy. ``data_dir`` is the cluster's base folder: tests that read a single process's files
    (its SQLite database, its upload temp files) are embedded-only."""

    cluster: Cluster
    proxy: RoundRobinProxy
    data_dir: Path

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


def tts_caches(backend: BackendProcess | ClusterBackend) -> list[Path]:
    if isinstance(backend, ClusterBackend):
        return backend.tts_caches()
    return [backend.data_dir / "tts-cache"]


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
    services.database("vo_test_modes")
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
    return ClusterBackend(cluster, proxy, base)
