"""Order within a chat when the "queued" notice is slow to send (STAND-IN backend,
tests/support/standin.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.messages import Outbound, Replier, Text
from bot.texts import t
from tests.support.standin import SUMMARY, StandIn, buttons, engine_harness, next_steps
from tests.support.wait import until

ASK = "generate a natural male voiceover in English for my script"


class SlowNotice:
    """A replier whose first "queued" notice takes `delay` seconds to send (a slow platform API)."""

    def __init__(self, inner: Replier, delay: float) -> None:
        self.inner = inner
        self.limits = inner.limits
        self.delay = delay
        self.slowed = False

    async def send(self, out: Outbound) -> object:
        if isinstance(out, Text) and out.text == t("queued", "en") and not self.slowed:
            self.slowed = True
            await asyncio.sleep(self.delay)
        return await self.inner.send(out)

    async def edit(self, handle: object, out: Outbound) -> None:
        await self.inner.edit(handle, out)


async def test_slow_queued_notice_does_not_let_a_later_message_overtake(
    standin: StandIn, tmp_path: Path
) -> None:
    """Stand-in: B is queued (its notice slow to send), then C: B is still answered before C."""
    standin.behaviour.heartbeat_seconds = 0.4
    async with engine_harness(standin.base_url, tmp_path) as (engine, console):
        console.push_nowait(ASK)
        async with asyncio.timeout(10):
            while standin.sse_started == 0:  # noqa: ASYNC110 - the stand-in runs in a thread
                await asyncio.sleep(0.01)
        slow = SlowNotice(console.replier(), 1.0)
        b = asyncio.create_task(engine.handle(console.inbound("credits"), slow))
        await until(lambda: slow.slowed, what="B waiting for its notice to go out")
        c = asyncio.create_task(engine.handle(console.inbound("status"), console.replier()))
        await asyncio.gather(b, c)
        await console.wait_idle()
    said = [o.text for o in console.sent(Text) if isinstance(o, Text)]
    credits = said.index(t("credits", "en", available=100, frozen=0, total=100))
    status = said.index(t("state", "en", summary=SUMMARY))
    assert said.count(t("queued", "en")) == 2
    assert said.index(standin.behaviour.sse_text) < credits < status
    assert max(i for i, s in enumerate(said) if s == t("queued", "en")) < credits
    assert buttons(console) == [next_steps()]
