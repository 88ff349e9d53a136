"""The audio side of a render: two-pass loudness normalization of the voice, music level, and the
filter graph that ducks an uploaded video's sound (and music) under the voice."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from backend.media.ffmpeg import RenderError, run_ffmpeg

_LOG = logging.getLogger(__name__)

TARGET_LUFS = -16.0
LIMIT_DBFS = -2.0  # sample-peak ceiling; leaves room for inter-sample/AAC overshoot under -1 dBTP
SAMPLE_RATE = 48000
# Ducking: with the voice at -16 LUFS its RMS sits near -19 dBFS; threshold 0.02 (-34 dB) and a
# high ratio pull the original sound down by about 14 dB while someone speaks.
DUCK = "threshold=0.02:ratio=20:attack=20:release=400:makeup=1:knee=2:detection=rms"


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP


def measure(
    path: Path, cwd: Path, cancel: threading.Event | None = None, limit_s: float | None = None
) -> Loudness:
    """EBU R128 integrated loudness and true peak of a file's first audio stream
    (of its first limit_s seconds, if given)."""
    head = ["-t", f"{limit_s:.3f}"] if limit_s else []
    stderr = run_ffmpeg(
        [
            *head,
            "-i",
            f"file:{path}",
            "-map",
            "0:a:0",
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        cwd=cwd,
        cancel=cancel,
    )
    summary = stderr[stderr.rfind("Summary:") :]
    lufs = re.search(r"I:\s+(-?[\d.]+|-inf|nan)\s+LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf|nan)\s+dBFS", summary)
    if lufs is None or peak is None:
        raise RenderError("The voiceover audio could not be measured.", detail=summary[-1000:])
    return Loudness(float(lufs.group(1)), float(peak.group(1)))


def _normalize_pass(
    src: Path, dst: Path, gain_db: float, cwd: Path, cancel: threading.Event | None
) -> None:
    limit = 10 ** (LIMIT_DBFS / 20)
    chain = (
        f"aresample={SAMPLE_RATE}:resampler=soxr,volume={gain_db:.2f}dB,"
        f"alimiter=limit={limit:.4f}:level=0:attack=3:release=80:latency=1,"
        "aformat=sample_fmts=flt:channel_layouts=stereo"
    )
    run_ffmpeg(
        ["-i", str(src), "-map", "0:a:0", "-af", chain, "-c:a", "pcm_f32le", str(dst)],
        cwd=cwd,
        cancel=cancel,
    )


def normalize_voice(
    voice: Path,
    out: Path,
    cwd: Path,
    cancel: threading.Event | None = None,
    first: Loudness | None = None,
    target: float = TARGET_LUFS,
) -> Loudness:
    """Write the voice as 48 kHz stereo at `target` LUFS with peaks limited, measuring twice.

    Pass 1 measures the raw WAV (unless `first` is that measurement); a linear gain plus a peak
    limiter follows. The limiter can shave a little loudness off, so the result is measured and
    corrected once if it missed by > 0.3 LU.
    """
    first = first or measure(voice, cwd, cancel)
    if first.integrated != first.integrated or first.integrated < -70:  # nan / silence
        gain = 0.0
    else:
        gain = max(-30.0, min(target - first.integrated, 30.0))
    _normalize_pass(voice, out, gain, cwd, cancel)
    result = measure(out, cwd, cancel)
    miss = target - result.integrated
    if first.integrated >= -70 and abs(miss) > 0.3:
        _normalize_pass(voice, out, min(gain + miss * 1.1, 40.0), cwd, cancel)
        result = measure(out, cwd, cancel)
    _LOG.info(
        "voice loudness %.1f LUFS -> %.1f LUFS (true peak %.1f dBTP)",
        first.integrated,
        result.integrated,
        result.true_peak,
    )
    return result


# Music: ducked more gently than a video's own sound (about 9 dB under speech), released slowly
# enough not to pump between words, fully back within a pause.
MIX_TOLERANCE_LU = 0.5
MUSIC_DUCK = "threshold=0.02:ratio=6:attack=30:release=500:makeup=1:knee=4:detection=rms"


def music_gain_db(music: Path, volume: float, cwd: Path, cancel: threading.Event | None) -> float:
    """The gain that puts the music at `volume` (linear amplitude) of the voice's -16 LUFS level,
    measured on its first two minutes (enough for a loop, cheap for a long track)."""
    level = measure(music, cwd, cancel, limit_s=120.0).integrated
    if level != level or level < -70:  # silent track: leave it alone
        level = TARGET_LUFS
    gain = TARGET_LUFS - level + 20 * math.log10(max(volume, 1e-3))
    return max(-60.0, min(gain, 30.0))


def audio_graph(
    *,
    voice_input: int | None,
    voice_delay_ms: int,
    original_input: int | None,
    total_s: float,
    music_input: int | None = None,
    music_gain_db: float = 0.0,
    music_fade_ms: int = 0,
) -> str:
    """filter_complex text producing [aout]: the voice (delayed, padded), with the uploaded video's
    own sound and the music (gain set, faded in and out) ducked under it by sidechain compressors
    keyed on the voice. The music input may loop forever (-stream_loop -1): it is cut at total_s."""
    end = f"apad=whole_dur={total_s:.3f},atrim=end={total_s:.3f},asetpts=N/SR/TB"
    fmt = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
    limit = 10 ** (LIMIT_DBFS / 20)
    limiter = f"alimiter=limit={limit:.4f}:level=0:attack=3:release=80:latency=1"
    parts: list[str] = []
    if voice_input is not None:
        delay = f"adelay=delays={max(voice_delay_ms, 0)}:all=1," if voice_delay_ms > 0 else ""
        parts.append(f"[{voice_input}:a:0]{fmt},{delay}{end}[voice]")
    if original_input is not None:
        parts.append(f"[{original_input}:a:0]{fmt},{end}[orig]")
    if music_input is not None:
        fade = max(0.0, min(music_fade_ms / 1000, total_s / 2))
        fades = ""
        if fade > 0.01:
            fades = f",afade=t=in:d={fade:.3f},afade=t=out:st={total_s - fade:.3f}:d={fade:.3f}"
        parts.append(
            f"[{music_input}:a:0]{fmt},atrim=end={total_s:.3f},asetpts=N/SR/TB,"
            f"volume={music_gain_db:.2f}dB{fades},{end}[music]"
        )
    beds = [name for name, i in (("orig", original_input), ("music", music_input)) if i is not None]
    if voice_input is not None and beds:
        keys = [f"[vkey{k}]" for k in range(len(beds))]
        parts.append(f"[voice]asplit={len(beds) + 1}{''.join(keys)}[vmix]")
        mixed = ["[vmix]"]
        for bed, key in zip(beds, keys, strict=True):
            duck = DUCK if bed == "orig" else MUSIC_DUCK
            parts.append(f"[{bed}]{key}sidechaincompress={duck}[{bed}d]")
            mixed.append(f"[{bed}d]")
        parts.append(
            f"{''.join(mixed)}amix=inputs={len(mixed)}:duration=first:normalize=0,{limiter}[aout]"
        )
    elif voice_input is not None:
        parts.append("[voice]anull[aout]")
    elif beds:
        mixed = [f"[{b}]" for b in beds]
        parts.append(
            f"{''.join(mixed)}amix=inputs={len(mixed)}:duration=first:normalize=0,{limiter}[aout]"
            if len(mixed) > 1
            else f"{mixed[0]}anull[aout]"
        )
    else:
        parts.append(f"anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=end={total_s:.3f}[aout]")
    return ";".join(parts)


def premix(
    inputs: list[str],
    graph: str,
    out: Path,
    total_s: float,
    cwd: Path,
    cancel: threading.Event | None = None,
) -> Loudness:
    """Mix the audio graph ([aout]) to a WAV and keep its loudness within MIX_TOLERANCE_LU of -16.

    Music changes the integrated loudness both ways (it adds level, and its quiet stretches between
    phrases pass the EBU gate and pull the average down), so the mix is measured, not guessed."""
    raw = out.with_name(f"raw-{out.name}")
    output = ["-t", f"{total_s:.3f}", "-c:a", "pcm_f32le", "-f", "wav", f"file:{raw}"]
    try:
        run_ffmpeg(
            [*inputs, "-filter_complex", graph, "-map", "[aout]", *output],
            cwd=cwd,
            total_s=total_s,
            cancel=cancel,
        )
        level = measure(raw, cwd, cancel)
        miss = TARGET_LUFS - level.integrated
        if level.integrated != level.integrated or abs(miss) <= MIX_TOLERANCE_LU:
            os.replace(raw, out)  # close enough: the voice keeps its level, the music its ratio
            return level
        # Only the excess is corrected, so the music stays as close as it can to its asked level.
        edge = TARGET_LUFS - math.copysign(MIX_TOLERANCE_LU, miss)
        return normalize_voice(raw, out, cwd, cancel, first=level, target=edge)
    finally:
        raw.unlink(missing_ok=True)
