"""Numbers in a Chinese script are said as a Chinese reader says them (issue 15).

misaki's Mandarin G2P reads Arabic numbers one at a time: before backend/speech/zh_numbers.py,
``售价1,999元`` was said "一, 九百九十九元" and ``10:30`` "十, 三十". Real G2P, real Kokoro."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backend.speech.catalog import discover_voices
from backend.speech.script import spoken_text
from backend.speech.tts import TTSEngine

XIAOXIAO = next(v for v in discover_voices(None) if v.id == "zf_xiaoxiao")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> TTSEngine:
    return TTSEngine(tmp_path_factory.mktemp("tts-cache"))


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("这款台灯售价1,999元。", "这款台灯售价一千九百九十九元。"),
        ("现在只要¥99。", "现在只要九十九元。"),
        ("会议在10:30开始，18:00结束。", "会议在十点三十分开始，十八点结束。"),
        ("7:05出发。", "七点零五分出发。"),
        ("2024-05-01正式上市。", "二零二四年五月一日正式上市。"),
        ("客服电话13812345678。", "客服电话幺三八幺二三四五六七八。"),
        ("请拨打400-820-8820。", "请拨打四零零 八二零 八八二零。"),
        ("第1-3名有奖。", "第一到三名有奖。"),
        ("比分3:2。", "比分三比二。"),
    ],
)
def test_numbers_in_chinese_reach_the_g2p_as_a_reader_says_them(
    engine: TTSEngine, written: str, said: str
) -> None:
    """The phonemes the voice gets for the written form are those of the words a reader says, and
    they were not before (misaki alone reads the written form otherwise)."""
    zh = engine.kokoro.phonemizer("zh_CN")
    assert zh(spoken_text(written, None)) == zh(said)
    assert zh(written) != zh(said)


def test_amounts_stay_amounts_and_other_languages_keep_their_numbers() -> None:
    assert spoken_text("共12000000元，100-200人。", None) == "共12000000元，100到200人。"
    assert spoken_text("访问量1,234,567，翻了一倍。", None) == "访问量1234567，翻了一倍。"
    for text in ("Take 1,999 at 10:30.", "10:30に会いましょう。", "Call 400-820-8820."):
        assert spoken_text(text, None) == text


def test_kokoro_says_a_price_as_its_chinese_numerals(engine: TTSEngine) -> None:
    """Real Kokoro: the written price gives the very audio of the price in words, and its caption
    word keeps the digits and a span of its seven syllables in sentence order."""
    written, _ = engine.sentence_clip("这款台灯售价1,999元。", XIAOXIAO, 1.0, None)
    said, _ = engine.sentence_clip("这款台灯售价一千九百九十九元。", XIAOXIAO, 1.0, None)
    assert np.array_equal(written.audio, said.audio)
    texts = [w for w, _, _ in written.words]
    assert texts == ["这", "款", "台", "灯", "售", "价", "1,999", "元。"]
    starts = [s for _, s, _ in written.words]
    assert starts == sorted(starts)
    _, start, end = written.words[6]
    assert end - start >= 900, written.words  # 一千九百九十九: seven syllables


def test_a_chinese_script_with_numbers_becomes_speech(engine: TTSEngine, tmp_path: Path) -> None:
    """A whole script: every sentence is spoken and captioned, the numbers' sentences included."""
    speech = engine.synthesize(
        "新品Lumen台灯售价¥1,299。2024-05-01上市，10:30开售。",
        XIAOXIAO,
        out_path=tmp_path / "n.wav",
    )
    assert len(speech.sentences) == 2 and speech.duration_ms > 4000
    assert [w.text for w in speech.sentences[1].words][:2] == ["2024-05-01", "上"]
