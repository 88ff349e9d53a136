"""One conversation turn: run_sse with live stages, "Still working..." ticks and the job ceiling.

The SSE reader and the ticker run side by side; tool calls become person-friendly stage lines and
are never shown raw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from bot.models import AdkEvent
from bot.progress import ProgressLine
from bot.texts import t

log = logging.getLogger(__name__)

STAGES = {
    "set_voice": "stage_set_voice",
    "set_speed": "stage_set_speed",
    "set_format": "stage_set_format",
    "synthesize_speech": "stage_synthesize_speech",
    "place_on_timeline": "stage_place_on_timeline",
    "build_captions": "stage_build_captions",
}
# Calls whose partial results tell how far they are ({"status": "running", "done", "total"}).
PROGRESSING = frozenset({"synthesize_speech"})
# Calls after which there is something new to export.
PRODUCING = frozenset({"synthesize_speech", "place_on_timeline", "build_captions"})
# Flags in a tool's response that the engine explains to the person (each a bot/texts.py key).
NOTES = ("captions_in_picture",)


class JobCeiling(Exception):
    """The job ran past JOB_CEILING_SECONDS."""


@dataclass
class TurnResult:
    text: str = ""
    calls: list[str] = field(default_factory=list)
    ticks: int = 0
    # What the backend flagged for the client to explain ("captions_in_picture": burned in because
    # the chat's player hides subtitle tracks).
    notes: set[str] = field(default_factory=set)

    @property
    def produced(self) -> bool:
        return any(name in PRODUCING for name in self.calls)


class TurnWatcher:
    """Consumes one turn's events, keeping the progress message current."""

    def __init__(
        self,
        progress: ProgressLine,
        language: str,
        still_working_seconds: float,
        ceiling_seconds: float,
    ) -> None:
        self.progress = progress
        self.lang = language
        self.interval = max(still_working_seconds, 0.01)
        self.ceiling = ceiling_seconds
        self.result = TurnResult()
        self._stages: list[str] = []
        self._percent: int | None = None  # of the current stage, from its partial results
        self._final: list[str] = []
        self._partial: list[str] = []
        self._last_activity = 0.0
        self._last_tick = 0.0
        self._started = 0.0

    def stage_text(self, still: bool = False, elapsed: float = 0.0) -> str:
        if not self._stages:
            lines = [t("working", self.lang)]
        else:
            current = f"{self._stages[-1]}..."
            if self._percent is not None:
                current += f" {self._percent}%"
            lines = [f"✓ {s}" for s in self._stages[:-1]] + [current]
        if still:
            lines.append(f"{t('still_working', self.lang)} ({_elapsed(elapsed)})")
        return "\n".join(lines)

    async def run(self, events: AsyncIterator[AdkEvent]) -> TurnResult:
        loop = asyncio.get_running_loop()
        self._started = self._last_activity = self._last_tick = loop.time()
        await self.progress.show(self.stage_text())
        ticker = asyncio.create_task(self._tick())
        try:
            async with asyncio.timeout(self.ceiling):
                async for event in events:
                    await self._on_event(event)
        except TimeoutError as exc:
            raise JobCeiling from exc
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        self.result.text = ("".join(self._final) or "".join(self._partial)).strip()
        return self.result

    async def _on_event(self, event: AdkEvent) -> None:
        self._last_activity = asyncio.get_running_loop().time()
        for call in event.calls:
            self.result.calls.append(call.name)
            stage = t(STAGES.get(call.name, "stage_other"), self.lang)
            if not self._stages or self._stages[-1] != stage:
                self._stages.append(stage)
                self._percent = None
            await self.progress.show(self.stage_text())
        for response in event.responses:
            if isinstance(response.response, Mapping):
                self.result.notes.update(n for n in NOTES if response.response.get(n))
            percent = _percent(response.response) if response.name in PROGRESSING else None
            if percent is not None and self._stages and percent != self._percent:
                self._percent = percent
                await self.progress.show(self.stage_text())
        if event.text:
            if event.partial:
                self._partial.append(event.text)
            else:
                self._final.append(event.text)
                self._partial.clear()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            mark = max(self._last_activity, self._last_tick)
            wait = mark + self.interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._last_tick = loop.time()
            self.result.ticks += 1
            await self.progress.show(
                self.stage_text(still=True, elapsed=loop.time() - self._started)
            )

    def done_text(self) -> str:
        lines = [f"✓ {s}" for s in self._stages] + [t("done", self.lang)]
        return "\n".join(lines)


def _percent(response: object) -> int | None:
    """0-100 for a running tool's {"status": "running", "done": N, "total": M}, else None."""
    if not isinstance(response, Mapping) or response.get("status") != "running":
        return None
    done, total = response.get("done"), response.get("total")
    if not isinstance(done, int | float) or not isinstance(total, int | float) or total <= 0:
        return None
    return max(0, min(100, int(100 * done / total)))


def _elapsed(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds // 60:.0f} min"
