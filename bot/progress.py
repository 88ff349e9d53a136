"""One progress message per job, created once and then edited in place, with flood control."""

from __future__ import annotations

import asyncio
import itertools
import logging

from bot.messages import Progress, Replier

log = logging.getLogger(__name__)
_ids = itertools.count(1)


class ProgressLine:
    """A status message the job keeps editing; edits closer than the platform allows are coalesced."""

    def __init__(self, replier: Replier, kind: str = "job") -> None:
        self.replier = replier
        self.key = f"{kind}-{next(_ids)}"
        self._handle: object | None = None
        self._last_edit = 0.0
        self._text = ""
        self.done = False

    @property
    def text(self) -> str:
        return self._text

    async def show(self, text: str) -> None:
        """Create the message, or edit it unless the last edit was too recent."""
        if self.done or text == self._text:
            return
        loop = asyncio.get_running_loop()
        if self._handle is not None and (
            loop.time() - self._last_edit < self.replier.limits.min_edit_interval_seconds
        ):
            return
        await self._put(Progress(self.key, text))

    async def finish(self, text: str) -> None:
        """Final edit; always sent so the message never ends mid-stage."""
        if self.done:
            return
        await self._put(Progress(self.key, text, done=True))
        self.done = True

    async def _put(self, out: Progress) -> None:
        self._text = out.text
        self._last_edit = asyncio.get_running_loop().time()
        if self._handle is None:
            self._handle = await self.replier.send(out)
        else:
            try:
                await self.replier.edit(self._handle, out)
            except Exception:  # an edit that fails (message deleted) must not kill the job
                log.warning("progress edit failed", exc_info=True)
