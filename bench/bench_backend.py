"""End-to-end backend benchmarks over HTTP on this machine, with the DESIGN section 5 targets beside them.

(a) the ~75-word example script -> 1080p MP4 with captions (upload, run_sse, export, poll, download);
(b) a 30 s 1080p video + voiceover, video stream copied;
(c) TTS real-time factor on the packaged voice.
Each run uses fresh text so the sentence cache does not flatter the figure.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from tests.support.backend import Api, BackendProcess
from tests.support.media import make_test_video

EXAMPLE = Path(__file__).resolve().parent.parent / "bot" / "examples" / "lumen_script.txt"
FALLBACK = (
    "Meet Lumen, the smart desk lamp that learns your rhythm. In the morning it wakes you with bright, "
    "cool light that helps you focus. As the day goes on, it shifts to warmer tones, and at night it fades "
    "to a soft amber glow so you can wind down. Setup takes less than a minute, and the app lets you "
    "schedule scenes for work, reading and rest. Lumen. Light that works the way you do."
)


def _script(run: int) -> str:
    text = EXAMPLE.read_text() if EXAMPLE.exists() else FALLBACK
    return f"Take {run + 1}. {text}"


def _end_to_end(api: Api, out: Path, files: list[tuple[str, bytes | Path]]) -> tuple[float, float]:
    t0 = time.perf_counter()
    api.upload(*files)
    r, _ = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200
    speech = next(tr for tr in api.state()["draft"]["t"] if tr["tt"] == 1)["sg"][0]["d"] / 1000
    result = api.poll(api.export())
    assert result["status"] == "completed", result
    api.download(result["output"]["url"], out)
    return time.perf_counter() - t0, speech


def run(runs: int = 3) -> None:
    """Each run gets a fresh backend (empty sentence cache); the model load is outside the timing."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        script_times, video_times, rtfs = [], [], []
        clip = make_test_video(root / "clip30.mp4", seconds=30, width=1920, height=1080)
        speech = 0.0
        for i in range(runs):
            proc = BackendProcess(root / f"backend{i}")
            proc.start()
            try:
                api = Api(proc.url)
                api.say(
                    "voiceover\nscript: Warm up the voice."
                )  # loads the model, as on a running server
                seconds, speech = _end_to_end(
                    api, root / f"a{i}.mp4", [("script.txt", _script(i).encode())]
                )
                script_times.append(seconds)
                api.close()
                api = Api(proc.url)
                files: list[tuple[str, bytes | Path]] = [
                    ("clip.mp4", clip),
                    ("script.txt", f"Take {i + 1}. {FALLBACK}".encode()),
                ]
                seconds, _ = _end_to_end(api, root / f"b{i}.mp4", files)
                video_times.append(seconds)
                api.close()
            finally:
                proc.stop()
        from backend.speech.catalog import discover_voices
        from backend.speech.tts import TTSEngine

        voice = discover_voices(None)[0]
        text = EXAMPLE.read_text() if EXAMPLE.exists() else FALLBACK
        TTSEngine(root / "warm-cache").synthesize("Warm up.", voice, out_path=root / "warm.wav")
        for i in range(runs):
            engine = TTSEngine(root / f"tts-cache{i}")  # empty cache: every sentence is synthesized
            t0 = time.perf_counter()
            res = engine.synthesize(text, voice, out_path=root / f"t{i}.wav")
            rtfs.append((time.perf_counter() - t0) / (res.duration_ms / 1000))
    print(
        f"(a) example script ({speech:.1f} s of speech) -> 1080p MP4, end to end: "
        f"median {statistics.median(script_times):.2f} s   target < 8 s"
    )
    print(
        f"(b) 30 s 1080p video + voiceover, end to end:        median {statistics.median(video_times):.2f} s   target < 8 s"
    )
    print(
        f"(c) TTS real-time factor:                             median {statistics.median(rtfs):.3f}x   target < 0.15x"
    )


if __name__ == "__main__":
    run()
