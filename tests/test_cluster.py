"""The backend as a cluster (issue 14): two API replicas on two ports, two queue workers, PostgreSQL
(store, queue, session locks) and SeaweedFS (objects), all real, all on 127.0.0.1.

Every request of a flow goes to the other replica than the one before (as a load balancer may
send them), then the faults: a worker killed mid-render, an API replica killed mid-turn,
PostgreSQL restarted between an export and its poll. The cluster is the session's (conftest's
``cluster_backend``, which the ``both_modes`` tests use through its proxy), not a second one: after
each test, what a fault test killed is started again and what it synthesized leaves the caches.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import test_backend_flow as flow
from tests.support import modes
from tests.support.backend import iter_parts
from tests.support.cluster import Cluster, ClusterApi
from tests.support.media import probe
from tests.support.modes import ClusterBackend
from tests.support.services import Services

SCRIPT = (
    "Meet Lumen, the desk lamp that learns your rhythm. It wakes you gently with warm morning "
    "light. At night it fades to amber so you can wind down."
)
VOICEOVER = "generate a natural male voiceover in English for my script"


@pytest.fixture
def cluster(cluster_backend: ClusterBackend) -> Iterator[Cluster]:
    """The session's cluster, whole and with its sentence caches as they were after the test, so
    the tests that use it next (in any module, in any order) find what they would have found."""
    caches = cluster_backend.tts_caches()
    before = modes.cache_contents(caches)
    yield cluster_backend.cluster
    cluster_backend.cluster.revive()
    modes.restore_caches(caches, before)


def voiceover(api: ClusterApi, script: str = SCRIPT) -> list[dict[str, Any]]:
    assert api.upload(("script.txt", script.encode())).status_code == 200
    r, events = api.say(VOICEOVER)
    assert r.status_code == 200 and events and events[-1]["turnComplete"], events[-1:]
    assert "errorCode" not in events[-1], events[-1]
    return events


FLOWS = [
    flow.test_script_txt_to_1080p_mp4,
    flow.test_uploaded_video_is_copied_not_reencoded,
    flow.test_docx_script_and_vertical,
    flow.test_inline_script_voice_fallback_and_speed,
]


def runs_in_both_modes(case: Callable[..., None]) -> bool:
    """Marked ``both_modes``: conftest.py runs it on a cluster already (not twice)."""
    return any(m.name == "both_modes" for m in getattr(case, "pytestmark", []))


@pytest.mark.parametrize(
    "case",
    [case for case in FLOWS if not runs_in_both_modes(case)],
    ids=lambda case: case.__name__.removeprefix("test_"),
)
def test_the_embedded_flows_on_the_cluster(
    case: Callable[..., None], cluster: Cluster, tmp_path: Path
) -> None:
    """tests/test_backend_flow.py's end-to-end flows, as they are, each request to the other
    replica, the speech and the render on the workers."""
    api = cluster.api()
    if "tmp_path" in inspect.signature(case).parameters:
        case(api, tmp_path)
    else:
        case(api)
    assert len(api.replicas_used) == 2
    total, frozen = api.credits()
    assert frozen == 0 and total < 100  # charged for the speech, nothing left frozen
    api.close()


def rendering_on(cluster: Cluster, job: str, timeout: float = 120) -> int:
    """The index of the worker that started render ``job``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i, w in enumerate(cluster.workers):
            if f"render {job} started" in w.log():
                return i
        time.sleep(0.1)
    raise AssertionError(f"no worker started {job}")


def test_a_worker_killed_mid_render(cluster: Cluster, tmp_path: Path) -> None:
    """kill -9 the worker rendering: the other one renders it again; credits charged once."""
    api = cluster.api()
    voiceover(api, " ".join([SCRIPT] * 4))
    charged = api.credits()
    job = api.export()
    victim = rendering_on(cluster, job)
    cluster.workers[victim].kill()
    try:
        result = api.poll(job, timeout=300)
        assert result["status"] == "completed", result
        survivor = cluster.workers[1 - victim]
        assert f"render {job} completed" in survivor.log()
        info = probe(api.download(result["output"]["url"], tmp_path / "out.mp4"))
        assert info["audio_codec"] == "aac" and info["video_codec"] == "h264"
        assert api.credits() == charged  # a render costs nothing more, retried or not
    finally:
        cluster.workers[victim].start()
    api.close()


def test_postgres_restarted_between_export_and_poll(
    cluster: Cluster, services: Services, tmp_path: Path
) -> None:
    api = cluster.api()
    voiceover(api)
    job = api.export()
    services.stop_postgres()
    services.start_postgres()
    result = api.poll(job, timeout=300)
    assert result["status"] == "completed", result
    info = probe(api.download(result["output"]["url"], tmp_path / "out.mp4"))
    assert info["audio_codec"] == "aac"
    # the workers listen for new jobs again, and turns still take the session lock
    r, events = api.say("make it vertical")
    assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    result = api.poll(api.export(), timeout=300)
    assert result["status"] == "completed", result
    assert probe(api.download(result["output"]["url"], tmp_path / "v.mp4"))["height"] == 1920
    api.close()


def test_an_api_replica_killed_mid_turn(cluster: Cluster) -> None:
    """The replica streaming a turn dies; the client sends the message again to the other one:
    one voiceover in the session, charged once."""
    api = cluster.api()
    assert api.upload(("script.txt", " ".join([SCRIPT] * 3).encode())).status_code == 200
    before, _ = api.credits()
    victim = cluster.replicas[0]
    api.http.base_url = httpx.URL(victim.url)
    started = threading.Event()
    outcome: dict[str, Any] = {}

    def stream() -> None:
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": api.sid,
            "new_message": {"parts": [{"text": VOICEOVER}]},
        }
        try:
            with httpx.stream(
                "POST", victim.url + "/run_sse", json=body, headers=api.headers, timeout=120
            ) as r:
                for line in r.iter_lines():
                    if "synthesize_speech" in line:
                        started.set()
            outcome["ended"] = "normally"
        except httpx.HTTPError as exc:
            outcome["ended"] = type(exc).__name__
        started.set()

    reader = threading.Thread(target=stream)
    reader.start()
    assert started.wait(120)
    _, frozen_by_turn = api.credits()  # the running turn's freeze
    victim.stop(kill=True)
    reader.join(60)
    assert outcome.get("ended") != "normally", outcome  # the stream was cut
    survivor = next(r for r in cluster.replicas if r is not victim)
    api.http.base_url = httpx.URL(survivor.url)
    r, events = super(ClusterApi, api).say(VOICEOVER)  # straight to the survivor
    assert r.status_code == 200 and events[-1]["turnComplete"], events[-1:]
    assert "errorCode" not in events[-1], events[-1]
    victim.start()  # as a supervisor would
    charged = [
        p["functionResponse"]["response"]["credits"]
        for p in iter_parts(events)
        if p.get("functionResponse", {}).get("response", {}).get("status") == "done"
    ]
    assert len(charged) == 1 and charged[0] > 0, charged
    state = api.state()
    voice_tracks = [tr for tr in state["draft"]["t"] if tr["tt"] == 1]
    assert len(voice_tracks) == 1 and len(voice_tracks[0]["sg"]) == 1
    total, frozen = api.credits()
    assert before - total == charged[0]  # the speech charged once, not for the dead turn too
    # the dead turn's freeze is released once no turn can still be running (PgBackendStore)
    assert frozen <= frozen_by_turn
    api.close()
