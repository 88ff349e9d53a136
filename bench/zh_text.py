"""Mandarin text as the bench compares it: the script against whisper's transcript.

Whisper writes Mandarin in traditional characters as often as not (``認識`` for ``认识``): that alone
made the CER of a perfectly read script 36 %. Both sides are converted to simplified characters
(OpenCC ``t2s``, the ``[bench]`` extra), Arabic digits become Chinese numerals as they are said
(backend/speech/zh_numbers.py, then ``cn2an`` as the voice's G2P does), punctuation and Latin words are
dropped. Characters that sound exactly alike and that whisper picks between by guess count as one
(他/她/它 for "it", 著/着). Latin words (the brand name ``Lumen``) are read by the English G2P and
whisper writes them as any characters that sound alike (``路门``): each one may stand for up to
three heard characters, which are not counted either way.
"""

from __future__ import annotations

import difflib
import re

import cn2an

from backend.speech import zh_numbers

_TOKEN = re.compile(r"[\u4e00-\u9fff]|[A-Za-z][A-Za-z'’-]*")
_SAME = str.maketrans("他她著", "它它着")
LATIN = "*"  # a Latin word of the script: stands for 0..LATIN_SPAN heard characters
LATIN_SPAN = 3


def to_simplified(text: str) -> str:
    """Traditional -> simplified characters (phrase-aware: 乾淨 -> 干净, 乾隆 stays)."""
    import opencc  # the [bench] extra; without it the caller says n/a

    return str(opencc.OpenCC("t2s").convert(text))


def han_numbers(text: str) -> str:
    """Arabic numbers as Chinese numerals, the way a reader (and the voice) says them: the
    product's forms first (1,999元 -> 1999元, 10:30 -> 10点30分, phone numbers digit by digit),
    then cn2an (2024年 -> 二零二四年), on the script and on what whisper wrote alike."""
    return str(cn2an.transform(zh_numbers.normalize(text), "an2cn"))


def zh_tokens(text: str) -> list[str]:
    """The characters of ``text`` a CER counts: simplified, numbers in Chinese, homophones that
    whisper guesses between folded; each Latin word is one ``LATIN`` token."""
    text = to_simplified(han_numbers(text)).translate(_SAME)
    return [t if len(t) == 1 and not t.isascii() else LATIN for t in _TOKEN.findall(text)]


def cer(script: str, heard: str) -> float:
    """Character error rate of ``heard`` against ``script``: (substitutions + deletions +
    insertions) / the script's Chinese characters. What is heard for a Latin word is free."""
    ref, hyp = zh_tokens(script), [t for t in zh_tokens(heard) if t != LATIN]
    prev = list(range(len(hyp) + 1))
    for r in ref:
        if r == LATIN:
            prev = [min(prev[max(0, j - LATIN_SPAN) : j + 1]) for j in range(len(hyp) + 1)]
            continue
        cur = [prev[0] + 1] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, sum(t != LATIN for t in ref))


def differences(ref: list[str], hyp: list[str]) -> list[tuple[str, str]]:
    """(expected, heard) for each stretch that differs; '' where nothing was said or expected."""
    match = difflib.SequenceMatcher(None, ref, hyp, autojunk=False)
    return [
        ("".join(ref[i1:i2]), "".join(hyp[j1:j2]))
        for op, i1, i2, j1, j2 in match.get_opcodes()
        if op != "equal"
    ]


def misheard(script: str, heard: str) -> list[tuple[str, str]]:
    """The differences the CER counts, as (expected, heard): what a Latin word became is left out."""
    pairs = differences(zh_tokens(script), zh_tokens(heard))
    return [(r, h) for r, h in pairs if not (r == LATIN and len(h) <= LATIN_SPAN)]
