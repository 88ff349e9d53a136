"""Start the self-hosted backend as a subprocess on 127.0.0.1 when NEMO_API_BASE is unset.

A subprocess (not in-process) keeps the backend's CPU-heavy TTS and ffmpeg work off the bot's
event loop, and lets the bot stop it cleanly. It dies with the bot even when the bot is SIGKILLed:
on Linux the kernel sends it SIGTERM (PR_SET_PDEATHSIG, set between fork and exec), and everywhere
the backend watches the pid it is given (`--parent-pid`) and shuts down when it is gone.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx

log = logging.getLogger(__name__)


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM when the parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def death_signal() -> Callable[[], None] | None:
    """The `preexec_fn` that ties a child's life to ours, where the platform has one (Linux)."""
    return _die_with_parent if sys.platform.startswith("linux") else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedBackend:
    """`python -m backend` on a free local port; `async with` starts it and waits for /healthz."""

    def __init__(
        self, data_dir: Path, *, public_base_url: str | None = None, startup_timeout: float = 60.0
    ) -> None:
        self.data_dir = data_dir
        self.public_base_url = public_base_url
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable, "-m", "backend",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--log-level", "warning",
            "--parent-pid", str(os.getpid()),
        ]  # fmt: skip
        if self.public_base_url:
            args += ["--public-base-url", self.public_base_url]
        self._log = open(self.data_dir / "backend.log", "ab")  # noqa: ASYNC230
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            preexec_fn=death_signal(),
        )
        log.info("embedded backend starting on %s (pid %d)", self.base_url, self._proc.pid)
        await self._wait_healthy()
        return self.base_url

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def _wait_healthy(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if self._proc is not None and self._proc.returncode is not None:
                    raise RuntimeError(
                        f"the embedded backend exited with {self._proc.returncode}: "
                        f"{self._log_tail()} (see {self.data_dir / 'backend.log'})"
                    )
                try:
                    if (await http.get(f"{self.base_url}/healthz")).status_code == 200:
                        log.info("embedded backend ready on %s", self.base_url)
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    await self.stop()
                    raise RuntimeError(
                        f"the embedded backend did not become healthy in {self.startup_timeout:.0f} s"
                    )
                await asyncio.sleep(0.2)

    def _log_tail(self) -> str:
        try:
            lines = (self.data_dir / "backend.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> EmbeddedBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
