"""Export a RenderSpec to an MP4 (H.264 yuv420p + AAC 48 kHz stereo) with ffmpeg.

Three shapes:
- script only: a cheap gradient background, burned-in karaoke captions, the voice;
- uploaded video, nothing visual changes: the video stream is copied byte for byte, its own sound
  ducked under the voice, captions (if any) as a soft mov_text track;
- uploaded video with burned captions or a new size: scale + letterbox, re-encode.
The output appears at out_path only when ffmpeg succeeded; failures raise RenderError.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from backend.audio import RenderError, audio_graph, normalize_voice, run_ffmpeg
from backend.captions import FONTS_DIR, change_times, write_ass, write_srt
from backend.mediatypes import RenderSpec

__all__ = ["RenderError", "VideoInfo", "probe_video", "render"]

_LOG = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"^[\w.-]+$")
_X264_STILL = ["-preset", "ultrafast", "-tune", "stillimage", "-crf", "22"]
_X264_VIDEO = ["-preset", "veryfast", "-crf", "21"]
_AAC = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "160k", "-ar", "48000", "-ac", "2"]
_COPYABLE = {"h264"}  # the output promises H.264; other codecs are re-encoded


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    codec: str
    has_audio: bool


def probe_video(path: Path) -> VideoInfo:
    """Read an uploaded video's shape with PyAV; a file that is not a video raises RenderError."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise RenderError("The uploaded file has no video stream.")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            duration = 0.0
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            if duration <= 0 and container.duration is not None:
                duration = container.duration / 1_000_000
            width, height = int(ctx.width), int(ctx.height)
            if width <= 0 or height <= 0 or duration <= 0:
                raise RenderError("The video file could not be read: it has no usable frames.")
            return VideoInfo(duration, width, height, str(ctx.name), bool(container.streams.audio))
    except RenderError:
        raise
    except (av.FFmpegError, OSError, ValueError, ZeroDivisionError) as exc:
        raise RenderError(
            "The video file could not be read: it may be damaged or not a supported video."
        ) from exc


def _voice_seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as wf:
            return wf.getnframes() / float(wf.getframerate())
    except (wave.Error, EOFError):
        with av.open(str(path)) as container:
            return (container.duration or 0) / 1_000_000


def _rgb(colour: str, factor: float) -> tuple[int, int, int]:
    """'#rrggbb' scaled by factor; a bad colour falls back to the default."""
    value = colour.strip().lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        value = "1b2735"
    r, g, b = (min(255, round(int(value[i : i + 2], 16) * factor)) for i in (0, 2, 4))
    return r, g, b


def _filter_value(name: str) -> str:
    """A file name for a filter option. Only plain names are used (files live in the scratch dir,
    which is ffmpeg's cwd), so no path ever needs filtergraph escaping."""
    if not _SAFE_NAME.match(name):
        raise ValueError(f"unsafe filter file name {name!r}")
    return name


