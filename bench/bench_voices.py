"""Per-voice benchmark (issue 15): for every voice of the catalogue, the TTS real-time factor of a
fresh ~75-word script (synthesis time / speech length, sentence cache empty, model loaded) and the
end-to-end time of that script -> 1080p MP4 with captions over HTTP (say, export, poll, download).

Target (issue 15): a 75-word script -> 1080p MP4 under 8 s on 2 cores for every voice.
``python -m bench.bench_voices [voice_id ...]``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
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
TARGET_E2E_S = 8.0


def _script(language: str, take: int) -> str:
    return f"Take {take}. {EN}" if language.startswith("en") else f"第{take}次。{ZH}"


def run(voice_ids: list[str] | None = None) -> None:
    voices = [v for v in discover_voices(None) if not voice_ids or v.id in voice_ids]
    print(f"{'voice':<18} {'RTF':>6} {'speech s':>9} {'e2e s':>7}  target e2e < {TARGET_E2E_S:g} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = TTSEngine(root / "cache")
        proc = BackendProcess(root / "backend")
        proc.start()
        try:
            for n, voice in enumerate(voices):
                engine.sentence_clip(
                    "Warm up." if voice.language.startswith("en") else "你好。", voice, 1.0, None
                )
                t0 = time.perf_counter()
                speech = engine.synthesize(
                    _script(voice.language, n), voice, out_path=root / f"{n}.wav"
                )
                rtf = (time.perf_counter() - t0) / (speech.duration_ms / 1000)
                api = Api(proc.url, lang="zh" if voice.language.startswith("zh") else "en")
                warm = (
                    "use "
                    + voice.name
                    + "\nscript: "
                    + ("Warm up." if voice.language.startswith("en") else "你好。")
                )
                api.say(warm)  # the model is loaded, as on a running server
                api.upload(("s.txt", _script(voice.language, n + 100).encode()))
                t0 = time.perf_counter()
                r, _ = api.say(f"use {voice.name}, voiceover for my script")
                assert r.status_code == 200, r.text
                result = api.poll(api.export())
                assert result["status"] == "completed", result
                api.download(result["output"]["url"], root / f"{n}.mp4")
                e2e = time.perf_counter() - t0
                api.close()
                mark = "ok" if e2e < TARGET_E2E_S else "MISSED"
                print(
                    f"{voice.id:<18} {rtf:6.2f} {speech.duration_ms / 1000:9.1f} {e2e:7.1f}  {mark}"
                )
        finally:
            proc.stop()


if __name__ == "__main__":
    run(sys.argv[1:] or None)
