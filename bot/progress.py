"""One progress message per job, created once and then edited in place, with flood control."""

from __future__ import annotations

import asyncio
import itertools
import logging

from bot.messages import Progress, Replier

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class ProgressLine:
    """A status message the job keeps editing. An edit closer to the last one than the platform
    allows is not dropped: the newest text is sent as soon as the interval has passed, so a stage
    never stays hidden until the next update."""

    def __init__(self, replier: Replier, kind: str = "job") -> None:
        self.replier = replier
        self.key = f"{kind}-{next(_ids)}"
        self._handle: object | None = None
        self._last_edit = 0.0
        self._text = ""
        self._pending: str | None = None
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.done = False

    @property
    def text(self) -> str:
        return self._text

    @property
    def handle(self) -> object | None:
        """What the replier returned for the message (None until it is sent)."""
        return self._handle

    def adopt(self, handle: object) -> None:
        """Continue a message sent before (by a previous run of the bot): edit it, send no new one."""
        self._handle = handle

    async def show(self, text: str) -> None:
        """Create the message, or edit it now, or as soon as the flood interval allows."""
        if self.done or text == (self._pending if self._pending is not None else self._text):
            return
        loop = asyncio.get_running_loop()
        wait = self.replier.limits.min_edit_interval_seconds - (loop.time() - self._last_edit)
        if self._handle is not None and wait > 0:
            self._pending = text
            if self._timer is None:
                self._timer = asyncio.create_task(self._flush_after(wait))
            return
        self._pending = None
        await self._put(Progress(self.key, text))

    async def _flush_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self._timer = None
        text, self._pending = self._pending, None
        if text is not None and not self.done and text != self._text:
            await self._put(Progress(self.key, text))

    async def finish(self, text: str) -> None:
        """Final edit; always sent so the message never ends mid-stage."""
        if self.done:
            return
        self.done = True
        self._pending = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self._put(Progress(self.key, text, done=True))

    async def _put(self, out: Progress) -> None:
        async with self._lock:  # a deferred edit and a direct one never interleave
            self._text = out.text
            self._last_edit = asyncio.get_running_loop().time()
            if self._handle is None:
                self._handle = await self.replier.send(out)
            else:
                try:
                    await self.replier.edit(self._handle, out)
                except Exception:  # an edit that fails (message deleted) must not kill the job
                    log.warning("progress edit failed", exc_info=True)
