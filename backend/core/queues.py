"""A bounded queue's put that gives up once its reader is gone (the render pipeline's threads)."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def put_unless_gone(items: queue.Queue[T], item: T, gone: Callable[[], bool]) -> None:
    """Put `item`, waiting for room while the reader is there: a full queue slows the writer
    down (backpressure), a reader that stopped never holds it (the item is dropped)."""
    while not gone():
        try:
            items.put(item, timeout=0.5)
            return
        except queue.Full:
            continue
