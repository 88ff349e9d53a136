"""Issue 11, classes 2, 5 and 6 against the real backend on 127.0.0.1 (real Piper, real ffmpeg):
a huge turn is read off the event loop, client drafts are bounded by the session's own media,
renders are scheduled fairly across identities, and credits are charged by what each identity
had synthesized, with anonymous tokens issued once per client id."""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.conversation.plan import SynthesisPace
from backend.core.types import SpeechResult
from backend.runtime.jobs import FairSlots
from tests.support import hostile as H
from tests.support.backend import Api, BackendProcess, iter_parts, texts

RENDER = "/api/render/proxy/lambda"


def _done(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The synthesize_speech result of a turn (duration, sentences, cached, credits)."""
    found = [
        p["functionResponse"]["response"]
        for p in iter_parts(events)
        if "functionResponse" in p and p["functionResponse"]["response"].get("status") == "done"
    ]
    assert len(found) == 1, events
    return dict(found[0])


def _balance(api: Api) -> dict[str, Any]:
    return dict(api.get("/api/credits/balance/simple").json()["data"])


def _voice(api: Api, script: str) -> dict[str, Any]:
    r, events = api.say("voiceover please\nscript: " + script)
    assert r.status_code == 200, r.text
    return _done(events)


# -- class 2: off the event loop --------------------------------------------------------------


def test_healthz_answers_while_a_huge_turn_is_read(api: Api) -> None:
    """A script block near the cap (60,000 one-word sentences) takes a while to read, split and
    estimate. /healthz requests sent meanwhile are answered before the turn's reply arrives."""
    huge = "voiceover please\nscript: " + "Go. " * 45_000
    order: list[str] = []
    sent = threading.Event()
    finished = threading.Event()

    def turn() -> None:
        sent.set()
        r, _events = api.say(huge)
        order.append(f"turn {r.status_code}")
        finished.set()

    th = threading.Thread(target=turn)
    th.start()
    sent.wait()
    with httpx.Client(base_url=api.base, timeout=60) as probe:
        while not finished.is_set():
            if probe.get("/healthz").status_code == 200 and not finished.is_set():
                order.append("healthz")
    th.join()
    assert order[-1].startswith("turn")
    assert order.count("healthz") >= 3, order


# -- class 5: drafts bounded by the session's media, fair render queue -----------------------


@pytest.fixture
def voiced(api: Api) -> Api:
    done = _voice(api, f"The lamp folds flat in one second. Code {uuid.uuid4().hex[:4]}.")
    assert done["duration_ms"] > 1000
    return api


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"w": 3840, "h": 3840, "fps": 60}, "output size"),
        ({"w": 1080, "h": 1920, "fps": 60}, "fps"),
        ({"w": 1000, "h": 1000}, "output size"),
        ({"long": 6 * 3600 * 1000}, "lasts"),
        ({"voice_at": 3600 * 1000}, "starts at"),
    ],
)
def test_a_draft_beyond_the_sessions_media_is_refused(
    voiced: Api, change: dict[str, int], reason: str
) -> None:
    draft = voiced.state()["draft"]
    if "long" in change:  # a 6-hour segment over a few seconds of voice
        draft["t"][0]["sg"][0]["d"] = change.pop("long")
    if "voice_at" in change:
        draft["t"][0]["sg"][0]["s"] = change.pop("voice_at")
    draft.update(change)
    body = {"id": f"render_{uuid.uuid4().hex[:8]}", "sessionId": voiced.sid, "draft": draft}
    r = voiced.post(RENDER, json=body)
    assert r.status_code == 422 and r.json()["code"] == 4005, r.text
    assert reason in r.json()["message"], r.json()["message"]


def test_the_sessions_own_draft_still_renders(voiced: Api) -> None:
    draft = voiced.state()["draft"]
    draft.update(w=1280, h=720, fps=25)
    assert voiced.poll(voiced.export(draft))["status"] == "completed"
    for w, h in ((1080, 1920), (720, 1280), (1080, 1080)):  # every format is accepted
        draft.update(w=w, h=h, fps=30)
        body = {"id": f"render_{uuid.uuid4().hex[:8]}", "sessionId": voiced.sid, "draft": draft}
        r = voiced.post(RENDER, json=body)
        assert r.status_code == 200, r.text
        voiced.poll(body["id"])


def test_fair_slots_serve_identities_in_turn() -> None:
    async def scenario() -> list[str]:
        slots = FairSlots(slots=1, per_identity=1)
        started: list[str] = []
        release: dict[str, asyncio.Event] = {}

        async def job(who: str, name: str) -> None:
            async with slots.slot(who):
                started.append(name)
                release[name] = asyncio.Event()
                await release[name].wait()

        tasks = [asyncio.create_task(job("A", f"A{i}")) for i in range(1, 4)]
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(job("B", "B1")))
        await asyncio.sleep(0)
        while len(started) < 4:
            await asyncio.sleep(0)
            release[started[-1]].set()
            await asyncio.sleep(0)
        release[started[-1]].set()
        await asyncio.gather(*tasks)
        return started

    assert asyncio.run(scenario()) == ["A1", "B1", "A2", "A3"]


