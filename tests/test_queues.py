"""put_unless_gone: the backpressure between synthesis and the render pipeline's threads.
Real queues and threads; nothing mocked."""

from __future__ import annotations

import queue
import threading
import time

from backend.core.queues import put_unless_gone


def test_a_full_queue_holds_the_writer_until_the_reader_takes_one() -> None:
    items: queue.Queue[int] = queue.Queue(1)
    items.put(0)
    threading.Timer(0.7, items.get).start()  # the reader takes the first item later
    started = time.monotonic()
    put_unless_gone(items, 1, lambda: False)
    assert time.monotonic() - started >= 0.6  # it waited for room
    assert items.get_nowait() == 1


def test_a_writer_is_never_held_by_a_reader_that_is_gone() -> None:
    items: queue.Queue[int] = queue.Queue(1)
    items.put(0)
    gone = threading.Event()
    threading.Timer(0.3, gone.set).start()
    done = threading.Event()

    def writer() -> None:
        put_unless_gone(items, 1, gone.is_set)
        done.set()

    threading.Thread(target=writer).start()
    assert done.wait(10)  # returned once the reader left, the item dropped
    assert items.get_nowait() == 0 and items.empty()
