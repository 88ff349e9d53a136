"""One turn of the conversation: run what was planned, edit the session's timeline, and put
Google-ADK-shaped events (``functionCall``/``functionResponse``/text) on a queue.

The turn runs as its own task (``backend.api.sse`` starts it and only reads the queue), so a client that
drops the stream does not cancel the work: the result still lands in the session state. Synthesis runs
on the TTS thread pool, never on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from typing import Any

from backend.conversation.apply_edits import apply_edits, forget_if_unchanged, label, remember, undo
from backend.conversation.plan import PACE, Turn, speech_charge
from backend.conversation.voice_choice import describe, voice_list
from backend.core.errors import BAD_INPUT, INTERNAL, NO_CREDITS, ApiError, api_error
from backend.core.i18n import t
from backend.core.types import SpeechResult
from backend.intake.files import check_script
from backend.protocol.summary import summary_or_empty
from backend.runtime import pipeline
from backend.runtime.context import Backend
from backend.runtime.locks import SessionLock
from backend.runtime.speech_job import synthesize
from backend.speech.voiceover import timing_notes
from backend.speech.wav import TTSError
from backend.state.draft import ASPECTS, burned_for_player
from backend.state.model import CaptionLine, Script, SessionState, Voiceover
from backend.state.records import MediaItem
from backend.state.sessions import media_path, refresh_draft

log = logging.getLogger(__name__)
AUTHOR = "nemo_agent"


def event(
    turn: Turn,
    parts: list[dict[str, Any]],
    *,
    partial: bool = False,
    done: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex[:16],
        "invocationId": turn.invocation,
        "author": AUTHOR,
        "timestamp": time.time(),
        "content": {"role": "model", "parts": parts},
        "partial": partial,
        "turnComplete": done,
        **extra,
    }


def call(name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    cid = "call_" + uuid.uuid4().hex[:10]
    return cid, {"functionCall": {"id": cid, "name": name, "args": args}}


def result(cid: str, name: str, response: dict[str, Any]) -> dict[str, Any]:
    return {"functionResponse": {"id": cid, "name": name, "response": response}}


async def execute(
    backend: Backend,
    turn: Turn,
    queue: asyncio.Queue[dict[str, Any] | None],
    lock: SessionLock,
) -> None:
    """Run the turn, then release the session lock `run_sse` took; always ends the stream."""
    try:
        await _execute(backend, turn, queue)
    except ApiError as exc:
        await queue.put(
            event(
                turn,
                [{"text": exc.message}],
                done=True,
                errorCode=str(exc.code),
                errorMessage=exc.message,
            )
        )
    except Exception:
        log.exception("turn %s failed", turn.invocation)
        msg = t("internal", turn.lang)
        await queue.put(
            event(turn, [{"text": msg}], done=True, errorCode=str(INTERNAL), errorMessage=msg)
        )
    finally:
        lock.release()
        await queue.put(None)


async def _execute(
    backend: Backend, turn: Turn, queue: asyncio.Queue[dict[str, Any] | None]
) -> None:
    store, intent, lang = backend.store, turn.intent, turn.lang
    found = await store.session(turn.sid)
    assert found is not None
    state = found[2]
    settings = state.settings
    replies: list[str] = []

    async def step(name: str, args: dict[str, Any], response: dict[str, Any]) -> None:
        cid, part = call(name, args)
        await queue.put(event(turn, [part]))
        await queue.put(event(turn, [result(cid, name, response)]))

    if intent.edits.undo:
        undone = undo(state)
        await refresh_draft(store, turn.sid, state)
        await store.save_state(turn.sid, state)
        if undone is None:
            reply = t("nothing_to_undo", lang)
        elif undone:
            reply = t("undone", lang, what=undone, summary=_summary(state, lang))
        else:
            reply = t("undone_plain", lang, summary=_summary(state, lang))
        await queue.put(event(turn, [{"text": reply}], done=True))
        return
    if intent.understood:
        remember(state)
    if intent.script:
        text = check_script(intent.script, "script", lang, backend.settings.max_script_words)
        state.script = Script(text=text, name="message", media_id=None)
    if intent.changes_voice or (turn.synthesize and settings.voice != turn.choice.voice.id):
        settings.voice = turn.choice.voice.id
        await step(
            "set_voice",
            {"gender": intent.gender, "language": intent.language, "name": intent.voice_name},
            {"voice": turn.choice.voice.id, "substituted": turn.choice.wanted is not None},
        )
    if turn.choice.wanted:
        replies.append(
            t(
                "voice_fallback",
                lang,
                want=turn.choice.wanted,
                voice=turn.choice.voice.name,
                desc=describe(turn.choice.voice, lang),
            )
        )
    if intent.changes_speed:
        settings.speed = turn.speed
        await step("set_speed", {"speed": turn.speed}, {"speed": turn.speed})
        if not turn.synthesize:
            replies.append(t("speed_set", lang, speed=turn.speed))
    if "speed_out_of_range" in intent.notes:
        replies.append(t("speed_range", lang))
    for note in (
        "title_time_unsupported",
        "voice_volume_unsupported",
        "resolution_unsupported",
        "title_too_long",
    ):
        if note in intent.notes:
            replies.append(t(note, lang))
    if intent.aspect:
        settings.aspect = intent.aspect
        w, h = ASPECTS[intent.aspect]
        await step("set_format", {"aspect": intent.aspect}, {"width": w, "height": h})
        replies.append(t("format_set", lang, aspect=intent.aspect, w=w, h=h))
    if intent.captions is not None:
        settings.captions = intent.captions
        replies.append(t("captions_on" if intent.captions else "captions_off", lang))
    if intent.burn_captions is not None:
        settings.burn_captions = intent.burn_captions
        replies.append(t("captions_burn" if intent.burn_captions else "captions_track", lang))
    replies += await apply_edits(store, turn.sid, state, intent.edits, lang, step)

    if turn.synthesize:
        replies.append(await _synthesize(backend, turn, state, queue))
    elif intent.voiceover or intent.redo:
        replies.append(t("no_script", lang))
    elif intent.list_voices and not intent.understood:
        replies.append(voice_list(backend.voices, lang))
    elif not intent.understood and not replies:  # a specific reply beats the general help
        replies.append(t("help", lang, voices=", ".join(v.name for v in backend.voices)))

    if intent.understood:
        label(state, " ".join(replies))
        forget_if_unchanged(state)
        await refresh_draft(store, turn.sid, state)
        if turn.synthesize and _soft_captions(state) and not settings.soft_hint_given:
            settings.soft_hint_given = True
            replies.append(t("captions_soft_hint", lang))
        placed: dict[str, Any] = {"summary": _summary(state, lang)}
        if burned_for_player(state) and not state.player_burn_told:
            state.player_burn_told = True  # the client says why, once (its player hides tracks)
            placed["captions_in_picture"] = "player"
        await step("place_on_timeline", {}, placed)
        await store.save_state(turn.sid, state)
    if (
        not turn.synthesize
        and state.voiceover is None
        and (intent.aspect or intent.captions is not None)
    ):
        replies.append(t("applies_next", lang))
    await queue.put(event(turn, [{"text": " ".join(replies)}] if replies else [], done=True))


def _soft_captions(state: SessionState) -> bool:
    """The draft's captions are a subtitle track (an uploaded video kept as it is)."""
    return any(
        seg.get("m", {}).get("role") == "caption" and not seg.get("m", {}).get("burn_in")
        for track in state.draft.get("t", [])
        for seg in track.get("sg", [])
    )


