"""Render status with ``?wait=``: the backend holds the request until the render ends.

Real: the backend process (embedded; and the cluster with PostgreSQL, SeaweedFS and a worker where
marked both_modes), Piper, ffmpeg, the bot's BackendClient over HTTP. The stand-in (the hosted
service, which answers at once) checks that the bot still spaces its polls out there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.client import Auth, BackendClient
from bot.messages import VideoFile
from tests.support.backend import Api, BackendProcess
from tests.support.standin import StandIn, engine_harness


@pytest.mark.both_modes
def test_one_status_request_waits_for_the_render(api: Api) -> None:
    """One GET with wait=20 right after the start answers with the finished render."""
    api.say("voiceover\nscript: One request waits until this video is ready.")
    job = api.export()
    r = api.get(f"/api/render/proxy/lambda/{job}?wait=20")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["status"] == "completed", data
    assert data["progress"] == 100
    assert data["output"]["url"] and data["output"]["size"] > 10_000


def test_wait_out_of_range_is_a_bad_request(api: Api) -> None:
    api.say("voiceover\nscript: A short line to render.")
    job = api.export()
    for bad in ("21", "-1", "soon", "nan"):
        r = api.get(f"/api/render/proxy/lambda/{job}?wait={bad}")
        assert r.status_code == 400, (bad, r.text)
        assert r.json()["code"] == 4000 and "wait" in r.json()["message"], r.text
    api.poll(job)


def test_a_finished_render_answers_at_once_and_unknown_ids_are_not_held(api: Api) -> None:
    api.say("voiceover\nscript: Finished renders do not wait.")
    job = api.export()
    assert api.poll(job)["status"] == "completed"
    r = api.get(f"/api/render/proxy/lambda/{job}?wait=20")
    assert r.json()["data"]["status"] == "completed"
    r = api.get("/api/render/proxy/lambda/render_nope?wait=20")
    assert r.json()["code"] == 4004


async def test_bot_client_waits_on_our_backend(backend: BackendProcess, api: Api) -> None:
    """The bot's own client sends wait= and gets the finished render in one call."""
    api.say("voiceover\nscript: The bot asks once and hears back when it is done.")
    job = api.export()
    client = BackendClient(backend.url)
    try:
        status = await client.render_status(Auth(api.token), job, wait=20)
    finally:
        await client.aclose()
    assert status.status == "completed"
    assert status.output is not None and status.output.url


async def test_bot_spaces_polls_on_a_backend_that_answers_at_once(
    standin: StandIn, tmp_path: Path
) -> None:
    """Stand-in (the hosted service ignores wait=): a 3 s render is polled a handful of times,
    not in a loop, and the video is delivered."""
    standin.behaviour.render_seconds = 3
    async with engine_harness(
        standin.base_url, tmp_path, render_poll_initial_seconds=0.5, render_poll_max_seconds=2
    ) as (_engine, console):
        await console.push_message("export")
    assert len(console.sent(VideoFile)) == 1
    polls = standin.count("/api/render/proxy/lambda/", "GET")
    assert 2 <= polls <= 12, polls
    waited = [r for r in standin.requests if "wait=" in r.query]
    assert waited, "the bot did not ask the backend to wait"
