"""Counting a script's words the way credits and limits count them."""

from __future__ import annotations

import re


def count_words(text: str) -> int:
    """Words of a script: runs of non-space letters, each CJK character counting as one word."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", text))
    return len(re.findall(r"[^\s\u3400-\u9fff]+", text)) + cjk
