"""CPU work on untrusted input (reading an upload, planning a turn) on a few threads of its own,
shared fairly between identities.

Why: asyncio's default ``to_thread`` pool is first come, first served. Twenty strangers each sending
a DOCX of 400k empty paragraphs (a fifth of a second of parsing each) kept its six threads busy, and an
honest user's 75-word upload and turn waited behind all of them (flood bench: turn p95 4.4x quiet). Here
one identity runs at most one such job at a time, a free thread goes to the identity served least
recently (``FairSlots``, as for renders), and file writes keep the default pool to themselves.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from backend.runtime.jobs import FairSlots

P = ParamSpec("P")
T = TypeVar("T")

# Two: with the GIL more would not parse faster, and two let an honest job start while one long
# abusive job runs (one identity never holds both).
PARSE_THREADS = 2
PER_IDENTITY = 1

_threads: ThreadPoolExecutor | None = None
_threads_lock = threading.Lock()
# One FairSlots per event loop (its waiters are futures of that loop); the threads are shared.
_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FairPool] = weakref.WeakKeyDictionary()


def _executor() -> ThreadPoolExecutor:
    global _threads
    with _threads_lock:
        if _threads is None:
            _threads = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="parse")
        return _threads


class FairPool:
    """Runs sync callables on the parse threads, at most ``per_identity`` per identity at once."""

    def __init__(self, threads: int = PARSE_THREADS, per_identity: int = PER_IDENTITY) -> None:
        self.slots = FairSlots(threads, per_identity)

    async def run(self, who: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on a parse thread once ``who`` has a slot. A caller cancelled
        while it runs does not free the slot early: the thread is busy until the call returns."""
        await self.slots.acquire(who)
        try:
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))
        except BaseException:
            self.slots.release(who)
            raise
        fut.add_done_callback(lambda _f: self.slots.release(who))
        return await asyncio.shield(fut)


def fair_pool() -> FairPool:
    """The running loop's fair pool (one per backend app, which owns the loop)."""
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        pool = _pools[loop] = FairPool()
    return pool