def _summary(state: SessionState, lang: str) -> str:
    return summary_or_empty(state.draft, lang)


async def _synthesize(
    backend: Backend, turn: Turn, state: SessionState, queue: asyncio.Queue[dict[str, Any] | None]
) -> str:
    """Freeze credits, synthesize on the pool with progress events, charge what it really cost."""
    assert state.script is not None  # a turn synthesizes only with a script (plan)
    lang, voice, script = turn.lang, turn.choice.voice, state.script.text
    if not await backend.store.freeze(turn.ident.id, turn.cost):
        ident = await backend.store.identity(turn.ident.id)
        available = ident.available if ident else 0
        raise api_error(
            NO_CREDITS,
            "no_credits",
            lang,
            {"bind_id": turn.ident.id},
            need=turn.cost,
            available=available,
        )
    cid, part = call(
        "synthesize_speech", {"voice": voice.id, "speed": turn.speed, "chars": len(script)}
    )
    await queue.put(event(turn, [part]))
    loop = asyncio.get_running_loop()

    def progress(done: int, total: int) -> None:
        loop.call_soon_threadsafe(
            queue.put_nowait,
            event(
                turn,
                [
                    result(
                        cid,
                        "synthesize_speech",
                        {"status": "running", "done": done, "total": total},
                    )
                ],
                partial=True,
            ),
        )

    media_id = "voi_" + uuid.uuid4().hex[:12]
    out = media_path(backend.settings.data_dir, turn.sid) / f"{media_id}.wav"
    out.parent.mkdir(parents=True, exist_ok=True)
    pron = state.settings.pronunciations or None
    charge, cached, finished = 0, 0, False
    tap = pipeline.start(backend, state, out)  # a script-only video: rendered as it is spoken
    started = loop.time()
    spent: list[float] = []

    async def timed(work: Awaitable[SpeechResult]) -> SpeechResult:
        """The synthesis alone sets the pace, not the pipeline's render tail after it (a cached
        turn has that tail too: padding it again would count it twice)."""
        try:
            return await work
        finally:
            spent.append(loop.time() - started)

    try:
        speech = await pipeline.synthesized(
            tap,
            timed(
                synthesize(  # the TTS pool, or a worker when a queue is set
                    backend,
                    f"speech_{turn.invocation}",
                    turn.ident.id,
                    script,
                    voice,
                    turn.speed,
                    out,
                    progress,
                    pron,
                    lang,
                    tap,
                )
            ),
        )
        fresh = await backend.store.claim_voiced(turn.ident.id, [k for k, _ms in speech.clips])
        PACE.observe(voice.id, spent[0], speech)
        await asyncio.sleep(PACE.pad(voice.id, speech, fresh))  # the cache tells no one
        charge, cached = speech_charge(speech, fresh, backend.settings.seconds_per_credit)
        finished = True
    except TTSError as exc:
        raise api_error(BAD_INPUT, "synth_failed", lang, reason=str(exc)) from exc
    finally:
        await backend.store.settle(turn.ident.id, turn.cost, charge)
        if not finished:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()
    await backend.objects.publish(out)  # renders on any worker read it
    await backend.store.add_media(
        MediaItem(
            media_id,
            turn.sid,
            "voiceover",
            f"Voiceover ({voice.name})",
            out,
            out.stat().st_size,
            "audio/wav",
            {"duration_ms": speech.duration_ms, "voice": voice.id, "speed": turn.speed},
        )
    )
    state.voiceover = Voiceover(
        media_id=media_id,
        voice=voice.id,
        voice_name=voice.name,
        language=voice.language,
        speed=turn.speed,
        duration_ms=speech.duration_ms,
        sentences=[
            CaptionLine(
                text=s.text,
                start_ms=s.start_ms,
                end_ms=s.end_ms,
                words=[(w.text, w.start_ms, w.end_ms) for w in s.words],
            )
            for s in speech.sentences
        ],
    )
    await queue.put(
        event(
            turn,
            [
                result(
                    cid,
                    "synthesize_speech",
                    {
                        "status": "done",
                        "duration_ms": speech.duration_ms,
                        "sentences": len(speech.sentences),
                        "cached": cached,
                        "credits": charge,
                    },
                )
            ],
        )
    )
    cid2, part2 = call("build_captions", {"style": "word-timed"})
    await queue.put(event(turn, [part2]))
    await queue.put(event(turn, [result(cid2, "build_captions", {"lines": len(speech.sentences)})]))
    video = await backend.store.media_item(turn.sid, state.video_id) if state.video_id else None
    video_ms = int(video.info.get("duration_ms", 0)) if video else None
    done = t(
        "voiceover_done",
        lang,
        seconds=speech.duration_ms / 1000,
        voice=voice.name,
        desc=describe(voice, lang),
        sentences=len(speech.sentences),
        plural="" if len(speech.sentences) == 1 else "s",
        pace=t("pace", lang, speed=turn.speed) if abs(turn.speed - 1.0) > 0.005 else "",
    )
    return " ".join([done, *timing_notes(speech, lang, video_ms)])
