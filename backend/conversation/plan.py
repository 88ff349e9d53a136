"""Deciding a turn before any event is sent: what the message asks, which voice, what it costs,
and whether it may run at all (a script no voice reads: 4005; too few credits: 2001)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from backend.conversation.interpret import Intent, read_turn
from backend.conversation.voice_choice import Choice, choose, for_script, spoken_languages
from backend.core.errors import BAD_INPUT, NO_CREDITS, api_error
from backend.core.i18n import LANG_WORDS
from backend.core.types import SpeechResult
from backend.runtime.context import Backend
from backend.runtime.fair_pool import fair_pool
from backend.speech.script import overlong_word, script_language
from backend.speech.voiceover import estimate_ms
from backend.state.model import SessionState
from backend.state.records import Identity


@dataclass
class Turn:
    """One message's worth of work, decided before any event is sent."""

    sid: str
    lang: str
    ident: Identity
    intent: Intent
    choice: Choice
    speed: float
    synthesize: bool
    cost: int
    unreadable: str | None = None  # the script's language, when no installed voice reads it
    long_word: str | None = None  # a run of letters too long to read out, when the script has one
    invocation: str = field(default_factory=lambda: "inv_" + uuid.uuid4().hex[:12])


def credits_for(duration_ms: int, seconds_per_credit: int) -> int:
    return max(1, math.ceil(duration_ms / 1000 / seconds_per_credit))


def speech_charge(
    speech: SpeechResult, fresh_keys: set[str], seconds_per_credit: int
) -> tuple[int, int]:
    """(credits, cached sentences) of a synthesis for one identity: the length of the speech it
    had not voiced before (``fresh_keys``, from ``BackendStore.claim_voiced``), by duration, not
    by sentence count. What this identity voiced before is free (a pronunciation fix
    re-synthesizes one sentence; undoing a speed change none); what someone else voiced is not,
    and is not reported as cached either: the cache saves work, not other people's credits."""
    fresh_ms = cached = 0
    seen: set[str] = set()
    for key, ms in speech.clips:
        if key in fresh_keys and key not in seen:
            fresh_ms += ms
        else:
            cached += 1
        seen.add(key)
    return (credits_for(fresh_ms, seconds_per_credit) if fresh_ms else 0), cached


@dataclass
class SynthesisPace:
    """How long synthesis takes lately, per voice, so that speech another identity voiced before
    (served from the shared sentence cache) is not answered measurably faster than speech made
    now: that speed would tell a stranger that someone already voiced those words.

    ``observe`` keeps a moving average of seconds of synthesis per second of speech from turns
    that synthesized everything; ``pad`` is how long synthesizing the cache hits new to this
    identity would have taken. Speech synthesized now and speech the identity voiced itself
    before are not padded: the first costs its time already, and of the second it knows."""

    default_rtf: float = 0.1  # before any measurement (the design's target is under 0.15)
    rtf: dict[str, float] = field(default_factory=dict)
    provisional: set[str] = field(default_factory=set)  # voices measured once: with the load

    def observe(self, voice: str, seconds: float, speech: SpeechResult) -> None:
        """The first synthesis of a voice also loads its model (seconds, however short the
        script: a 1-sentence warm-up took over 3 s a second of speech, capped to 1, and the
        moving average then padded a cached 75-word turn 15% past its real synthesis two turns
        later): it is used only until the next measurement, which replaces it, not averaged."""
        if speech.cached or not speech.synthesized or speech.duration_ms <= 0:
            return
        measured = min(1.0, seconds / (speech.duration_ms / 1000))
        old = self.rtf.get(voice)
        if old is None:
            self.provisional.add(voice)
            self.rtf[voice] = measured
        elif voice in self.provisional:
            self.provisional.discard(voice)
            self.rtf[voice] = measured
        else:
            self.rtf[voice] = 0.7 * old + 0.3 * measured

    def pad(self, voice: str, speech: SpeechResult, fresh_keys: set[str]) -> float:
        """Seconds to wait: the share of this identity's new speech that came from the cache
        (which clips did is not kept, only how many: repeats within the script and clips the
        identity voiced before are the other hits), at the measured pace."""
        unique = dict(speech.clips)
        fresh_ms = [ms for key, ms in unique.items() if key in fresh_keys]
        repeats = len(speech.clips) - len(unique)
        own = len(unique) - len(fresh_ms)
        hits = min(len(fresh_ms), max(0, speech.cached - repeats - own))
        if not hits:
            return 0.0
        hit_ms = sum(fresh_ms) * hits / len(fresh_ms)
        return self.rtf.get(voice, self.default_rtf) * hit_ms / 1000


PACE = SynthesisPace()  # per process: what synthesis costs here and now


def plan(
    backend: Backend, sid: str, lang: str, ident: Identity, state: SessionState, intent: Intent
) -> Turn:
    choice = choose(backend.voices, intent, state.settings.voice, lang)
    speed = state.settings.speed
    if intent.speed is not None:
        speed = intent.speed
    elif intent.speed_change is not None:
        speed *= intent.speed_change
    speed = round(min(2.0, max(0.5, speed)), 3)
    script = intent.script or (state.script.text if state.script else None)
    has_voice = state.voiceover is not None
    wants = (
        intent.voiceover
        or intent.redo
        or (
            has_voice
            and (intent.changes_voice or intent.changes_speed or bool(intent.edits.pronunciations))
        )
    )
    synthesize = bool(wants and script and not intent.edits.undo)
    script_lang = script_language(script) if synthesize and script else None
    fitted = for_script(backend.voices, choice, script_lang, intent.gender)
    if fitted is not None:
        choice = fitted
    cost = (
        credits_for(estimate_ms(script or "", speed, lang), backend.settings.seconds_per_credit)
        if synthesize
        else 0
    )
    unreadable = script_lang if fitted is None else None
    long_word = overlong_word(script) if synthesize and script else None
    return Turn(
        sid, lang, ident, intent, choice, speed, synthesize, cost, unreadable, long_word=long_word
    )


async def plan_turn(
    backend: Backend,
    sid: str,
    lang: str,
    ident: Identity,
    state: SessionState,
    text: str,
    voice_names: list[str],
) -> Turn:
    """Read and plan one message on a parse thread, never on the event loop: both are linear in
    the text, but a script of 20,000 words still takes a moment that other requests should not
    wait for, and one identity's long messages must not queue ahead of another's (``FairPool``).
    A message too long to be a request is refused (4005) before it is read."""

    def work() -> Turn:
        intent = read_turn(text, voice_names, lang, backend.settings.max_script_words)
        return plan(backend, sid, lang, ident, state, intent)

    return await fair_pool().run(ident.id, work)


def check_turn(backend: Backend, turn: Turn, ident: Identity) -> None:
    """Refuse before any work: a script no installed voice reads (4005), too few credits (2001)."""
    lang = turn.lang
    if turn.synthesize and turn.long_word:
        word = turn.long_word
        raise api_error(BAD_INPUT, "word_too_long", lang, chars=len(word), start=word[:20])
    if turn.synthesize and turn.unreadable:
        raise api_error(
            BAD_INPUT,
            "no_voice_for_script",
            lang,
            language=LANG_WORDS.get(lang, LANG_WORDS["en"]).get(turn.unreadable, turn.unreadable),
            voices=spoken_languages(backend.voices, lang),
        )
    if turn.synthesize and ident.available < turn.cost:
        raise api_error(
            NO_CREDITS,
            "no_credits",
            lang,
            {"bind_id": ident.id, "need": turn.cost, "available": ident.available},
            need=turn.cost,
            available=ident.available,
        )
