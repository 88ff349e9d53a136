"""``python -m backend --host 127.0.0.1 --port 8080 --data-dir DIR``: the self-hosted voiceover backend."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from backend.api.app import create_app
from backend.core.settings import BackendSettings

QUIET_LOGGERS = (
    "piper",
    "aiosqlite",
    "sse_starlette",
    "python_multipart",
    "multipart",
    "httpcore",
    "httpx",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--public-base-url", default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    overrides = {
        k: v
        for k, v in {
            "host": args.host,
            "port": args.port,
            "data_dir": args.data_dir,
            "public_base_url": args.public_base_url,
        }.items()
        if v is not None
    }
    settings = BackendSettings(**overrides)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Libraries that log what passes through them at DEBUG (SQL parameters with signed links and
    # scripts, request bodies) stay at INFO even when our own code is debugged.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
    # uvicorn's access log prints query strings, which would leak signed URLs: keep it off.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=False,
    )


if __name__ == "__main__":
    main()
