"""The ASGI app: a lifespan that opens the store, the pools and the job runner, then the routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from backend.api import routes, sse, webupload
from backend.core.errors import BAD_REQUEST, INTERNAL, NOT_FOUND, ApiError, envelope, error_response
from backend.core.i18n import t
from backend.core.settings import BackendSettings
from backend.intake.safe_http import url_client
from backend.media import fonts
from backend.runtime.context import Backend
from backend.runtime.jobs import JobRunner
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from backend.state.store import BackendStore

log = logging.getLogger(__name__)


def sweep_leftovers(data_dir: Path) -> int:
    """Remove what a killed process leaves behind: uploads cut off (``*.part``) and half-written
    files (``.*.tmp``: TTS cache entries, voiceovers). Nothing of the kind is in use at start."""
    removed = 0
    for pattern in ("*.part", ".*.tmp"):
        for path in data_dir.rglob(pattern):
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def create_app(settings: BackendSettings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.secret()
        fonts.configure(settings.extra_font_dirs())
        if not fonts.cjk_font_available():
            log.info(
                "no CJK font found: Chinese/Japanese/Korean captions need one (VOBACKEND_FONT_DIRS)"
            )
        store = await BackendStore.open(settings.data_dir / "backend.sqlite3")
        released = await store.release_all_frozen()  # no turn survives a restart
        swept = sweep_leftovers(settings.data_dir)
        if released or swept:
            log.info(
                "start: released %d stranded credit freeze(s), removed %d partial file(s)",
                released,
                swept,
            )
        render_pool = ThreadPoolExecutor(
            max_workers=settings.render_workers, thread_name_prefix="render"
        )
        tts_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        voices = discover_voices(settings.data_dir / "voices")
        runner = JobRunner(store, settings, render_pool)
        async with url_client(settings.url_timeout_seconds, settings.allow_private_urls) as http:
            app.state.backend = Backend(
                settings=settings,
                store=store,
                runner=runner,
                voices=voices,
                http=http,
                tts_pool=tts_pool,
                tts=TTSEngine(settings.data_dir / "tts-cache"),
            )
            app.state.turns = set()
            resumed = await runner.resume()
            log.info(
                "backend ready on %s with voices %s (%d renders resumed)",
                settings.base_url,
                ", ".join(v.id for v in voices),
                resumed,
            )
            try:
                yield
            finally:
                await runner.shutdown()
                turns = list(app.state.turns)
                for task in turns:
                    task.cancel()
                # Cancelled turns release their credit freeze and remove their partial audio.
                await asyncio.gather(*turns, return_exceptions=True)
                render_pool.shutdown(wait=False, cancel_futures=True)
                tts_pool.shutdown(wait=False, cancel_futures=True)
                await store.close()

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = NOT_FOUND if exc.status_code == 404 else BAD_REQUEST
        return envelope({}, code, str(exc.detail))

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return envelope({}, INTERNAL, t("internal"))

    return Starlette(
        routes=[
            *routes.routes,
            *webupload.routes,
            Route("/run_sse", sse.run_sse, methods=["POST"]),
        ],
        lifespan=lifespan,
        exception_handlers={
            ApiError: on_api_error,
            HTTPException: on_http_error,
            Exception: on_crash,
        },
    )
