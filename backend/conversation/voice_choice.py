"""Choosing a voice from the catalogue for what the user asked, and saying so when we had to substitute."""

from __future__ import annotations

from dataclasses import dataclass

from backend.conversation.interpret import Intent
from backend.core.i18n import GENDER_WORDS, LANG_WORDS
from backend.core.types import Voice

DEFAULT_VOICE = "en_US-joe-medium"


@dataclass
class Choice:
    voice: Voice
    wanted: str | None = None  # description of what was asked and is not installed


def describe(voice: Voice, lang: str) -> str:
    gender = GENDER_WORDS.get(lang, GENDER_WORDS["en"]).get(voice.gender, "")
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    language = words.get(voice.language) or words.get(voice.language.split("_")[0], voice.language)
    return f"{gender}, {language}" if gender else language


def choose(voices: list[Voice], intent: Intent, current: str | None, lang: str) -> Choice:
    """The installed voice that best fits the request; the current one when nothing about voice was said."""
    by_id = {v.id: v for v in voices}
    fallback = by_id.get(current or "") or by_id.get(DEFAULT_VOICE) or voices[0]
    if intent.voice_name:
        for v in voices:
            if v.name.lower() == intent.voice_name.lower():
                return Choice(v)
    if not intent.changes_voice:
        return Choice(fallback)
    candidates = voices
    if intent.accent:
        candidates = [v for v in candidates if v.language == intent.accent]
    elif intent.language:
        candidates = [v for v in candidates if v.language.split("_")[0] == intent.language]
    if intent.gender:
        candidates = [v for v in candidates if v.gender == intent.gender]
    if candidates:
        keep = [v for v in candidates if v.id == fallback.id]
        return Choice(keep[0] if keep else candidates[0])
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    parts = []
    if intent.gender:
        parts.append(GENDER_WORDS.get(lang, GENDER_WORDS["en"])[intent.gender])
    if intent.accent or intent.language:
        parts.append(words.get(intent.accent or intent.language or "", intent.language or ""))
    return Choice(fallback, wanted=" ".join(parts) if lang == "en" else "".join(reversed(parts)))


def for_script(
    voices: list[Voice], choice: Choice, script_lang: str | None, gender: str | None
) -> Choice | None:
    """The chosen voice if it can read the script; else an installed voice of the script's
    language (of the asked gender when there is one); None when no installed voice can."""
    if script_lang is None or choice.voice.language.split("_")[0] == script_lang:
        return choice
    able = [v for v in voices if v.language.split("_")[0] == script_lang]
    able.sort(key=lambda v: v.gender != gender)
    return Choice(able[0]) if able else None


def spoken_languages(voices: list[Voice], lang: str) -> str:
    """The installed voices' languages, for people ("English" / "英文")."""
    words = LANG_WORDS.get(lang, LANG_WORDS["en"])
    names = dict.fromkeys(words.get(v.language.split("_")[0], v.language) for v in voices)
    return ("、" if lang == "zh" else ", ").join(names)
