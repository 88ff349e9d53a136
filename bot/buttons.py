"""The buttons the engine offers, and their payloads (the text a press sends back as the user's).

The engine writes these payloads itself, in English, whatever the chat's language: so a press says
nothing about the language the person speaks, and `is_button_payload` lets the engine keep the
chat's stored language instead of guessing from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.messages import Button, Buttons
from bot.texts import t

EXPORT = "export"
SLOWER = "slower"
VERTICAL = "make it vertical"
_FIXED = frozenset({EXPORT, SLOWER, VERTICAL})
_VOICE = re.compile(r"use the [A-Za-z][A-Za-z ]{0,40} voice")


def voice_payload(name: str) -> str:
    """What pressing a voice button asks the agent ("use the Joe voice")."""
    return f"use the {name} voice"


def is_button_payload(text: str) -> bool:
    """True when `text` is exactly what one of the engine's buttons sends."""
    stripped = text.strip()
    return stripped in _FIXED or bool(_VOICE.fullmatch(stripped))


def next_steps(lang: str) -> Buttons:
    """Offered after a turn that produced something."""
    return Buttons(
        t("next_steps", lang),
        (
            Button(t("button_export", lang), EXPORT),
            Button(t("button_slower", lang), SLOWER),
            Button(t("button_vertical", lang), VERTICAL),
        ),
    )


def voice_buttons(names: Iterable[str], lang: str) -> Buttons:
    return Buttons(t("pick_voice", lang), tuple(Button(n, voice_payload(n)) for n in names))


def voice_name(voice_id: str) -> str:
    """A Piper id's speaker name ("en_US-joe-medium" -> "Joe"), which the agent matches."""
    parts = voice_id.split("-")
    return (parts[1] if len(parts) > 1 else voice_id).replace("_", " ").title()


def voice_names(voice_ids: Iterable[str]) -> list[str]:
    """The speakers' names, each once, in the order of the ids."""
    return list(dict.fromkeys(voice_name(v) for v in voice_ids))
