"""A turn's speech synthesis: on this process's TTS pool (embedded), or as a queue job (issue 14).

With a work queue the API replica does not load any TTS model: a worker synthesizes, publishes the
WAV to the object store and returns the timing; progress comes back through the queue job, so the
turn's events look the same either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from backend.core.types import SpeechResult, Voice
from backend.runtime.context import Backend
from backend.runtime.queue import QueueError, speech_from_dict
from backend.speech.voiceover import speak
from backend.speech.wav import SpeechTap, TTSError


async def synthesize(
    backend: Backend,
    key: str,
    identity_id: str,
    script: str,
    voice: Voice,
    speed: float,
    out: Path,
    progress: Callable[[int, int], None],
    pronunciations: dict[str, str] | None,
    lang: str,
    tap: SpeechTap | None = None,
) -> SpeechResult:
    """The voiceover of ``script`` at ``out``; TTSError when the text cannot be spoken.
    Embedded, the speech also goes to `tap` as it is written (backend.runtime.pipeline)."""
    queue = backend.runner.queue
    if queue is None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            backend.tts_pool,
            lambda: speak(
                backend.tts, script, voice, speed, out, progress, pronunciations, lang, tap
            ),
        )

    async def on_progress(done: int, total: int) -> None:
        progress(done, total)

    kwargs = {
        "script": script,
        "voice": voice.id,
        "speed": speed,
        "out": backend.objects.key(out),
        "pron": pronunciations,
        "lang": lang,
    }
    try:
        data = await queue.synthesize(key, identity_id, kwargs, on_progress)
    except QueueError as exc:
        raise RuntimeError(f"speech job {key} failed") from exc  # a traceback: logs only
    if "refused" in data:
        raise TTSError(str(data["refused"]))
    speech = speech_from_dict(data, backend.settings.data_dir)
    await backend.objects.ensure_local(speech.path)
    return speech
