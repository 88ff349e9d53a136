"""Latency of the bot's first answer while other chats are rendering (DESIGN section 5: < 1 s).

Measures, for messages in a third chat, the time from `Engine.handle` being called to the engine's
first outbound event, while two other chats have renders in flight (being polled) against the
STAND-IN backend of tests/support/standin.py (slow renders). Run: `python -m bench.bench_latency`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adapters.console import Recorded
from tests.support.standin import StandIn, engine_harness

TARGET_SECONDS = 1.0
MESSAGES = ("credits", "generate a natural male voiceover in English for my script", "status")


async def measure(rounds: int) -> list[float]:
    server = StandIn().start()
    server.behaviour.render_seconds = 3600  # the two background renders never finish during the run
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with engine_harness(server.base_url, Path(tmp), render_poll_max_seconds=0.2) as (
                engine,
                console,
            ):
                console.push_nowait("export", chat_id="busy-1")
                console.push_nowait("export", chat_id="busy-2")
                while server.count("/api/render/proxy/lambda/") < 4:  # noqa: ASYNC110 - another thread
                    await asyncio.sleep(0.01)
                first: dict[str, float] = {}

                def on_output(rec: Recorded) -> None:
                    first.setdefault(rec.chat_id, time.perf_counter())

                console.on_output(on_output)
                samples = []
                for i in range(rounds):
                    chat = f"probe-{i}"
                    text = MESSAGES[i % len(MESSAGES)]
                    start = time.perf_counter()
                    await console.push_message(text, chat_id=chat)
                    samples.append(first[chat] - start)
                assert engine.busy(console.chat_key("busy-1")) and engine.busy(
                    console.chat_key("busy-2")
                )
                return samples
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args(argv)
    samples = asyncio.run(measure(args.rounds))
    median = statistics.median(samples)
    p90 = sorted(samples)[int(0.9 * (len(samples) - 1))]
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(
        f"first answer while 2 chats render: median {median * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
        f"max {max(samples) * 1000:.1f} ms over {len(samples)} messages; target < {TARGET_SECONDS:.0f} s: {verdict}"
    )
    return 0 if median < TARGET_SECONDS else 1


def run() -> None:
    """Entry point used by `python -m bench`."""
    main([])


if __name__ == "__main__":
    sys.exit(main())
