"""What a message says about the kind of voice, beyond gender, language and name (``interpret.py``
reads those): "the same voice as before", "a warmer voice", "用温柔的女声", accents no installed voice
has ("Australian"), and the catalogue request ("voices", "/voices", "有哪些声音")."""

from __future__ import annotations

import re

_SAME = re.compile(
    r"\bsame voice\b|\b(?:previous|old|last|earlier) voice\b|\bvoice as before\b"
    r"|\b(?:keep|don't change|do not change) the voice\b"
    r"|(?:同一个|同样的|一样的|原来的|之前的|刚才的|上次的)(?:声音|配音|嗓音)|声音不变|(?:不要|别)换声音",
    re.I,
)
# A trait counts only in a message about the voice ("softer music" is about the music).
_ABOUT_VOICE = re.compile(
    r"\bvoices?\b|\bnarrator\b|\bspeaker\b|\bnarration\b|\bvoice\s*-?\s*over\b|\bsounding\b|声|嗓音|音色",
    re.I,
)
TRAITS: dict[str, re.Pattern[str]] = {
    "warm": re.compile(r"\bwarm(?:er|est)?\b|温暖|温柔|温和", re.I),
    "deep": re.compile(
        r"\bdeep(?:er|est)?\b|\blow(?:er)?[- ]pitched\b|\bbass\b|低沉|浑厚|深沉", re.I
    ),
    "bright": re.compile(r"\bbright(?:er|est)?\b|\bcheerful\b|\bupbeat\b|明亮|开朗|阳光", re.I),
    "calm": re.compile(r"\bcalm(?:er|est)?\b|\bsoothing\b|\brelaxed\b|平静|沉稳|舒缓", re.I),
    "young": re.compile(r"\byoung(?:er)?\b|\byouthful\b|年轻|青春", re.I),
    "mature": re.compile(r"\bmature\b|\bolder\b|\bauthoritative\b|成熟|稳重", re.I),
    "lively": re.compile(r"\blively\b|\benergetic\b|\bdynamic\b|活泼|有活力|激情", re.I),
    "soft": re.compile(r"\bsoft(?:er|est)?\b|\bgentle\b|柔和|轻柔", re.I),
    "clear": re.compile(r"\bclear(?:er|est)?\b|\bcrisp\b|清晰|清楚", re.I),
}
TRAIT_WORDS = {
    "en": {
        "warm": "warm",
        "deep": "deep",
        "bright": "bright",
        "calm": "calm",
        "young": "young",
        "mature": "mature",
        "lively": "lively",
        "soft": "soft",
        "clear": "clear",
    },
    "zh": {
        "warm": "温暖",
        "deep": "低沉",
        "bright": "明亮",
        "calm": "沉稳",
        "young": "年轻",
        "mature": "成熟",
        "lively": "活泼",
        "soft": "柔和",
        "clear": "清晰",
    },
}
# Accents asked for that no voice here has: the closest (another English) is used, and said so.
OTHER_ACCENTS = {
    "en_AU": re.compile(r"\baustralian\b|\baussie\b|澳洲|澳大利亚", re.I),
    "en_IN": re.compile(r"\bindian\b|印度", re.I),
    "en_IE": re.compile(r"\birish\b|爱尔兰", re.I),
    "en_CA": re.compile(r"\bcanadian\b|加拿大", re.I),
}
_CATALOGUE = re.compile(
    r"^\s*/?voices\s*[?？!.。]*\s*$"
    r"|\b(?:list|show|which|what)\b(?:\s+\w+){0,3}\s+voices\b"
    r"|\bvoices?\s+(?:do you have|are there|are available|can i (?:use|choose|pick))"
    r"|(?:有哪些|有什么|有几种|列出|查看)(?:\S{0,4})(?:声音|配音员|音色)|声音列表|^\s*/?声音\s*$",
    re.I,
)


def same_voice(request: str) -> bool:
    return bool(_SAME.search(request))


def voice_trait(request: str) -> str | None:
    """The one quality asked of the voice ("warm"), if the message is about the voice."""
    if not _ABOUT_VOICE.search(request):
        return None
    found = [trait for trait, pattern in TRAITS.items() if pattern.search(request)]
    return found[0] if found else None


def other_accent(request: str) -> str | None:
    for accent, pattern in OTHER_ACCENTS.items():
        if pattern.search(request):
            return accent
    return None


def asks_for_catalogue(text: str) -> bool:
    """ "voices", "/voices", "which voices do you have?", "有哪些声音"."""
    return bool(_CATALOGUE.search(text))
