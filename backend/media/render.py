"""Export a RenderSpec to an MP4 (H.264 yuv420p + AAC 48 kHz stereo) with ffmpeg.

Three shapes:
- script only: a cheap gradient background, burned-in karaoke captions and titles, the voice;
- uploaded video, nothing visual changes: the video stream is copied byte for byte, its own sound
  ducked under the voice, captions (if any) as a soft mov_text track;
- uploaded video with burned captions, titles, a new size/aspect (pad, blur or crop) or a held
  last frame: re-encoded (render_video.py builds that graph).
Music is mixed in a first, audio-only pass whose loudness is measured, so the export meets
-16 LUFS with the music in it. Trim cuts everything at trim_ms. The output (and the optional SRT
and VTT sidecars) appear only when ffmpeg succeeded; failures raise RenderError.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

from backend.core.types import RenderSpec, Sentence, TextOverlay
from backend.media.audio import audio_graph, music_gain_db, normalize_voice, premix
from backend.media.burn import STATES, band_graph, band_layout, burn_band
from backend.media.captions import (
    FONTS_DIR,
    change_times,
    overlay_times,
    write_ass,
    write_srt,
    write_vtt,
)
from backend.media.ffmpeg import RenderError, run_ffmpeg
from backend.media.script_video import render_script
from backend.media.video import X264_STILL, X264_VIDEO, filter_value, fit_graph, still_background
from backend.media.voice_track import AAC as VOICE_AAC

__all__ = ["RenderError", "VideoInfo", "probe_video", "render", "sidecar_paths"]

_LOG = logging.getLogger(__name__)

_AAC = ["-c:a", "aac", "-aac_coder", "fast", "-b:a", "160k", "-ar", "48000", "-ac", "2"]
_COPYABLE = {"h264"}  # the output promises H.264; other codecs are re-encoded


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int
    height: int
    codec: str
    has_audio: bool
    fps: float = 0.0


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
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            return VideoInfo(
                duration, width, height, str(ctx.name), bool(container.streams.audio), fps
            )
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


def sidecar_paths(out_path: Path) -> tuple[Path, Path]:
    """Where the SRT and VTT caption files of an export go: beside the MP4."""
    out_path = Path(out_path)
    return out_path.with_suffix(".srt"), out_path.with_suffix(".vtt")


@dataclass
class _Plan:
    """What one render does, decided before any ffmpeg argument is written."""

    total_s: float
    captions: list[Sentence]
    burn: bool
    soft: bool
    titles: list[TextOverlay]
    copy: bool
    hold_s: float = 0.0
    extra: list[str] = field(default_factory=list)  # notes for the log


def _plan(spec: RenderSpec, info: VideoInfo | None, voice_end_s: float) -> _Plan:
    style = spec.caption_style
    captions = list(spec.captions) if style.enabled else []
    burn = bool(captions) and style.burn_in
    titles = [t for t in spec.titles if t.text.strip() and t.end_ms > t.start_ms]
    if info is None:
        total_s = max(spec.duration_ms, 1) / 1000
        hold_s = 0.0
    else:
        # Copy mode cannot cut the video short: the output lasts as long as the longer stream.
        total_s = max(info.duration_s, voice_end_s)
        hold_s = total_s - info.duration_s if spec.hold_last_frame else 0.0
    if spec.trim_ms is not None and spec.trim_ms > 0:
        total_s = min(total_s, spec.trim_ms / 1000)
    if info is not None:
        hold_s = max(0.0, min(hold_s, total_s - info.duration_s))
    copy = (
        info is not None
        and not burn
        and not titles
        and (spec.width, spec.height) == (info.width, info.height)
        and info.codec in _COPYABLE
        and hold_s <= 0.01
    )
    return _Plan(total_s, captions, burn, bool(captions) and not burn, titles, copy, hold_s)


def render(
    spec: RenderSpec,
    out_path: Path,
    work_dir: Path,
    progress: Callable[[float], None] | None = None,
    cancel: threading.Event | None = None,
    cache: Path | None = None,
) -> None:
    """Render spec to out_path (atomically), plus out_path.srt/.vtt when spec.sidecars.
    Raises RenderError with a person-readable message; on failure no output file is left.
    With a `cache` dir a script-only video is made of cached pieces (backend.media.script_video),
    those a pipeline encoded while the voice was synthesized and those encoded now."""
    out_path, work_dir = Path(out_path), Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    scratch = work_dir / f"render-{tag}"
    tmp = work_dir / f".render-{tag}.mp4.part"
    published: list[Path] = []

    def report(fraction: float) -> None:
        if progress is not None:
            progress(max(0.0, min(fraction, 1.0)))

    try:
        scratch.mkdir()
        if spec.video is not None and not Path(spec.video).is_file():
            raise RenderError("The uploaded video is missing.")
        if spec.voice is not None and not Path(spec.voice).is_file():
            raise RenderError("The voiceover audio is missing.")
        if spec.music is not None and not Path(spec.music.path).is_file():
            raise RenderError("The music file is missing.")
        info = probe_video(Path(spec.video)) if spec.video is not None else None
        if info is None and spec.voice is None:
            raise RenderError("There is nothing to render: no video and no voiceover.")
        voice_s = _voice_seconds(Path(spec.voice)) if spec.voice is not None else 0.0
        voice_end_s = spec.voice_start_ms / 1000 + voice_s if spec.voice is not None else 0.0
        plan = _plan(spec, info, voice_end_s)
        report(0.05)
        if info is None and cache is not None:
            _segmented(spec, plan, voice_s, cache, scratch, tmp, report, cancel)
        else:
            voice: Path | None = None
            if spec.voice is not None:
                voice = scratch / "voice.wav"
                normalize_voice(Path(spec.voice), voice, scratch, cancel)
            audio_inputs, audio_filter = _audio(spec, plan, info, voice, scratch, cancel)
            report(0.1)
            args = _command(spec, plan, info, audio_inputs, audio_filter, scratch, cancel)
            run_ffmpeg(
                [*args, "-f", "mp4", f"file:{tmp}"],
                cwd=scratch,
                total_s=plan.total_s,
                progress=lambda f: report(0.1 + 0.88 * f),
                cancel=cancel,
            )
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise RenderError("The video could not be rendered (no output was produced).")
        if spec.sidecars:
            end_ms = round(plan.total_s * 1000)
            srt, vtt = scratch / "sidecar.srt", scratch / "sidecar.vtt"
            write_srt(spec.captions, srt, spec.width, spec.height, end_ms)
            write_vtt(spec.captions, vtt, spec.width, spec.height, end_ms)
            for src, dst in zip((srt, vtt), sidecar_paths(out_path), strict=True):
                _publish(src, dst)
                published.append(dst)
        _publish(tmp, out_path)
        report(1.0)
    except BaseException as exc:
        for path in published:  # all or nothing: no caption files without their video
            path.unlink(missing_ok=True)
        if isinstance(exc, RenderError) or not isinstance(exc, Exception):
            raise
        _LOG.exception("render failed")
        raise RenderError("The video could not be rendered (internal error).") from exc
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def _segmented(
    spec: RenderSpec,
    plan: _Plan,
    voice_s: float,
    cache: Path,
    scratch: Path,
    tmp: Path,
    report: Callable[[float], None],
    cancel: threading.Event | None,
) -> None:
    def make_audio(track: Path) -> None:  # the sound alone, as the one-pass render makes it
        voice = None
        if spec.voice is not None:
            voice = scratch / "voice.wav"
            normalize_voice(Path(spec.voice), voice, scratch, cancel)
        inputs, graph = _audio(spec, plan, None, voice, scratch, cancel)
        unused_picture = ["-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04"]  # input 0
        codec = VOICE_AAC if spec.music is None else _AAC  # a voice alone: as the pipeline's
        out = ["-map", "[aout]", *codec, "-map_metadata", "-1", "-f", "mp4", f"file:{track}"]
        args = [*unused_picture, *inputs, "-filter_complex", graph, *out]
        run_ffmpeg(args, cwd=scratch, total_s=plan.total_s, cancel=cancel)

    render_script(
        spec, plan.total_s, voice_s, plan.soft, cache, scratch, tmp, make_audio, report, cancel
    )


def _audio(
    spec: RenderSpec,
    plan: _Plan,
    info: VideoInfo | None,
    voice: Path | None,
    scratch: Path,
    cancel: threading.Event | None,
) -> tuple[list[str], str]:
    """Audio inputs (numbered from 1: input 0 is the picture) and the graph making [aout].

    Without music the voice and the video's own sound are mixed in the main pass, as the voice
    alone sets the level. With music they are premixed and the mix is measured and corrected."""
    music = spec.music if spec.music is not None and spec.music.volume > 0 else None
    has_orig = info is not None and info.has_audio
    if music is None:
        inputs: list[str] = []
        voice_in = orig_in = None
        if has_orig:
            orig_in = 0
        if voice is not None:
            inputs += ["-i", f"file:{voice}"]
            voice_in = 1
        graph = audio_graph(
            voice_input=voice_in,
            voice_delay_ms=spec.voice_start_ms,
            original_input=orig_in,
            total_s=plan.total_s,
        )
        return inputs, graph
    gain = music_gain_db(Path(music.path), min(music.volume, 2.0), scratch, cancel)
    pre: list[str] = []
    n = 0
    voice_in = orig_in = None
    if voice is not None:
        pre += ["-i", f"file:{voice}"]
        voice_in, n = n, n + 1
    if has_orig:
        pre += ["-vn", "-i", f"file:{spec.video}"]
        orig_in, n = n, n + 1
    loop = ["-stream_loop", "-1"] if music.loop else []
    pre += [*loop, "-vn", "-i", f"file:{music.path}"]
    graph = audio_graph(
        voice_input=voice_in,
        voice_delay_ms=spec.voice_start_ms,
        original_input=orig_in,
        total_s=plan.total_s,
        music_input=n,
        music_gain_db=gain,
        music_fade_ms=music.fade_ms,
    )
    mix = scratch / "mix.wav"
    level = premix(pre, graph, mix, plan.total_s, scratch, cancel)
    plan.extra.append(f"music gain {gain:.1f} dB, mix {level.integrated:.1f} LUFS")
    mixed = audio_graph(voice_input=1, voice_delay_ms=0, original_input=None, total_s=plan.total_s)
    return ["-i", f"file:{mix}"], mixed  # the finished mix goes through like a voice alone


def _command(
    spec: RenderSpec,
    plan: _Plan,
    info: VideoInfo | None,
    audio_inputs: list[str],
    audio_filter: str,
    scratch: Path,
    cancel: threading.Event | None = None,
) -> list[str]:
    """ffmpeg arguments (without the output file): input 0 is the picture, then the audio."""
    inputs: list[str] = []
    if info is not None:
        inputs += ["-i", f"file:{spec.video}"]
    else:
        cues = change_times(plan.captions, spec.width, spec.height) if plan.burn else []
        cues += overlay_times(plan.titles)
        still_background(scratch, spec, plan.total_s, cues)
        inputs += ["-f", "concat", "-i", "bg.ffconcat"]
    inputs += audio_inputs
    subs_in = None
    if plan.soft:
        write_srt(plan.captions, scratch / "captions.srt", spec.width, spec.height)
        subs_in = 1 + sum(1 for a in audio_inputs if a == "-i")
        inputs += ["-f", "srt", "-i", "captions.srt"]
    ass = ""
    if plan.burn or plan.titles:
        burned = plan.captions if plan.burn else []
        style = spec.caption_style
        write_ass(
            burned, style, spec.width, spec.height, scratch / "captions.ass", titles=plan.titles
        )
        (scratch / "fonts").symlink_to(FONTS_DIR, target_is_directory=True)
        ass = f"ass=filename={filter_value('captions.ass')}:fontsdir={filter_value('fonts')}"

    graph = [audio_filter]
    video_args: list[str]
    if info is None:
        graph.append(f"[0:v:0]format=yuv420p{',' + ass if ass else ''}[vout]")
        video_args = ["-map", "[vout]", "-c:v", "libx264", *X264_STILL, "-g", "30"]
        video_args += ["-pix_fmt", "yuv420p", "-fps_mode", "vfr"]
    elif plan.copy:
        video_args = ["-map", "0:v:0", "-c:v", "copy"]
    else:
        fps = max(1, min(spec.fps, 60))
        # captions alone (no titles) are drawn once per change and overlaid (backend.media.burn)
        cues = change_times(plan.captions, spec.width, spec.height) if plan.burn else []
        band = None
        if cues and not plan.titles:
            band = burn_band(scratch, ass, spec.width, spec.height, cues, plan.total_s, cancel)
        canvas = sum(1 for a in inputs if a == "-i")
        if band is not None:
            inputs += ["-safe", "0", "-f", "concat", "-i", STATES]
        fitted = fit_graph(
            "[0:v:0]",
            src_w=info.width,
            src_h=info.height,
            src_fps=info.fps,
            spec=spec,
            hold_s=plan.hold_s,
            ass="" if band else ass,
            out="[base]" if band else "[vout]",
        )
        graph.append(fitted)
        if band is not None:
            band_ass = band_layout(scratch, "captions.ass", band, spec.height)
            canvas_in = f"[{canvas}:v]"
            graph.append(
                band_graph(band, ass, canvas_in, "[base]", spec.width, spec.height, band_ass)
            )
        video_args = ["-map", "[vout]", "-c:v", "libx264", *X264_VIDEO, "-g", str(fps * 2)]
        video_args += ["-pix_fmt", "yuv420p"]

    args = [*inputs, "-filter_complex", ";".join(graph), *video_args, "-map", "[aout]", *_AAC]
    if subs_in is not None:
        args += ["-map", f"{subs_in}:s:0", "-c:s", "mov_text", "-metadata:s:s:0", "language=eng"]
    if info is not None:  # an uploaded video runs longer than the output or is copied: cut it
        args += ["-t", f"{plan.total_s:.3f}"]
    # A script-only render ends by itself at total_s: the background's concat list and the audio
    # graph (atrim) both stop there. An output -t on top of that deadlocked ffmpeg now and then
    # under load (all its threads waiting on each other at the end of the stream, 0% CPU; half the
    # runs on a loaded 2-core machine), which the stall watchdog then killed three times in a row.
    args += ["-map_metadata", "-1", "-movflags", "+faststart"]
    mode = "script" if info is None else "copy" if plan.copy else "reencode"
    _LOG.info(
        "render mode=%s %dx%d %.2fs captions=%d titles=%d fit=%s hold=%.2fs %s",
        mode,
        spec.width,
        spec.height,
        plan.total_s,
        len(plan.captions),
        len(plan.titles),
        spec.fit,
        plan.hold_s,
        "; ".join(plan.extra),
    )
    return args
