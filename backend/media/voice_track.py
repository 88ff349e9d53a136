"""The voice's AAC track encoded while the voice is still being synthesized (issue 13: pipelining).

Loudness normalization needs the whole voice, an encoder wants the samples as they come. The gain is
calibrated on the first CALIBRATE_S seconds (measured raw, then measured again through the same gain
and limiter, as normalize_voice does for a whole file), the rest streams through one ffmpeg with
that gain, and ffmpeg's own EBU R128 meter on the encoder's input says what came out. A track that
missed -16 LUFS by more than TOLERANCE_LU is thrown away: the export then normalizes the whole voice
as before, so a calibration that guessed wrong costs time, never loudness.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import subprocess
import threading
import uuid
import wave
from pathlib import Path

from backend.core.queues import put_unless_gone
from backend.media import loudness
from backend.media.audio import LIMIT_DBFS, SAMPLE_RATE, TARGET_LUFS
from backend.media.ffmpeg import FFMPEG, Priority, RenderError, prioritized, run_ffmpeg

_LOG = logging.getLogger(__name__)

CALIBRATE_S = 20.0
_STEP_DB = 2.0  # calibrate measures through the limiter at the first guess and this much above
_TWO_NULLS = ["-map", "[a]", "-f", "null", "-", "-map", "[b]", "-f", "null", "-"]
_SUMMARY_I = re.compile(r"Summary:\s+Integrated loudness:\s+I:\s+(-?[\d.]+|-inf|nan)\s+LUFS")
TOLERANCE_LU = 0.5
# A voice alone is the same on both channels: ffmpeg's mid/side search, which found that out for
# every frame, was 60% of the AAC encoder's CPU (2.47 -> 1.17 CPU-s for 2 min of Piper); coded as
# left/right the track is 8% bigger and still 41 dB above its coding noise.
AAC = [
    *("-c:a", "aac", "-aac_coder", "fast", "-aac_ms", "0"),
    *("-b:a", "160k", "-ar", "48000", "-ac", "2"),
]
VERSION = "1"


def track_key(voice: Path, frames: int, rate: int) -> str:
    payload = f"{VERSION}|{Path(voice).resolve()}|{frames}|{rate}|{TARGET_LUFS}|{' '.join(AAC)}"
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def cached_track(cache: Path, voice: Path) -> Path | None:
    """The finished AAC track of this voice file, if the pipeline left one."""
    try:
        with wave.open(str(voice), "rb") as wf:
            frames, rate = wf.getnframes(), wf.getframerate()
    except (OSError, EOFError, wave.Error):
        return None
    path = cache / f"voice-{track_key(voice, frames, rate)}.m4a"
    if path.is_file():
        os.utime(path)
        return path
    return None


_RESAMPLE = f"aresample={SAMPLE_RATE}:resampler=soxr"


def _shape(gain_db: float) -> str:
    """The gain, the limiter and the stereo upmix of the resampled voice."""
    limit = 10 ** (LIMIT_DBFS / 20)
    return (
        f"volume={gain_db:.2f}dB,"
        f"alimiter=limit={limit:.4f}:level=0:attack=3:release=80:latency=1,"
        "aformat=sample_fmts=fltp:channel_layouts=stereo"
    )


def _chain(gain_db: float) -> str:
    return f"{_RESAMPLE},{_shape(gain_db)}"


def calibrate(head: bytes, rate: int, scratch: Path, cancel: threading.Event | None) -> float:
    """The gain (dB) that brings this voice to -16 LUFS through the limiter, found on `head`.

    The raw loudness is measured in numpy (backend.media.loudness: milliseconds, no ffmpeg). The
    limiter takes more off the louder the voice is pushed (Piper peaks at full scale: +5 dB came
    out 1.2 LU short, each further dB only 0.6 LU louder), so one ffmpeg run measures the result
    through the chain at two gains and the gain is read off the line between them. It was three
    ffmpeg runs, ~0.3 s of CPU taken from the synthesis running beside it, and undershot."""
    first = loudness.integrated(loudness.pcm16(head), rate)  # the stereo upmix keeps the level
    if first != first or first < -70:  # silence so far: leave the level alone
        return 0.0
    low = max(-30.0, min(TARGET_LUFS - first, 30.0))
    high = low + _STEP_DB
    raw = scratch / "head.wav"
    with wave.open(str(raw), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(head)
    graph = (
        f"[0:a]{_RESAMPLE},asplit=2[low][high];[low]{_shape(low)},ebur128=peak=none[a];"
        f"[high]{_shape(high)},ebur128=peak=none[b]"
    )
    try:
        stderr = run_ffmpeg(
            [*("-i", str(raw), "-filter_complex", graph), *_TWO_NULLS],
            cwd=scratch,
            cancel=cancel,
            priority=Priority.BESIDE,  # runs beside the synthesis
        )
    finally:
        raw.unlink(missing_ok=True)
    found = [float(v) for v in _SUMMARY_I.findall(stderr) if v not in ("-inf", "nan")]
    if len(found) != 2:
        return low
    at_low, at_high = sorted(found)  # the quieter summary is the lower gain's
    slope = min(1.0, max(0.2, (at_high - at_low) / _STEP_DB))
    return max(-30.0, min(low + (TARGET_LUFS - at_low) / slope, 40.0))


class StreamEncoder:
    """One ffmpeg reading the voice's int16 samples on stdin and writing its AAC track."""

    def __init__(self, cache: Path, scratch: Path, rate: int, gain_db: float) -> None:
        cache.mkdir(parents=True, exist_ok=True)
        self.cache, self.rate, self.gain_db = cache, rate, gain_db
        self.frames = 0
        self.tmp = cache / f".voice-{uuid.uuid4().hex[:12]}.m4a.part"
        self.log = scratch / f"voice-stream-{uuid.uuid4().hex[:8]}.log"
        graph = f"[0:a]{_chain(gain_db)},asplit=2[enc][meter];[meter]ebur128=peak=none,anullsink"
        self._err = self.log.open("w+b")
        self.proc = subprocess.Popen(
            prioritized(
                [
                    *(FFMPEG, "-hide_banner", "-nostdin", "-y", "-nostats"),
                    *("-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0"),
                    *("-filter_complex", graph, "-map", "[enc]", *AAC),
                    *("-map_metadata", "-1", "-f", "mp4", f"file:{self.tmp}"),
                ],
                Priority.BESIDE,  # it follows the synthesis
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            cwd=scratch,
        )

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.frames += len(data) // 2

    def finish(self, voice: Path) -> Path | None:
        """Close the stream; the track in the cache if it came out at -16 LUFS, else None."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            code = self.proc.wait(timeout=600)
            self._err.seek(0)
            stderr = self._err.read().decode("utf-8", "replace")
            if code != 0:
                raise RenderError("the voice track could not be encoded", detail=stderr[-1500:])
            summary = stderr[stderr.rfind("Summary:") :]
            found = re.search(r"I:\s+(-?[\d.]+|-inf|nan)\s+LUFS", summary)
            level = float(found.group(1)) if found else float("nan")
            if not abs(level - TARGET_LUFS) <= TOLERANCE_LU:
                _LOG.info("streamed voice track at %.1f LUFS: not used", level)
                return None
            out = self.cache / f"voice-{track_key(voice, self.frames, self.rate)}.m4a"
            os.replace(self.tmp, out)
            _LOG.info("streamed voice track at %.1f LUFS (gain %.1f dB)", level, self.gain_db)
            return out
        finally:
            self.abort()

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._err.close()
        self.log.unlink(missing_ok=True)
        self.tmp.unlink(missing_ok=True)


class VoiceFeed:
    """The voice track's side of a pipeline, on its own thread: the samples wait until CALIBRATE_S
    seconds are there, the gain is calibrated on them, then they stream into a StreamEncoder.

    Off the pipeline's thread, so neither the calibration nor an encoder behind the synthesis
    holds up the picture: each stretch is handed over when its last sentence is spoken, and once
    the synthesis ends the last stretch and the voice's catch-up run side by side on two cores
    (they ran one after the other: 0.07-0.23 s of a 75-word script's tail). The queue is
    bounded: a feed that falls behind slows its writer down instead of holding the voice."""

    def __init__(self, cache: Path, scratch: Path, items: int) -> None:
        self.cache, self.scratch = cache, scratch
        self.items: queue.Queue[tuple[str, object]] = queue.Queue(items)
        self.head: list[bytes] = []
        self.head_bytes = 0
        self.rate = 0
        self.encoder: StreamEncoder | None = None
        self.track: Path | None = None
        self.broken = False
        self.cancel = threading.Event()  # stops the calibration's ffmpeg
        self.closed = threading.Event()  # the thread is gone: what is still written is dropped
        self.thread = threading.Thread(target=self._work, name="voice-track", daemon=True)
        self.thread.start()

    def _put(self, kind: str, value: object) -> None:
        put_unless_gone(self.items, (kind, value), self.closed.is_set)

    def write(self, data: bytes, rate: int) -> None:
        self._put("pcm", (data, rate))

    def finish(self, voice: Path) -> Path | None:
        """Wait for the whole track: in the cache, or None when it could not be made."""
        self._put("end", voice)
        self.thread.join()
        return self.track

    def abort(self) -> None:
        """Stop within half a second, without waiting: the calibration is cancelled and the
        encoder killed (a write into it then fails at once instead of waiting on its pipe)."""
        self.broken = True
        self.cancel.set()
        encoder = self.encoder
        if encoder is not None:
            encoder.abort()
        try:
            self.items.put_nowait(("abort", None))
        except queue.Full:
            pass  # the thread is busy and sees `broken` at its next item

    def _work(self) -> None:
        try:
            while not self.broken:
                try:
                    kind, value = self.items.get(timeout=0.5)
                except queue.Empty:
                    continue
                if kind == "abort":
                    return
                if kind == "end":
                    assert isinstance(value, Path)
                    self._end(value)
                    return
                assert isinstance(value, tuple)
                self._take(*value)
        except Exception:
            if not self.broken:  # not an abort's cancelled calibration or killed encoder
                _LOG.exception("the streamed voice track failed; the export encodes it")
        finally:
            self.broken = True
            self.closed.set()  # writers stop waiting for room: what they still write is dropped
            if self.encoder is not None:
                self.encoder.abort()

    def _take(self, data: bytes, rate: int) -> None:
        self.rate = rate
        if self.encoder is not None:
            self.encoder.write(data)
            return
        self.head.append(data)
        self.head_bytes += len(data)
        if self.head_bytes >= CALIBRATE_S * rate * 2:
            self._start()

    def _start(self) -> None:
        head = b"".join(self.head)
        self.head, self.head_bytes = [], 0
        self.scratch.mkdir(parents=True, exist_ok=True)
        gain = calibrate(head, self.rate, self.scratch, self.cancel)
        self.encoder = StreamEncoder(self.cache, self.scratch, self.rate, gain)
        self.encoder.write(head)

    def _end(self, voice: Path) -> None:
        if self.encoder is None and self.head:
            self._start()
        if self.encoder is not None:
            self.track = self.encoder.finish(voice)
            self.encoder = None
