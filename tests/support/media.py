"""Test media helpers: make small clips with ffmpeg lavfi, probe them with PyAV, measure audio.

Shared by the TTS/render tests and the backend flow tests, so every test measures the same way.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import av
import imageio_ffmpeg
import numpy as np

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def make_test_video(
    path: Path,
    seconds: float,
    width: int = 640,
    height: int = 360,
    fps: int = 30,
    with_audio: bool = True,
    tone_hz: int = 440,
) -> Path:
    """An H.264/AAC MP4 of testsrc2 plus a sine tone (440 Hz by default) at about -23 dBFS."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = [
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}",
    ]
    if with_audio:
        args += [
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency={tone_hz}:sample_rate=48000:duration={seconds}",
        ]
        args += ["-af", "volume=-5dB", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps)]
    args += ["-shortest", str(path)]
    _run(args)
    return path


def probe(path: Path) -> dict[str, Any]:
    """duration_s, video_codec/width/height/fps, audio_codec/sample_rate/channels, subtitle codec."""
    info: dict[str, Any] = {
        "duration_s": 0.0,
        "has_video": False,
        "has_audio": False,
        "has_subtitles": False,
        "video_codec": None,
        "audio_codec": None,
        "subtitle_codec": None,
        "width": 0,
        "height": 0,
    }
    with av.open(str(path)) as container:
        if container.duration is not None:
            info["duration_s"] = container.duration / 1_000_000
        for stream in container.streams:
            ctx: Any = stream.codec_context
            if stream.type == "video" and not info["has_video"]:
                info.update(
                    has_video=True,
                    video_codec=ctx.name,
                    width=ctx.width,
                    height=ctx.height,
                    pix_fmt=ctx.pix_fmt,
                    fps=float(stream.average_rate) if stream.average_rate else 0.0,
                )
            elif stream.type == "audio" and not info["has_audio"]:
                info.update(
                    has_audio=True,
                    audio_codec=ctx.name,
                    sample_rate=ctx.sample_rate,
                    channels=ctx.channels,
                )
            elif stream.type == "subtitle" and not info["has_subtitles"]:
                info.update(has_subtitles=True, subtitle_codec=ctx.name)
    return info


def video_packets(path: Path) -> list[bytes]:
    """Raw payloads of the first video stream's packets (equal lists = the stream was copied)."""
    out: list[bytes] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                out.append(bytes(packet))
    return out


def loudness(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) measured by ffmpeg's ebur128."""
    proc = _run(["-i", str(path), "-map", "0:a:0", "-af", "ebur128=peak=true", "-f", "null", "-"])
    summary = proc.stderr[proc.stderr.rfind("Summary:") :]
    lufs = re.search(r"I:\s+(-?[\d.]+|-inf)\s+LUFS", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf)\s+dBFS", summary)
    if lufs is None or peak is None:
        raise RuntimeError(f"no ebur128 summary in: {summary[-500:]}")
    return float(lufs.group(1)), float(peak.group(1))


def audio_samples(path: Path, start_s: float = 0.0, end_s: float | None = None) -> np.ndarray:
    """Mono float32 samples (48 kHz) of a window of the first audio stream."""
    args = ["-ss", f"{start_s:.3f}"]
    if end_s is not None:
        args += ["-t", f"{max(end_s - start_s, 0.001):.3f}"]
    args += ["-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"]
    proc = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *args],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(proc.stdout, dtype="<f4")


def rms_db(path: Path, start_s: float, end_s: float) -> float:
    """RMS level in dBFS of the audio between start_s and end_s (-120 for silence)."""
    samples = audio_samples(path, start_s, end_s).astype(np.float64)
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(samples**2)))
    return max(-120.0, 20 * np.log10(rms)) if rms > 0 else -120.0


def frame_png(path: Path, t: float, out: Path) -> Path:
    """The frame shown at t seconds as a PNG (also right for variable-frame-rate files, where a
    frame is held until the next one: the video is resampled to 25 fps before picking)."""
    _run(["-y", "-i", str(path), "-vf", "fps=25", "-ss", f"{t:.3f}", "-frames:v", "1", str(out)])
    return out


def frame_rgb(path: Path, t: float) -> np.ndarray:
    """The frame shown at t seconds (the last one starting at or before t) as HxWx3 uint8."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        shown = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > t + 1e-6 and shown is not None:
                break
            shown = frame.to_ndarray(format="rgb24")
        if shown is None:
            raise RuntimeError(f"no frame at {t}s in {path}")
        return np.asarray(shown)


def make_music(path: Path, seconds: float, tone_hz: int = 13000, level_db: float = -12.0) -> Path:
    """A 'music' track made of one steady sine (MP3/WAV/M4A by the file suffix). A tone above
    11 kHz is measurable under Piper speech (22.05 kHz audio has nothing up there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = {".mp3": ["-c:a", "libmp3lame", "-b:a", "192k"], ".m4a": ["-c:a", "aac"]}
    args = ["-y", "-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=44100"]
    args += ["-t", f"{seconds:.3f}", "-af", f"volume={level_db}dB", "-ac", "2"]
    args += [*codec.get(path.suffix.lower(), []), str(path)]
    _run(args)
    return path


def tone_db(path: Path, start_s: float, end_s: float, freq: float) -> float:
    """Level of one pure tone in a window (a spectral line, so speech barely disturbs it)."""
    x = audio_samples(path, start_s, end_s).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / 48000)
    band = (freqs > freq - 5) & (freqs < freq + 5)
    return float(20 * np.log10(spectrum[band].max() / x.size + 1e-12))


def speech_onsets(samples: np.ndarray, rate: int, min_gap_s: float = 0.5) -> list[float]:
    """Times (s) where the level rises above -40 dBFS after at least min_gap_s of quiet
    (20 ms RMS frames; int16 or float samples)."""
    x = samples.astype(np.float64)
    if samples.dtype == np.int16:
        x /= 32768.0
    hop = rate // 50
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    loud = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9) > -40
    onsets: list[float] = []
    quiet = int(min_gap_s * 50)
    run = quiet  # the start counts as after silence
    for i, is_loud in enumerate(loud):
        if is_loud:
            if run >= quiet:
                onsets.append(i / 50)
            run = 0
        else:
            run += 1
    return onsets