def test_one_identity_per_slot_and_cancelled_waiters_leave() -> None:
    async def scenario() -> tuple[list[str], int]:
        slots = FairSlots(slots=2, per_identity=1)
        started: list[str] = []
        gate = asyncio.Event()

        async def job(who: str, name: str) -> None:
            async with slots.slot(who):
                started.append(name)
                await gate.wait()

        a = [asyncio.create_task(job("A", f"A{i}")) for i in range(3)]
        for _ in range(3):
            await asyncio.sleep(0)
        assert started == ["A0"]  # the second slot stays free for someone else
        a[2].cancel()
        b = asyncio.create_task(job("B", "B0"))
        for _ in range(3):
            await asyncio.sleep(0)
        assert started == ["A0", "B0"]
        gate.set()
        await asyncio.gather(*a[:2], b)
        return started, slots.free

    started, free = asyncio.run(scenario())
    assert started == ["A0", "B0", "A1"] and free == 2


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    proc = BackendProcess(
        tmp_path_factory.mktemp("one-worker"), env={"VOBACKEND_RENDER_WORKERS": "1"}
    )
    proc.start()
    yield proc
    proc.stop()


def test_a_heavy_user_delays_only_themselves(one_worker: BackendProcess) -> None:
    """One render worker. A queues three renders, then B queues one: B's starts right after A's
    first, before A's second (the old FIFO ran all of A's first)."""
    a, b = Api(one_worker.url), Api(one_worker.url)
    try:
        _voice(a, "Identity A reads this line for the queue test.")
        _voice(b, "Identity B reads a different line.")
        a_jobs = [a.export() for _ in range(3)]
        b_job = b.export()
        for job in a_jobs:
            assert a.poll(job)["status"] == "completed"
        assert b.poll(b_job)["status"] == "completed"
        log = (one_worker.data_dir / "backend.log").read_text()
        started = re.findall(r"render (render_\w+) started for", log)
        assert [j for j in started if j in (*a_jobs, b_job)] == [
            a_jobs[0],
            b_job,
            a_jobs[1],
            a_jobs[2],
        ], started
    finally:
        a.close()
        b.close()


# -- class 6: credits --------------------------------------------------------------------------


def test_ten_token_requests_at_once_issue_one_token(api: Api) -> None:
    client_id = "burst-" + uuid.uuid4().hex

    def ask(_n: int) -> int:
        with httpx.Client(base_url=api.base, timeout=60) as http:
            r = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": client_id})
            return r.status_code

    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(ask, range(10)))
    assert sorted(codes) == [200] + [429] * 9, codes


def test_the_cache_saves_work_not_other_peoples_credits(api: Api) -> None:
    """B voices what A voiced: same audio from the cache, but B is charged the same and told
    nothing was cached; A's own redo is free and reported as cached."""
    script = f"Marker {uuid.uuid4().hex[:6]} opens the show. The lamp folds flat in one second."
    first = _voice(api, script)
    assert first["cached"] == 0 and first["credits"] >= 1
    other = Api(api.base)
    try:
        before = _balance(other)["available"]
        second = _voice(other, script)
        assert second["cached"] == 0 and second["credits"] == first["credits"], (first, second)
        assert _balance(other)["available"] == before - first["credits"]
    finally:
        other.close()
    again = _voice(api, script)
    assert again["cached"] == again["sentences"] and again["credits"] == 0


def test_new_speech_is_charged_by_its_duration(api: Api) -> None:
    """Forty cached 'Hi.' plus six long new sentences (~50 s): charged per 10 s of the new
    speech, not by the share of sentences that are new (the old charge was 1 credit)."""
    tag = uuid.uuid4().hex[:4]
    _voice(api, f"Hi {tag}. " * 40)
    long = (
        "Sentence {n} is deliberately long so that it keeps the narrator talking for quite "
        "a while about lamps, desks, light, colour, warmth and the quiet evening hours {n}. "
    )
    done = _voice(api, f"Hi {tag}. " * 40 + "".join(long.format(n=n) for n in range(6)))
    assert done["cached"] >= 40
    assert done["credits"] >= 4, done


def test_an_unreadable_word_is_refused_before_any_credit_is_frozen(api: Api) -> None:
    before = _balance(api)
    for lang, word in (("en", "cannot be read out"), ("zh", "无法朗读")):
        speaker = api if lang == "en" else Api(api.base, lang="zh")
        r, events = speaker.say("voiceover please\nscript: Hello " + "a" * 3_000 + " there.")
        message = r.json()["message"] if r.status_code != 200 else texts(events)
        assert r.status_code == 422 and word in message, message
        if speaker is not api:
            speaker.close()
    assert _balance(api) == before


def _speech(clips: list[tuple[str, int]], synthesized: int, cached: int) -> SpeechResult:
    total = sum(ms for _k, ms in clips)
    return SpeechResult(Path("x.wav"), total, (), synthesized, cached, tuple(clips))


