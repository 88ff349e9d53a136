"""Characters misaki reads wrong in context are said right (issue 15): the particles 地 and 得 as
"de" (misaki: "dì", "dé" in 慢慢地走, 跑得很快), 长 "long" as "cháng" (misaki: "zhǎng" in 很长,
长时间) and 还 "give back" as "huán" (misaki: "hái" in 还钱, 把书还了), as
backend/speech/zh_readings.py explains. Real G2P, real Kokoro."""

from __future__ import annotations

import numpy as np
import pytest

from backend.speech.catalog import discover_voices
from backend.speech.script import spoken_text
from backend.speech.tts import TTSEngine

YUNXI = next(v for v in discover_voices(None) if v.id == "zm_yunxi")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> TTSEngine:
    return TTSEngine(tmp_path_factory.mktemp("tts-cache"))


@pytest.mark.parametrize(
    "written",
    [
        "他慢慢地走。",
        "她轻松地完成工作。",
        "静静地看着。",
        "跑得很快。",
        "写得太好了。",
        "说得很清楚。",
    ],
)
def test_particles_reach_the_g2p_as_a_toneless_de(engine: TTSEngine, written: str) -> None:
    zh = engine.kokoro.phonemizer("zh_CN")
    particle = "地" if "地" in written else "得"
    said = written.replace(particle, "的")
    assert zh(spoken_text(written, None)) == zh(said)
    assert zh(written) != zh(said)  # what misaki alone makes of it
    assert "tɤ " in zh(said)  # 的: "de", no tone arrow


@pytest.mark.parametrize(
    "written", ["续航时间很长。", "太长了。", "长时间使用也不烫。", "多长时间？", "非常长。"]
)
def test_long_is_said_chang(engine: TTSEngine, written: str) -> None:
    zh = engine.kokoro.phonemizer("zh_CN")
    heard = zh(spoken_text(written, None))
    assert "ꭧʰa↗ŋ" in heard and "ꭧa↓ŋ" not in heard, heard
    assert "ꭧa↓ŋ" in zh(written)  # what misaki alone makes of it: zhǎng


@pytest.mark.parametrize(
    ("written", "reading"),
    [
        ("这块地很大。", "ti↘"),
        ("他得了第一名。", "tɤ↗"),
        ("地铁站到了。", "ti↘"),
        ("特地来看你。", "ti↘"),
    ],
)
def test_the_same_characters_as_words_keep_their_reading(
    engine: TTSEngine, written: str, reading: str
) -> None:
    zh = engine.kokoro.phonemizer("zh_CN")
    assert spoken_text(written, None) == written
    assert reading in zh(written)


def test_kokoro_says_the_particle_and_captions_the_written_character(engine: TTSEngine) -> None:
    written, _ = engine.sentence_clip("他慢慢地走进房间。", YUNXI, 1.0, None)
    said, _ = engine.sentence_clip("他慢慢的走进房间。", YUNXI, 1.0, None)
    assert np.array_equal(written.audio, said.audio)
    words = [w for w, _, _ in written.words]
    assert words == ["他", "慢", "慢", "地", "走", "进", "房", "间。"]
    starts = [s for _, s, _ in written.words]
    assert starts == sorted(starts) and written.words[3][2] > written.words[3][1]


@pytest.mark.parametrize(
    "written",
    [
        "我还钱给你。",
        "他还书了。",
        "把书还了。",
        "请按时还款。",
        "有借有还。",
        "把书还回去。",
        "你还我钱。",
        "我明天还你。",
        "借了要还。",
        "他还没还钱。",
        "我还要还房贷。",
    ],
)
def test_give_back_is_said_huan(engine: TTSEngine, written: str) -> None:
    zh = engine.kokoro.phonemizer("zh_CN")
    said = spoken_text(written, None)
    assert said.count("环") == 1 and said.replace("环", "还") == written
    assert "xwa↗n" in zh(said)
    assert zh(written).count("xai↗") == written.count("还")  # what misaki alone makes of it


@pytest.mark.parametrize(
    "written",
    [
        "还是你好。",
        "我还有钱。",
        "我还没吃饭。",
        "他还了解情况。",
        "说得还清楚。",
        "他还完成了作业。",
        "你还回来吗？",
        "他还手里拿着书。",
        "那还了得！",
        "我们还得等。",
        "还",  # a caption word on its own, phonemized to find its time in the sentence
    ],
)
def test_still_keeps_hai(written: str) -> None:
    assert "环" not in spoken_text(written, None)


def test_kokoro_says_huan_and_captions_the_written_character(engine: TTSEngine) -> None:
    written, _ = engine.sentence_clip("他还钱了。", YUNXI, 1.0, None)
    said, _ = engine.sentence_clip("他环钱了。", YUNXI, 1.0, None)
    assert np.array_equal(written.audio, said.audio)
    assert [w for w, _, _ in written.words] == ["他", "还", "钱", "了。"]
