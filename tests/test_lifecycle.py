"""Process lifecycle, with REAL processes: `python -m bot` (the terminal chat) and the embedded
`python -m backend` it starts, signalled as Docker, systemd and a crash would.

- SIGTERM mid-render drains like Ctrl+C: the chat is told, the "Rendering..." message is edited to say
  what happened, no backend is left behind, and the restarted bot delivers the video.
- SIGKILL of the bot: the embedded backend exits on its own (PR_SET_PDEATHSIG; `--parent-pid` as the
  portable fallback).
- One backend per data dir: a second one on the same dir refuses with a clear message.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.__main__ import EXAMPLE_SCRIPT
from bot.texts import t
from tests.support.backend import BackendProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(cond: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class BotProcess:
    """`python -m bot` in terminal-chat mode with its embedded backend, driven through stdin."""

    def __init__(self, home: Path) -> None:
        self.home = home
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("NEMO_API_BASE", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN")
        }
        env.update(
            BOT_DATA_DIR=str(home / "data"),
            BOT_OUTPUT_DIR=str(home / "out"),
            BOT_LOG_LEVEL="INFO",
            BOT_RENDER_POLL_INITIAL_SECONDS="0.2",
            BOT_RENDER_POLL_MAX_SECONDS="0.4",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        self.log = (home / "bot.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=home,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def say(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def backend_pid(self, limit: float = 60) -> int:
        found: list[int] = []

        def started() -> bool:
            text = (self.home / "bot.log").read_text(errors="replace")
            found[:] = [
                int(m) for m in re.findall(r"embedded backend starting on \S+ \(pid (\d+)\)", text)
            ]
            return bool(found) and "embedded backend ready" in text

        wait_for(started, limit, "the embedded backend")
        return found[-1]

    def wait_output(self, fragment: str, limit: float) -> None:
        wait_for(lambda: fragment in self.output, limit, repr(fragment))

    def finish(self, limit: float = 30) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(limit)
        self._reader.join(5)
        self.log.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def home(tmp_path: Path, backend: BackendProcess) -> Iterator[Path]:
    """A bot home whose embedded backend starts with the session backend's sentence cache (the
    example script's speech), so no test waits for Piper."""
    cache = backend.data_dir / "tts-cache"
    if cache.is_dir():
        shutil.copytree(cache, tmp_path / "data" / "backend" / "tts-cache")
    yield tmp_path


def test_sigterm_mid_render_tells_the_chat_and_the_restart_delivers(home: Path) -> None:
    bot = BotProcess(home)
    try:
        backend_pid = bot.backend_pid()
        bot.say(f"/upload {EXAMPLE_SCRIPT}")
        bot.say("generate a natural male voiceover in English for my script")
        bot.say("export")
        bot.wait_output(t("rendering", "en"), 180)
        bot.proc.send_signal(signal.SIGTERM)
        code = bot.proc.wait(30)
    finally:
        bot.kill()
    out = bot.output
    assert code == 128 + signal.SIGTERM, out
    # the chat is told, and the progress message that said "Rendering..." is edited to say why
    assert t("restart_working", "en", text="export") in out, out
    progress_edits = [line for line in bot.lines if line.startswith("  ↻ ")]
    assert progress_edits[-1] == "  ↻ " + t("render_interrupted", "en"), progress_edits
    assert not re.search(r"🎬 \S+\.mp4", out)  # no video yet
    wait_for(lambda: not alive(backend_pid), 5, "the backend to be gone")

    again = BotProcess(home)
    try:
        again.backend_pid()
        wait_for(lambda: bool(re.search(r"🎬 \S+\.mp4", again.output)), 240, "the video")
        assert again.finish() == 0
    finally:
        again.kill()
    out = again.output
    assert t("resumed", "en") in out, out
    video = Path(re.findall(r"🎬 (\S+\.mp4)", out)[-1])
    assert video.is_file() and video.stat().st_size > 10_000
    # the resumed render edited the old progress message on, it did not start a second one
    assert "bot> " + t("rendering", "en") not in out, out
    assert "  ↻ " + t("video_ready", "en") in out, out


def test_sigkill_takes_the_embedded_backend_along_and_a_data_dir_has_one_backend(
    tmp_path: Path,
) -> None:
    bot = BotProcess(tmp_path)
    try:
        backend_pid = bot.backend_pid()
        # a second backend on the bot's data dir refuses to start, with a clear message
        second = subprocess.run(
            [
                *(sys.executable, "-m", "backend", "--port", str(free_port())),
                *("--data-dir", str(tmp_path / "data" / "backend")),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode != 0
        assert "is in use by another backend" in second.stderr, second.stderr
        assert f"pid {backend_pid}" in second.stderr
        bot.proc.kill()
        bot.proc.wait(10)
        wait_for(lambda: not alive(backend_pid), 20, "the orphaned backend to exit")
    finally:
        bot.kill()


def test_backend_exits_when_its_parent_pid_is_gone(tmp_path: Path) -> None:
    """The portable fallback: no death signal, only `--parent-pid` and the watcher thread."""
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    proc = BackendProcess(tmp_path / "backend")
    proc.extra_args = ["--parent-pid", str(parent.pid)]
    proc.start()
    try:
        assert proc.proc is not None
        parent.kill()
        parent.wait()
        proc.proc.wait(20)
        assert "parent process" in (proc.data_dir / "backend.log").read_text()
    finally:
        parent.kill()
        proc.stop(kill=True)
