"""``python -m backend --host 127.0.0.1 --port 8080 --data-dir DIR``: the self-hosted voiceover backend.

``python -m backend worker --data-dir DIR`` runs queued renders and syntheses instead (issue 14).

One backend per data dir: a lock file in it (``backend.lock``, `fcntl.flock`) is taken before
serving, so a second backend on the same dir refuses to start instead of resuming the same renders.
``--parent-pid PID`` (the bot's embedded backend passes its own pid) shuts the server down when that
process is gone, even if it was SIGKILLed: the portable fallback to Linux's PR_SET_PDEATHSIG.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import IO

import uvicorn

from backend.api.app import create_app
from backend.api.limits import head_deadline_protocol
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


LOCK_NAME = "backend.lock"
PARENT_POLL_SECONDS = 0.5
FORCED_EXIT_SECONDS = 15.0


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold `data_dir`'s lock for the life of the process (the open file keeps it); exit with a
    clear message if another backend holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    handle = path.open("a+")
    if sys.platform != "win32":
        import fcntl

        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise SystemExit(
                f"python -m backend: the data dir {data_dir} is in use by another backend "
                f"(pid {holder}, lock {path}). Stop it first, or pass another --data-dir."
            ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _parent_alive(pid: int) -> bool:
    if os.getppid() != pid:  # reparented: the parent is gone (or we were never its child)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    return True


def watch_parent(pid: int, server: uvicorn.Server) -> threading.Thread:
    """A daemon thread that stops `server` once process `pid` is gone (and exits the process if
    the graceful shutdown hangs)."""

    def watch() -> None:
        while _parent_alive(pid):
            time.sleep(PARENT_POLL_SECONDS)
        logging.getLogger("backend").warning("parent process %d is gone: shutting down", pid)
        server.should_exit = True
        time.sleep(FORCED_EXIT_SECONDS)
        os._exit(1)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:  # issue 14: a queue worker (backend.runtime.worker)
        from backend.runtime.worker import main as worker_main

        worker_main(argv[1:])
        return
    parser = argparse.ArgumentParser(prog="python -m backend", description=__doc__)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--public-base-url", default=None)
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--parent-pid", type=int, default=None, help="shut down when this process is gone"
    )
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
    lock = lock_data_dir(settings.data_dir)
    # uvicorn's access log prints query strings, which would leak signed URLs: keep it off.
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        access_log=False,
        http=head_deadline_protocol(settings.header_timeout_seconds),  # slowloris
    )
    server = uvicorn.Server(config)
    if args.parent_pid is not None:
        watch_parent(args.parent_pid, server)
    try:
        server.run()
    finally:
        lock.close()


if __name__ == "__main__":
    main()
