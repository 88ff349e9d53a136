"""Tones misaki's Mandarin G2P writes as the dictionary has them, set in context before phonemes.

misaki 0.9.4's ``ZHG2P()`` (the legacy path: its ``ToneSandhi`` belongs to the 1.1 frontend, which
writes zhuyin this model's vocabulary lacks) gives each jieba word pypinyin's dictionary tones.
一 and 不 change tone with the next syllable, and pypinyin has that only for the phrases it
lists: 一个 yí gè and 不是 bú shì were right; 一样 yī yàng, 一次 yī cì, 一天 yī tiān, 不对 bù
duì, 对不起 bù, 第一名 dì yì míng, 一月 yí yuè, 十一个 shí yí gè were not. Kokoro says the tone
written (the 不 of 不对 as "pu↗" starts 3-6 semitones lower than as "pu↘", as a second tone
does), so here the tones are set from the next syllable, and 一 said as a digit, an ordinal or a
date keeps yī. 得 "must" (我得走了) has no character of its own to hand the G2P instead
(zh_readings' way), so it is set here too: "děi". The third-tone sandhi (你好 ní hǎo) is left
alone: Kokoro already says a written 3-3 word's first syllable rising (老虎's 老 +2 semitones,
老师's -9; 8 such words averaged like 2-3 words, Yunxi +0.6 against +1.3, Xiaoxiao +0.3
against +0.2). Every other syllable gets exactly the phonemes ``ZHG2P()`` gives it.
"""

from __future__ import annotations

import re
from typing import Any

_DIGITS = set("零一二三四五六七八九")
_NUMERALS = _DIGITS | set("十百千万亿")
_HAN_RUN = re.compile("[\u4e00-\u9fff]+|[^\u4e00-\u9fff]+")
# After 得 "must": a verb (tags are unreliable: 上学 and 小心 come as nouns); not these.
_NOT_AFTER_DEI = set("了着过到的地得是不")
_GOT = ("冠军", "金牌", "银牌", "铜牌", "奖", "大奖", "满分", "第", "病")  # 得 "got" these
_SUBJECTS = ("r", "n", "t", "s", "d")  # pronouns, nouns, time words, places, adverbs (还得, 就得)
_DEGREE = {"不", "很", "最", "更", "太", "挺", "非常", "多么"}  # 不得 may not, 很得人心
# Words whose 一 stays "yī" before any tone (统一标准, 唯一的, 万一他).
_YI_WORDS = set("统一 唯一 万一 之一 专一 单一 均一 划一 合一 归一 如一 逐一".split())


class MandarinG2P:
    """``misaki.zh.ZHG2P()`` called as Kokoro's phonemizer calls it, step for step, with the
    tones of 一 and 不 and the reading of 得 "must" set in context between pinyin and phonemes."""

    def __init__(self) -> None:
        import jieba
        from misaki.zh import ZHG2P

        jieba.setLogLevel(60)
        self._zh: Any = ZHG2P

    def __call__(self, text: str) -> tuple[str, None]:
        import cn2an

        if not text.strip():
            return "", None
        text = self._zh.map_punctuation(cn2an.transform(text, "an2cn"))
        out = "".join(
            self._run(run) if "\u4e00" <= run[0] <= "\u9fff" else run
            for run in _HAN_RUN.findall(text)
        )
        return out.replace(chr(815), ""), None

    def _run(self, run: str) -> str:
        """One run of Chinese characters: jieba's words, each its syllables' phonemes."""
        import jieba
        from pypinyin import Style, lazy_pinyin

        words = jieba.lcut(run, cut_all=False)
        syllables = [lazy_pinyin(w, style=Style.TONE3, neutral_tone_with_five=True) for w in words]
        if all(len(s) == len(w) for s, w in zip(syllables, words, strict=True)):
            flat = revise(words, [p for s in syllables for p in s], run)
            syllables = [flat[i - len(w) : i] for w, i in zip(words, _ends(words), strict=True)]
        return " ".join("".join(self._zh.py2ipa(p) for p in s) for s in syllables)


def _ends(words: list[str]) -> list[int]:
    ends, pos = [], 0
    for w in words:
        pos += len(w)
        ends.append(pos)
    return ends


