"""``python -m bench``: every benchmark, medians printed with their targets."""

from __future__ import annotations

import importlib
import sys


def main() -> None:
    for name in (
        "bench.bench_backend",
        "bench.bench_upload",
        "bench.bench_latency",
        "bench.bench_voices",
        "bench.bench_render",
        "bench.bench_scaling",
        "bench.bench_flood",
        "bench.bench_cluster",
        "bench.bench_objects",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            print(f"{name}: not available ({exc})", file=sys.stderr)
            continue
        print(f"== {name}")
        module.run()


if __name__ == "__main__":
    main()
