"""Numbers in Chinese text, rewritten into the forms the Mandarin G2P reads right.

misaki's Chinese G2P turns Arabic numbers into words with ``cn2an.transform(text, "an2cn")``,
which reads one number at a time and knows no separators: ``1,999元`` became "一,九百九十九元"
(one, nine hundred...), ``10:30`` "十:三十", ``2024-05-01`` "二千零二十四负五负一", a phone
number a count of hundreds of millions, ``¥99`` lost its currency, ``第1-3名`` read "第一负三名"
and ``3:2`` "三:二". Here those forms become what a Chinese reader says (``1999元``,
``10点30分``, ``2024年5月1日``, digit by digit, ``99元``, ``1到3``, ``3比2``), still in Arabic
digits where cn2an reads them right. Only text that holds Chinese characters (and no kana) is
touched: an English voice reads ``1,999`` and ``10:30`` itself.
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u4e00-\u9fff]")
_KANA = re.compile(r"[\u3040-\u30ff]")  # Japanese reads its numbers and characters otherwise
_DIGIT_NAMES = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))
_CURRENCIES = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
# What may follow a long run of digits that is an amount, not a number read digit by digit.
_UNITS = "元块万亿千百美欧英港日人个次件台位名份张倍米克吨"

_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
_DATE = re.compile(r"(?<!\d)(\d{4})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)")
_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3])[:：]([0-5]\d)(?![\d:])")
_PHONE = re.compile(r"(?<![\d.])\d{2,4}(?:[- ]\d{3,8})+(?![\d.])|(?<![\d.])\d{7,}(?![\d.])")
_RATIO = re.compile(r"(?<![\d:])(\d+)[:：](\d+)(?![\d:])")
_YEARS = re.compile(r"(?<!\d)(\d{4})\s*[-~～–—]\s*(\d{4})\s*年")
_RANGE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*[-~～–—]\s*(\d+(?:\.\d+)?)(?![\d.])")
_MONEY = re.compile(r"([¥￥$€£])\s*(\d+(?:\.\d+)?[万亿]?)(美元|欧元|英镑|元)?")


def is_chinese(text: str) -> bool:
    """Text the Mandarin rewrites apply to: Chinese characters and no kana."""
    return bool(_HAN.search(text)) and not _KANA.search(text)


def normalize(text: str) -> str:
    """``text`` with its numbers in the forms misaki reads right, if it holds Chinese characters."""
    if not is_chinese(text) or not re.search(r"\d", text):
        return text
    text = _DATE.sub(lambda m: f"{m.group(1)}年{int(m.group(3))}月{int(m.group(4))}日", text)
    text = _TIME.sub(_time, text)
    text = _RATIO.sub(r"\1比\2", text)
    text = _YEARS.sub(r"\1年到\2年", text)
    text = _PHONE.sub(_phone, text)  # before the separators go: 1,234,567 is an amount
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _RANGE.sub(r"\1到\2", text)
    return _MONEY.sub(lambda m: m.group(2) + (m.group(3) or _CURRENCIES[m.group(1)]), text)


def _time(m: re.Match[str]) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    if minute == 0:
        return f"{hour}点"
    return f"{hour}点{'零' if minute < 10 else ''}{minute}分"


def _phone(m: re.Match[str]) -> str:
    """A phone or account number, digit by digit (1 as 幺, as it is said); an amount stays."""
    digits = m.group(0)
    after = m.string[m.end() : m.end() + 1]
    if after and after in _UNITS:
        return digits  # 12000000元, 1000-2000人: amounts
    if " " in digits and not re.fullmatch(r"\d{3,4} \d{3,4} \d{4}", digits):
        return digits  # "2024 100" is two numbers, not one phone number
    if ("-" in digits or " " in digits) and sum(c.isdigit() for c in digits) < 10:
        return digits  # 100-200: a range (phone numbers with a separator have 10 digits or more)
    return " ".join("".join(_DIGIT_NAMES[d] for d in group) for group in re.split(r"[- ]", digits))
