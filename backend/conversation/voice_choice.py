"""Choosing a voice from the catalogue for what the user asked, and saying so when we had to substitute.

Every installed voice is scored against the request: a voice of another language than the one asked
is the worst miss, then another gender, another accent, a missing trait ("warm"); staying with the
current voice, then its language, then the default breaks ties. The best voice is used; what it
misses of the request is said ("There is no Australian English voice installed, so I used Emma").
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.conversation.interpret import Intent
from backend.conversation.voice_phrases import TRAIT_WORDS
from backend.core.i18n import GENDER_WORDS, LANG_WORDS, t
from backend.core.types import Voice

DEFAULT_VOICE = "en_US-joe-medium"  # Joe: the default English (and male) voice


@dataclass
class Choice:
    voice: Voice
    wanted: str | None = None  # description of what was asked and is not installed


def _family(language: str) -> str:
    return language.split("_")[0]


def describe(voice: Voice, lang: str) -> str:
    """A few words about the voice, for people: its catalogue description, else gender and language."""
    text = voice.description_zh if lang == "zh" else voice.description
    if text:
        return text
    gender = GENDER_WORDS.get(lang, GENDER_WORDS["en"]).get(voice.gender, "")
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    language = words.get(voice.language) or words.get(_family(voice.language), voice.language)
    return f"{gender}, {language}" if gender else language


def _by_name(voices: list[Voice], name: str) -> Voice | None:
    wanted = name.lower()
    for v in voices:
        if v.name.lower() == wanted or v.id.lower() == wanted:
            return v
        if any(a.lower() == wanted for a in v.aliases):
            return v
    return None


def _misses(voice: Voice, intent: Intent) -> list[str]:
    """What of the request this voice does not have, worst first."""
    misses = []
    if intent.language and _family(voice.language) != intent.language:
        misses.append("language")
    if intent.gender and voice.gender != intent.gender:
        misses.append("gender")
    if intent.accent and voice.language != intent.accent:
        misses.append("accent")
    if intent.voice_trait and intent.voice_trait not in voice.traits:
        misses.append("trait")
    return misses


_WEIGHTS = {"language": 1000, "gender": 100, "accent": 10, "trait": 5}


def choose(voices: list[Voice], intent: Intent, current: str | None, lang: str) -> Choice:
    """The installed voice that best fits the request; the current one when nothing about voice was said."""
    by_id = {v.id: v for v in voices}
    fallback = by_id.get(current or "") or by_id.get(DEFAULT_VOICE) or voices[0]
    if intent.voice_name and (named := _by_name(voices, intent.voice_name)):
        return Choice(named)
    if intent.same_voice or not intent.changes_voice:
        return Choice(fallback)

    def score(v: Voice) -> tuple[int, bool, bool, bool, bool]:
        miss = sum(_WEIGHTS[m] for m in _misses(v, intent))
        if intent.voice_trait and v.id == fallback.id:
            miss += 1  # "a warmer voice" asks for another voice than this one
        return (
            miss,
            v.id != fallback.id,
            intent.language is None and v.language != fallback.language,
            intent.gender is None and v.gender != fallback.gender,
            v.id != DEFAULT_VOICE,
        )

    best = min(voices, key=score)
    misses = _misses(best, intent)
    if not misses:
        return Choice(best)
    return Choice(best, wanted=_wanted(intent, lang))


def _wanted(intent: Intent, lang: str) -> str:
    """The request in words: "warm female British English" / "温暖的英式英语女声"."""
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    language = words.get(intent.accent or "") or words.get(intent.language or "", "")
    gender = GENDER_WORDS.get(lang, GENDER_WORDS["en"]).get(intent.gender or "", "")
    trait = TRAIT_WORDS.get(lang, TRAIT_WORDS["en"]).get(intent.voice_trait or "", "")
    if lang == "zh":
        return (trait + "的" if trait else "") + language + (gender or "")
    return " ".join(p for p in (trait, gender, language) if p)


def for_script(
    voices: list[Voice], choice: Choice, script_lang: str | None, gender: str | None
) -> Choice | None:
    """The chosen voice if it can read the script; else an installed voice of the script's
    language (of the asked gender when there is one); None when no installed voice can.
    A script with no CJK (``script_lang`` None) read by a Chinese voice goes to an English one."""
    family = _family(choice.voice.language)
    if script_lang is None and family in ("zh", "ja", "ko"):
        script_lang = "en"
    if script_lang is None or family == script_lang:
        return choice
    able = [v for v in voices if _family(v.language) == script_lang]
    able.sort(key=lambda v: (v.gender != gender, v.id != DEFAULT_VOICE))
    return Choice(able[0]) if able else None


def voice_list(voices: list[Voice], lang: str) -> str:
    """The catalogue for people: one line per voice, how to pick one."""
    lines = []
    for v in voices:
        default = (" ·默认" if lang == "zh" else " · default") if v.id == DEFAULT_VOICE else ""
        name = f"{v.name}（{v.aliases[0]}）" if lang == "zh" and v.aliases else v.name
        lines.append(f"• {name} — {describe(v, lang)}{default}")
    return t("voice_list", lang, voices="\n".join(lines))


def spoken_languages(voices: list[Voice], lang: str) -> str:
    """The installed voices' languages, for people ("English" / "英文")."""
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    names = dict.fromkeys(words.get(_family(v.language), v.language) for v in voices)
    return ("、" if lang == "zh" else ", ").join(names)
