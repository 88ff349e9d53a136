"""Issue 11, the flood: parsing untrusted input runs on the parse threads, fairly between identities
(``backend.runtime.fair_pool``), and a tiny DOCX cannot buy much parsing. Real threads, real lxml."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.core.errors import ApiError
from backend.intake.files import DOCX_MAX_PARAGRAPHS, read_docx
from backend.runtime.fair_pool import PARSE_THREADS, FairPool
from tests.support import hostile as H


def test_another_identity_runs_while_one_has_a_long_job_and_more_queued() -> None:
    """A holds a parse thread and has two more jobs waiting; B's job runs on the other thread and
    returns while all three of A's are unfinished. A never runs two at once."""

    async def scenario() -> tuple[str, list[bool], list[int], int]:
        pool = FairPool(threads=2, per_identity=1)
        gate = threading.Event()
        running: list[int] = []
        peak = 0
        lock = threading.Lock()

        def a_job(i: int) -> int:
            nonlocal peak
            with lock:
                running.append(i)
                peak = max(peak, len(running))
            gate.wait(30)
            with lock:
                running.remove(i)
            return i

        a = [asyncio.create_task(pool.run("A", a_job, i)) for i in range(3)]
        await asyncio.sleep(0)
        b = await pool.run("B", lambda: threading.current_thread().name)
        pending = [not t.done() for t in a]
        gate.set()
        return b, pending, list(await asyncio.gather(*a)), peak

    b, pending, results, peak = asyncio.run(scenario())
    assert b.startswith("parse")  # the parse threads, not the default pool file writes use
    assert pending == [True, True, True]
    assert results == [0, 1, 2] and peak == 1


def test_a_cancelled_caller_holds_its_slot_until_its_thread_returns() -> None:
    """The thread cannot be stopped, so the identity's next job must not start beside it."""

    async def scenario() -> list[str]:
        pool = FairPool(threads=2, per_identity=1)
        gate, began = threading.Event(), threading.Event()
        order: list[str] = []

        def first() -> None:
            began.set()
            gate.wait(30)
            order.append("first returned")

        def second() -> None:
            order.append("second started")

        a = asyncio.create_task(pool.run("A", first))
        await asyncio.to_thread(began.wait, 30)
        b = asyncio.create_task(pool.run("A", second))
        a.cancel()
        with pytest.raises(asyncio.CancelledError):
            await a
        for _ in range(20):
            await asyncio.sleep(0)
        order.append("checked")
        gate.set()
        await b
        return order

    assert asyncio.run(scenario()) == ["checked", "first returned", "second started"]


@settings(max_examples=40, deadline=None)
@given(
    jobs=st.lists(st.sampled_from("ABCD"), min_size=1, max_size=24),
    per_identity=st.integers(1, 2),
)
def test_any_mix_of_identities_keeps_the_caps_and_each_ones_order(
    jobs: list[str], per_identity: int
) -> None:
    """Whatever the identities submit: never more than the threads or ``per_identity`` of one
    identity at once, every job returns its own result, each identity's jobs start in order."""
    lock = threading.Lock()
    running: dict[str, int] = {}
    peaks = {"total": 0, "one": 0}
    started: dict[str, list[int]] = {}

    def job(who: str, i: int) -> int:
        with lock:
            running[who] = running.get(who, 0) + 1
            started.setdefault(who, []).append(i)
            peaks["total"] = max(peaks["total"], sum(running.values()))
            peaks["one"] = max(peaks["one"], running[who])
        threading.Event().wait(0.001)
        with lock:
            running[who] -= 1
        return i

    async def scenario() -> list[int]:
        pool = FairPool(threads=PARSE_THREADS, per_identity=per_identity)
        return list(await asyncio.gather(*(pool.run(w, job, w, i) for i, w in enumerate(jobs))))

    assert asyncio.run(scenario()) == list(range(len(jobs)))
    assert peaks["total"] <= PARSE_THREADS and peaks["one"] <= per_identity
    for who, seen in started.items():
        assert seen == [i for i, w in enumerate(jobs) if w == who]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(0, 2 * DOCX_MAX_PARAGRAPHS),
    empty=st.booleans(),
)
def test_a_docx_is_refused_past_the_paragraph_cap_and_read_below_it(
    tmp_path: Path, count: int, empty: bool
) -> None:
    """Empty or short paragraphs, any number up to twice the cap: read below it (every paragraph's
    text kept), refused with the cap in the message above it."""
    body = b"<w:p/>" if empty else b"<w:p><w:r><w:t>Go.</w:t></w:r></w:p>"
    path = tmp_path / "p.docx"
    path.write_bytes(H.docx_with(H.deflated("word/document.xml", H.document_xml(body * count))))
    if count > DOCX_MAX_PARAGRAPHS:
        with pytest.raises(ApiError) as refused:
            read_docx(path, "p.docx", "en")
        assert f"more than {DOCX_MAX_PARAGRAPHS} paragraphs" in refused.value.message
    else:
        text = read_docx(path, "p.docx", "en")
        assert text == ("" if empty else "\n\n".join(["Go."] * count))
