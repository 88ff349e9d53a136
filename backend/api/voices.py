"""The voice catalogue as data, and one spoken sample per voice (``/voices`` in the chats).

``GET /api/voices`` lists the installed voices with a sample link each; ``GET
/api/voices/{voice_id}/sample`` answers the sample as MP3 (Telegram's ``sendAudio`` and Discord's
player both take it), synthesized at the first request and served from disk afterwards.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse

from backend.api import schemas as s
from backend.api.deps import CurrentIdentity, backend_of, request_lang
from backend.core.errors import NOT_FOUND, api_error, envelope
from backend.media.ffmpeg import run_ffmpeg
from backend.runtime.context import Backend
from backend.speech.samples import SAMPLE_MIME, SampleCache, sample_line

router = APIRouter(responses=s.ERRORS)


class VoiceInfo(BaseModel):
    id: str
    name: str
    language: str
    gender: str
    engine: str
    description: str
    sample_text: str
    sample_url: str


class VoiceCatalogue(BaseModel):
    voices: list[VoiceInfo]


def encode_mp3(wav: Path, out: Path) -> None:
    """Mono 44.1 kHz MP3 at about -16 LUFS, as loud as a voiceover's sound."""
    run_ffmpeg(
        [
            *("-i", str(wav), "-af", "loudnorm=I=-16:TP=-1.5:LRA=11", "-ar", "44100", "-ac", "1"),
            *("-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", str(out)),
        ],
        cwd=out.parent,
    )


def samples_of(request: Request, backend: Backend) -> SampleCache:
    """The process's sample cache, in ``<data dir>/voice-samples`` (made on first use)."""
    cache: SampleCache | None = getattr(request.app.state, "voice_samples", None)
    if cache is None:
        cache = SampleCache(backend.settings.data_dir / "voice-samples", backend.tts, encode_mp3)
        request.app.state.voice_samples = cache
    return cache


@router.get("/api/voices", response_model=s.Envelope[VoiceCatalogue], tags=["voices"])
async def voices(request: Request, _ident: CurrentIdentity) -> JSONResponse:
    """Every installed voice, described in the caller's language, with its sample's link."""
    backend = backend_of(request)
    zh = request_lang(request) == "zh"
    listed = [
        VoiceInfo(
            id=v.id,
            name=v.name,
            language=v.language,
            gender=v.gender,
            engine=v.engine,
            description=(v.description_zh if zh else v.description) or v.description,
            sample_text=sample_line(v),
            sample_url=f"/api/voices/{v.id}/sample",
        ).model_dump()
        for v in backend.voices
    ]
    return envelope({"voices": listed})


@router.get(
    "/api/voices/{voice_id}/sample",
    response_class=FileResponse,
    responses={200: {"content": {SAMPLE_MIME: {}}}},
    tags=["voices"],
)
async def voice_sample(request: Request, voice_id: str, _ident: CurrentIdentity) -> FileResponse:
    """The voice saying one line; ``X-Sample-Cached: 1`` when it came from disk."""
    backend = backend_of(request)
    voice = next((v for v in backend.voices if v.id == voice_id), None)
    if voice is None:
        raise api_error(NOT_FOUND, "voice_not_found", request_lang(request))
    cache = samples_of(request, backend)
    loop = asyncio.get_running_loop()
    path, made = await loop.run_in_executor(backend.tts_pool, cache.get, voice)
    return FileResponse(
        path,
        media_type=SAMPLE_MIME,
        filename=f"{voice.id}.mp3",
        headers={"X-Sample-Cached": "0" if made else "1"},
    )
