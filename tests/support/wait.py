"""Wait for an event instead of sleeping a fixed time: poll a predicate until it holds.

A timeout is a guard against hangs, not a timing assertion: it fails the test with `what`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(0.01)


async def until(predicate: Callable[[], object], seconds: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)