def revise(words: list[str], pinyin: list[str], run: str) -> list[str]:
    """The run's syllables (TONE3, one per character) with 一, 不 and 得 "must" set in context."""
    out = list(pinyin)
    starts = [e - len(w) for w, e in zip(words, _ends(words), strict=True)]
    word_at = {i: (s, w) for s, w in zip(starts, words, strict=True) for i in range(s, s + len(w))}
    for i, ch in enumerate(run):
        if ch == "不" and pinyin[i].startswith("bu"):
            out[i] = "bu" + _bu(run, pinyin, i, word_at[i])
        elif ch == "一" and pinyin[i].startswith("yi"):
            out[i] = "yi" + _yi(run, pinyin, i, word_at)
    if "得" in run:
        for i in _dei(run, words, starts):
            out[i] = "dei3"
    return out


def _bu(run: str, pinyin: list[str], i: int, at: tuple[int, str]) -> str:
    """不: neutral between a word said twice (是不是) and inside a three-syllable word (看不懂,
    对不起); "bú" before a fourth tone (不对, 不错); else "bù" (不好, 不一样, at the end)."""
    if i + 1 >= len(run):
        return "4"
    start, word = at
    if (i and run[i - 1] == run[i + 1]) or (len(word) == 3 and i == start + 1):
        return "5"
    if run[i + 1] == "一":
        return "4"  # the 一 of 不一样, 不一般 is said yí or yì, never in the fourth tone
    return "2" if pinyin[i + 1].endswith("4") else "4"


def _yi(run: str, pinyin: list[str], i: int, word_at: dict[int, tuple[int, str]]) -> str:
    """一: "yī" as a digit (十一, 二零一五, 一九八四, 一点五, 一比一), an ordinal or a date
    (第一, 初一, 星期一, 周一, 一月, 一号, 一年级, 一等奖), in the words where it stays so (统一,
    唯一, 之一) and at the end of a run; neutral between a verb said twice (看一看); before a
    fourth (or neutral) tone "yí" (一个, 一样, 一次); before the others "yì" (一天, 一年, 一百)."""
    prev = run[i - 1] if i else ""
    nxt = run[i + 1] if i + 1 < len(run) else ""
    start, word = word_at[i]
    last = i == start + len(word) - 1  # jieba's word ends here: 周一 (Monday), not 每周/一次
    if not nxt or prev == "第" or (prev + "一" in _YI_WORDS and nxt not in _NUMERALS):
        return "1"  # 万一他, not 一万一千
    if last and word.endswith(("初一", "周一", "星期一", "礼拜一")):
        return "1"
    if prev in _DIGITS or prev == "十" or nxt in _DIGITS or nxt == "十":
        return "1"
    if nxt in "点比" and run[i + 2 : i + 3] in _NUMERALS:
        return "1"
    if nxt in "月号" or (nxt == "日" and prev == "月") or run[i + 1 : i + 3] in ("年级", "等奖"):
        return "1"
    if prev == nxt and (word == "一" or (start == i - 1 and len(word) == 3)):
        return "5"
    return "2" if pinyin[i + 1][-1] in "45" else "4"


def _dei(run: str, words: list[str], starts: list[int]) -> list[int]:
    """Where 得 is the modal "must" (我得走了, 你得去, 我们还得等, 那得多少钱): a word of its
    own after a subject or an adverb (or first), before a verb; not 得了 (got), 得冠军, 不得."""
    import jieba.posseg

    flags: list[str] = []
    for token in jieba.posseg.cut(run):
        flags += [token.flag] * len(token.word)
    found: list[int] = []
    for k, (word, start) in enumerate(zip(words, starts, strict=True)):
        if word in ("那得", "这得"):
            at = start + 1
        elif word == "得":
            at = start
            before = words[k - 1] if k else ""
            if before in _DEGREE or (before and not flags[at - 1].startswith(_SUBJECTS)):
                continue
        else:
            continue
        rest = run[at + 1 :]
        if not rest or rest[0] in _NOT_AFTER_DEI or rest[0] in _NUMERALS:
            continue
        if not rest.startswith(_GOT):
            found.append(at)
    return found
