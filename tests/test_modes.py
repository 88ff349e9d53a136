"""The two modes the end-to-end tests run in (tests/support/modes.py): the cluster mode is a real
cluster, each request to the other API replica through the round-robin proxy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.backend import Api, BackendProcess
from tests.support.modes import ClusterBackend


def test_the_proxy_sends_requests_to_both_replicas(cluster_backend: ClusterBackend) -> None:
    """One identity's token, session, upload and turn: consecutive requests on different replicas,
    the second replica answering for what the first stored (no request sticks to one)."""
    before = cluster_backend.proxy.counts()
    api = Api(cluster_backend.url)
    assert api.upload(("s.txt", b"Two replicas share one project.")).status_code == 200
    r, events = api.say("generate a voiceover")
    assert r.status_code == 200 and events[-1]["turnComplete"] is True
    assert [m["kind"] for m in api.state()["generated_media"]] == ["voiceover"]
    api.close()
    served = [n - b for n, b in zip(cluster_backend.proxy.counts(), before, strict=True)]
    assert sum(served) == 5 and min(served) >= 2, served  # round robin: 3 and 2


def test_the_proxy_streams_a_turn_as_it_runs(cluster_backend: ClusterBackend) -> None:
    """SSE passes through event by event, not buffered: when the turn's first event arrives, the
    voiceover is not in the session yet (it is once the stream ends)."""
    api = Api(cluster_backend.url)
    assert api.upload(("s.txt", b"One event at a time. Then the rest.")).status_code == 200
    body = {
        "app_name": "nemo_agent",
        "user_id": "me",
        "session_id": api.sid,
        "new_message": {"parts": [{"text": "generate a voiceover"}]},
    }
    media_at_first_event: list[Any] | None = None
    events = []
    with api.http.stream("POST", "/run_sse", json=body, headers=api.headers) as r:
        for line in r.iter_lines():
            if line.startswith("data:") and line[5:].strip():
                events.append(json.loads(line[5:]))
                if media_at_first_event is None:
                    media_at_first_event = api.state()["generated_media"]
    assert media_at_first_event == [] and events[-1]["turnComplete"] is True
    assert [m["kind"] for m in api.state()["generated_media"]] == ["voiceover"]
    api.close()


@pytest.mark.both_modes
def test_both_modes_give_their_own_backend(backend: BackendProcess | ClusterBackend) -> None:
    """A test marked both_modes gets the embedded process, then the cluster behind the proxy."""
    api = Api(backend.url)
    assert api.get("/healthz").status_code == 200
    api.close()
    if isinstance(backend, ClusterBackend):
        assert backend.url == backend.proxy.url
        assert all(r.proc is not None and r.proc.poll() is None for r in backend.cluster.replicas)
        assert len(backend.cluster.workers) == 2
    else:
        assert isinstance(backend, BackendProcess) and backend.proc is not None
