"""The progress line's flood control (bot/progress.py) with a recording Replier: the real
ProgressLine and event loop; the Replier is the engine's own interface, here writing to a list."""

from __future__ import annotations

import asyncio

from bot.messages import Limits, Outbound, Progress
from bot.progress import ProgressLine
from tests.support.wait import until


class Recorder:
    def __init__(self, interval: float) -> None:
        self.limits = Limits(min_edit_interval_seconds=interval)
        self.calls: list[tuple[str, str]] = []

    async def send(self, out: Outbound) -> object:
        assert isinstance(out, Progress)
        self.calls.append(("send", out.text))
        return len(self.calls)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(out, Progress)
        self.calls.append(("edit", out.text))


async def test_a_throttled_stage_is_sent_late_not_dropped() -> None:
    rec = Recorder(0.2)
    line = ProgressLine(rec)
    await line.show("Uploading")
    await line.show("Recording the voiceover")  # too soon: deferred
    await line.show("Placing it on the timeline")  # replaces the deferred text
    assert rec.calls == [("send", "Uploading")]
    await until(lambda: len(rec.calls) > 1, what="the deferred edit")
    assert rec.calls == [("send", "Uploading"), ("edit", "Placing it on the timeline")]
    await line.finish("Done")
    assert rec.calls[-1] == ("edit", "Done")


async def test_finish_cancels_a_deferred_edit() -> None:
    rec = Recorder(0.2)
    line = ProgressLine(rec)
    await line.show("Uploading")
    await line.show("Rendering")  # deferred
    deferred = line._timer
    assert deferred is not None
    await line.finish("Done")
    await asyncio.wait([deferred], timeout=5)  # the deferred edit's task has ended...
    assert deferred.cancelled()  # ... cancelled, before it could send anything
    assert rec.calls == [("send", "Uploading"), ("edit", "Done")]  # nothing after the final text
