"""Running ffmpeg: one process runner for every render step, with progress, cancellation, a stall
watchdog, retries of transient failures, and errors a person can read (``RenderError``)."""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

import imageio_ffmpeg

from backend.media.fonts import font_dirs

_LOG = logging.getLogger(__name__)

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


class RenderError(Exception):
    """A render failed; str(exc) is a message for a person, `detail` the tool output for logs."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


_FRIENDLY = [
    (
        re.compile(
            r"moov atom not found|Invalid data found|could not find codec|EBML header", re.I
        ),
        "A media file could not be read: it may be damaged or not a supported format.",
    ),
    (
        re.compile(r"No space left on device", re.I),
        "The server ran out of disk space while rendering.",
    ),
    (re.compile(r"No such file or directory", re.I), "A media file of this project is missing."),
]


def friendly(stderr: str) -> str:
    for pattern, message in _FRIENDLY:
        if pattern.search(stderr):
            return message
    return "The video could not be rendered (the encoder reported an error)."


# A healthy ffmpeg advances its output time every fraction of a second. Rarely (a few runs in a
# hundred, under CPU load) the static ffmpeg deadlocks while libass starts up; such a run is killed
# after STALL_SECONDS without progress and started again, so a job never hangs.
STALL_SECONDS = 20.0
ATTEMPTS = 3


class Priority(enum.Enum):
    """How an ffmpeg run shares the CPU with speech synthesis (the render pipeline runs beside it).

    Piper's two onnxruntime threads wait for each other at every step, so an encoder taking a
    core from one of them stalls both; synthesis keeps ~1.7 of the 2 cores busy. Measured, 1,000
    words pipelined (synthesis alone ~37 s): 47-50 s with the encoders at normal priority, 41.3 s
    at nice 10, 39.3 s with the picture in the idle class; 75 words end to end: 1.34x of the floor
    niced, 1.08-1.21x idle.
    """

    NORMAL = "normal"
    # nice 10: the voice track's encoder, fed as the voice is spoken; it must not starve, since a
    # full pipe to it holds the synthesis back
    BESIDE = "beside"
    # SCHED_IDLE: the picture's stretches while synthesis runs. The class gets no CPU at all
    # while anything else keeps both cores busy, so the pipeline re-encodes a stretch still
    # waiting when the export needs it at normal priority (backend.runtime.pipeline)
    IDLE = "idle"


_NICE, _CHRT = shutil.which("nice"), shutil.which("chrt")


def prioritized(cmd: list[str], priority: Priority) -> list[str]:
    """cmd run at that priority (as is where the tool for it is missing)."""
    if priority is Priority.IDLE and _CHRT:
        return [_CHRT, "--idle", "0", *cmd]
    if priority is not Priority.NORMAL and _NICE:
        return [_NICE, "-n", "10", *cmd]
    return cmd


def _fontconfig_env(cwd: Path) -> dict[str, str]:
    """A private fontconfig: the bundled fonts (plus a CJK fallback folder when the machine has
    one, see backend.media.fonts), a cache in the scratch dir. libass never scans all system fonts and
    never waits on a cache lock another process holds."""
    conf = cwd / "fonts.conf"
    if not conf.exists():
        dirs = "".join(f"<dir>{escape(str(d))}</dir>" for d in font_dirs())
        conf.write_text(
            "<?xml version='1.0'?><!DOCTYPE fontconfig SYSTEM 'fonts.dtd'><fontconfig>"
            f"{dirs}<cachedir>{escape(str(cwd / 'fontconfig-cache'))}</cachedir></fontconfig>"
        )
    return {**os.environ, "FONTCONFIG_FILE": str(conf)}


def _watch(
    proc: subprocess.Popen[bytes],
    cancel: threading.Event | None,
    done: threading.Event,
    last_progress: list[float],
    stalled: threading.Event,
) -> None:
    """Kill ffmpeg on cancel, or when its output time has not moved for STALL_SECONDS."""
    while not done.wait(0.2):
        cancelled = cancel is not None and cancel.is_set()
        if cancelled or time.monotonic() - last_progress[0] > STALL_SECONDS:
            if not cancelled:
                stalled.set()
            if proc.poll() is None:
                proc.kill()
            return


def _run_once(
    cmd: list[str],
    cwd: Path,
    total_s: float,
    progress: Callable[[float], None] | None,
    cancel: threading.Event | None,
) -> tuple[int, str, bool]:
    """One ffmpeg process: (exit code, stderr, whether it stalled)."""
    err_path = cwd / f"ffmpeg-{threading.get_ident()}-{id(cmd)}.log"
    done, stalled = threading.Event(), threading.Event()
    last_progress = [time.monotonic()]
    seen = ""
    with err_path.open("w+b") as err:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=err, env=_fontconfig_env(cwd)
        )
        watcher = threading.Thread(
            target=_watch, args=(proc, cancel, done, last_progress, stalled), daemon=True
        )
        watcher.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode("ascii", "replace").strip()
                if line.startswith("out_time_us=") or line == "progress=end":
                    if line != seen:
                        seen = line
                        last_progress[0] = time.monotonic()
                    value = line.split("=", 1)[1]
                    if progress is not None and total_s > 0 and value.lstrip("-").isdigit():
                        progress(max(0.0, min(int(value) / 1e6 / total_s, 1.0)))
            code = proc.wait()
        finally:
            done.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            watcher.join()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    err_path.unlink(missing_ok=True)
    return code, stderr, stalled.is_set()


def run_ffmpeg(
    args: list[str],
    *,
    cwd: Path,
    total_s: float = 0.0,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    priority: Priority = Priority.NORMAL,
) -> str:
    """Run ffmpeg with -progress on stdout; returns stderr. Raises RenderError on failure/cancel.
    A run that stops making progress is killed and started again (at most ATTEMPTS times)."""
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-nostats", *args]
    cmd = prioritized(cmd, priority)
    _LOG.debug("ffmpeg %s", " ".join(args))
    for attempt in range(1, ATTEMPTS + 1):
        code, stderr, stalled = _run_once(cmd, cwd, total_s, progress, cancel)
        if cancel is not None and cancel.is_set():
            raise RenderError("The render was cancelled.")
        if not stalled:
            break
        _LOG.warning(
            "ffmpeg made no progress for %.0f s (attempt %d of %d): %s",
            STALL_SECONDS,
            attempt,
            ATTEMPTS,
            stderr[-600:],
        )
    else:
        raise RenderError("The encoder stopped making progress, so the render was stopped.")
    if code != 0:
        _LOG.warning("ffmpeg failed (%s): %s", code, stderr[-1500:])
        raise RenderError(friendly(stderr), detail=stderr[-4000:])
    return stderr