def _still_background(scratch: Path, spec: RenderSpec, total_s: float, cues: list[int]) -> None:
    """A one-frame gradient (y4m: no decoding cost) and a concat list that shows it once per
    caption change (and at least every second), so the encoder sees only frames that differ."""
    w, h = spec.width, spec.height
    top, bottom = _rgb(spec.background, 1.35), _rgb(spec.background, 0.7)
    mix = np.linspace(0.0, 1.0, h)[:, None]
    rgb = np.asarray(top)[None, :] * (1 - mix) + np.asarray(bottom)[None, :] * mix  # h x 3
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    plane_y = np.repeat(np.round(y).astype(np.uint8)[:, None], w, axis=1)
    half = slice(0, h, 2)
    plane_u = np.repeat(np.round(u[half]).astype(np.uint8)[:, None], w // 2, axis=1)
    plane_v = np.repeat(np.round(v[half]).astype(np.uint8)[:, None], w // 2, axis=1)
    with (scratch / "bg.y4m").open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\nFRAME\n".encode())
        for plane in (plane_y, plane_u, plane_v):
            f.write(plane.tobytes())
    total_ms = round(total_s * 1000)
    times = set(range(0, total_ms, 1000)) | {t for t in cues if 0 <= t < total_ms}
    times.add(max(total_ms - 40, 0))  # a last short frame so the video lasts to the end
    ordered = sorted(times)
    lines = ["ffconcat version 1.0"]
    for start, end in zip(ordered, [*ordered[1:], total_ms], strict=True):
        if end > start:
            lines += ["file bg.y4m", f"duration {(end - start) / 1000:.3f}"]
    (scratch / "bg.ffconcat").write_text("\n".join(lines) + "\n", encoding="ascii")


def _publish(tmp: Path, out_path: Path) -> None:
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out_path)
    except OSError:  # another filesystem: copy next to the target, then rename there
        staged = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.part")
        try:
            shutil.copyfile(tmp, staged)
            os.replace(staged, out_path)
        finally:
            staged.unlink(missing_ok=True)


def render(
    spec: RenderSpec,
    out_path: Path,
    work_dir: Path,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Render spec to out_path (atomically). Raises RenderError with a person-readable message."""
    out_path, work_dir = Path(out_path), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    scratch = work_dir / f"render-{tag}"
    tmp = work_dir / f".render-{tag}.mp4.part"

    def report(fraction: float) -> None:
        if progress is not None:
            progress(max(0.0, min(fraction, 1.0)))

    try:
        scratch.mkdir()
        if spec.video is not None and not Path(spec.video).is_file():
            raise RenderError("The uploaded video is missing.")
        if spec.voice is not None and not Path(spec.voice).is_file():
            raise RenderError("The voiceover audio is missing.")
        info = probe_video(Path(spec.video)) if spec.video is not None else None
        if info is None and spec.voice is None:
            raise RenderError("There is nothing to render: no video and no voiceover.")
        voice: Path | None = None
        voice_end_s = 0.0
        if spec.voice is not None:
            voice = scratch / "voice.wav"
            normalize_voice(Path(spec.voice), voice, scratch, cancel)
            voice_end_s = spec.voice_start_ms / 1000 + _voice_seconds(Path(spec.voice))
        report(0.05)
        args, total_s = _command(spec, info, voice, voice_end_s, scratch)
        run_ffmpeg(
            [*args, "-f", "mp4", f"file:{tmp}"],
            cwd=scratch,
            total_s=total_s,
            progress=lambda f: report(0.05 + 0.93 * f),
            cancel=cancel,
        )
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise RenderError("The video could not be rendered (no output was produced).")
        _publish(tmp, out_path)
        report(1.0)
    except RenderError:
        raise
    except Exception as exc:
        _LOG.exception("render failed")
        raise RenderError("The video could not be rendered (internal error).") from exc
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _command(
    spec: RenderSpec, info: VideoInfo | None, voice: Path | None, voice_end_s: float, scratch: Path
) -> tuple[list[str], float]:
    """ffmpeg arguments (without the output file) and the output duration in seconds."""
    style = spec.caption_style
    captions = list(spec.captions) if style.enabled else []
    burn = bool(captions) and style.burn_in
    soft = bool(captions) and not style.burn_in
    size_same = (spec.width, spec.height) == (info.width, info.height) if info else False
    copy = info is not None and not burn and size_same and info.codec in _COPYABLE
    if info is None:
        total_s = max(spec.duration_ms, 1) / 1000
    else:
        total_s = max(info.duration_s, voice_end_s)  # copy mode cannot cut the video short

    inputs: list[str] = []
    n = 0
    video_in = voice_in = orig_in = subs_in = None
    if info is not None:
        inputs += ["-i", f"file:{spec.video}"]
        video_in = n
        orig_in = n if info.has_audio else None
        n += 1
    else:
        cues = change_times(captions, spec.width, spec.height) if burn else []
        _still_background(scratch, spec, total_s, cues)
        inputs += ["-f", "concat", "-i", "bg.ffconcat"]
        video_in = n
        n += 1
    if voice is not None:
        inputs += ["-i", f"file:{voice}"]
        voice_in = n
        n += 1
    if soft:
        write_srt(captions, scratch / "captions.srt", spec.width, spec.height)
        inputs += ["-f", "srt", "-i", "captions.srt"]
        subs_in = n
        n += 1
    if burn:
        write_ass(captions, style, spec.width, spec.height, scratch / "captions.ass")
        (scratch / "fonts").symlink_to(FONTS_DIR, target_is_directory=True)
        ass = f",ass=filename={_filter_value('captions.ass')}:fontsdir={_filter_value('fonts')}"
    else:
        ass = ""

    graph = [
        audio_graph(
            voice_input=voice_in,
            voice_delay_ms=spec.voice_start_ms,
            original_input=orig_in,
            total_s=total_s,
        )
    ]
    video_args: list[str]
    if info is None:
        graph.append(f"[{video_in}:v:0]format=yuv420p{ass}[vout]")
        video_args = ["-map", "[vout]", "-c:v", "libx264", *_X264_STILL, "-g", "30"]
        video_args += ["-pix_fmt", "yuv420p", "-fps_mode", "vfr"]
    elif copy:
        video_args = ["-map", f"{video_in}:v:0", "-c:v", "copy"]
    else:
        assert info is not None
        fps = max(1, min(spec.fps, 60))
        w, h = spec.width, spec.height
        hold = max(0.0, total_s - info.duration_s)
        tpad = f",tpad=stop_mode=clone:stop_duration={hold:.3f}" if hold > 0.01 else ""
        graph.append(
            f"[{video_in}:v:0]scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps={fps},format=yuv420p"
            f"{tpad}{ass}[vout]"
        )
        video_args = ["-map", "[vout]", "-c:v", "libx264", *_X264_VIDEO, "-g", str(fps * 2)]
        video_args += ["-pix_fmt", "yuv420p"]

    args = [*inputs, "-filter_complex", ";".join(graph), *video_args, "-map", "[aout]", *_AAC]
    if subs_in is not None:
        args += ["-map", f"{subs_in}:s:0", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"]
    args += ["-t", f"{total_s:.3f}", "-map_metadata", "-1", "-movflags", "+faststart"]
    mode = "script" if info is None else "copy" if copy else "reencode"
    _LOG.info(
        "render mode=%s %dx%d %.2fs captions=%d",
        mode,
        spec.width,
        spec.height,
        total_s,
        len(captions),
    )
    return args, total_s