def test_a_first_voicing_from_the_cache_waits_as_long_as_synthesis_would() -> None:
    """The shared cache must not answer a stranger's first voicing measurably faster: the cache
    hits new to this identity are padded to the measured synthesis pace; what was synthesized
    now, or voiced by the same identity before, is not."""
    pace = SynthesisPace(default_rtf=0.1)
    served = _speech([("a", 6000), ("b", 4000)], synthesized=0, cached=2)
    # nothing measured yet: the default pace for 10 s of speech someone else voiced
    assert pace.pad("joe", served, {"a", "b"}) == pytest.approx(1.0)
    # a turn that synthesized everything sets the pace (0.3 s a second of speech here) ...
    pace.observe("joe", 3.0, _speech([("c", 10_000)], synthesized=1, cached=0))
    assert pace.rtf["joe"] == pytest.approx(0.3)
    pace.observe("joe", 0.1, served)  # ... a turn with cache hits does not (it was faster)
    assert pace.rtf["joe"] == pytest.approx(0.3)
    assert pace.pad("joe", served, {"a", "b"}) == pytest.approx(3.0)
    # all synthesized now: no pad, however slow the pace was
    made = _speech([("d", 6000), ("e", 4000)], synthesized=2, cached=0)
    assert pace.pad("joe", made, {"d", "e"}) == 0.0
    # the identity's own earlier speech is a hit but no news: only the stranger's share counts
    mixed = _speech([("a", 6000), ("f", 4000), ("g", 2000)], synthesized=1, cached=2)
    assert pace.pad("joe", mixed, {"a", "g"}) == pytest.approx(0.3 * (6 + 2) / 2)  # 1 hit of 2
    assert pace.pad("joe", served, set()) == 0.0
    # a sentence said twice: its repeat is a hit of the turn's own making
    twice = _speech([("h", 6000), ("h", 6000)], synthesized=1, cached=1)
    assert pace.pad("joe", twice, {"h"}) == 0.0
    assert pace.pad("other-voice", served, {"a", "b"}) == pytest.approx(1.0)  # its own pace


def test_the_model_load_of_a_voice_does_not_stay_in_its_pace() -> None:
    """A voice's first synthesis in a process also loads its model (a 1-sentence warm-up then
    measures the cap, 1.0): the next measurement replaces it instead of being averaged in, so
    a cached turn is padded by what synthesis takes now, not by the load; later ones average."""
    pace = SynthesisPace(default_rtf=0.1)
    pace.observe("joe", 5.0, _speech([("w", 1500)], synthesized=1, cached=0))  # load + 1.5 s
    assert pace.rtf["joe"] == pytest.approx(1.0)  # until something better: never below the truth
    pace.observe("joe", 7.0, _speech([("c", 28_000)], synthesized=1, cached=0))
    assert pace.rtf["joe"] == pytest.approx(0.25)
    served = _speech([("a", 20_000)], synthesized=0, cached=1)
    assert pace.pad("joe", served, {"a"}) == pytest.approx(5.0)  # not 0.7 * 1 + 0.3 * 0.25
    pace.observe("joe", 14.0, _speech([("d", 28_000)], synthesized=1, cached=0))
    assert pace.rtf["joe"] == pytest.approx(0.7 * 0.25 + 0.3 * 0.5)
    pace.observe("ann", 0.2, _speech([("e", 2000)], synthesized=1, cached=0))  # a voice apart
    assert pace.rtf["joe"] == pytest.approx(0.325) and pace.rtf["ann"] == pytest.approx(0.1)


# -- uploads: a cap for the whole process ------------------------------------------------------


def test_uploads_past_the_process_cap_are_429_whoever_sends_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Free tokens make identities cheap: with a cap of 2 uploads at once in all, two identities'
    trickling uploads fill it, a third identity gets 429 with the server's reason (not its own
    count), and once the trickles are cut off (too slow) uploads go through again."""
    proc = BackendProcess(
        tmp_path_factory.mktemp("upload-cap"),
        env={
            "VOBACKEND_MAX_UPLOADS_TOTAL": "2",
            "VOBACKEND_UPLOAD_MIN_BYTES_PER_SECOND": "2000",
            "VOBACKEND_UPLOAD_GRACE_SECONDS": "5",
        },
    )
    proc.start()
    apis = [Api(proc.url) for _ in range(3)]
    try:
        slow_text = b"Lumen is a lamp. " * 40
        with ThreadPoolExecutor(2) as pool:
            slow = [
                pool.submit(
                    H.trickle_upload,
                    proc.port,
                    f"/api/upload-video/nemo_agent/me/{a.sid}",
                    a.token,
                    slow_text,
                    20,
                )
                for a in apis[:2]
            ]
            time.sleep(1.5)  # both are in, each holding a slot, well before the 5 s grace ends
            r = apis[2].upload(("third.txt", b"Lumen is a lamp. It is bright."))
            replies = [f.result()[1] for f in slow]
        assert r.status_code == 429 and r.json()["code"] == 429, r.text
        assert "too many uploads" in r.json()["message"]
        assert all(reply.startswith(b"HTTP/1.1 400") for reply in replies), replies
        again = apis[2].upload(("third.txt", b"Lumen is a lamp. It is bright."))
        assert again.json()["code"] == 0, again.text
    finally:
        for a in apis:
            a.close()
        proc.stop()
