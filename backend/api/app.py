"""The ASGI app: a lifespan that opens the store, the pools and the job runner, then the routes."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from backend.api import direct_upload, routes, schemas, sse, voices, webupload
from backend.api.deps import request_lang
from backend.core.errors import (
    BAD_REQUEST,
    INTERNAL,
    NOT_FOUND,
    ApiError,
    api_error,
    envelope,
    error_response,
)
from backend.core.i18n import t
from backend.core.settings import BackendSettings
from backend.intake.safe_http import url_client
from backend.media import fonts
from backend.objects import open_objects
from backend.runtime.context import Backend
from backend.runtime.jobs import JobRunner
from backend.runtime.queue import open_queue
from backend.speech.catalog import discover_voices
from backend.speech.tts import TTSEngine
from backend.state.factory import open_store

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


def keep_temp_files_inside(data_dir: Path) -> Path:
    """Point this process's temporary files (TMPDIR, Python's tempfile) at ``data_dir/tmp``.

    onnxruntime (Piper's runtime) writes its telemetry session file ``.ses`` to TMPDIR when it is
    first imported, which happens at the first synthesis: without this it landed in /tmp, outside
    the data dir. Emptied at every start, like the other leftovers.
    """
    tmp = data_dir / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = None  # re-read from TMPDIR on next use
    if "onnxruntime" in sys.modules:
        log.warning("onnxruntime was imported before the data dir was set: its .ses is in /tmp")
    return tmp


def create_app(settings: BackendSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keep_temp_files_inside(settings.data_dir)
        settings.secret()
        fonts.configure(settings.extra_font_dirs())
        if not fonts.cjk_font_available():
            log.info(
                "no CJK font found: Chinese/Japanese/Korean captions need one (VOBACKEND_FONT_DIRS)"
            )
        store = await open_store(settings)  # PostgreSQL in a cluster, else SQLite
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
        async with (
            url_client(settings.url_timeout_seconds, settings.allow_private_urls) as http,
            open_objects(settings) as objects,
        ):
            work_queue = await open_queue(settings)  # None: renders run in this process
            runner = JobRunner(store, settings, render_pool, work_queue, objects=objects)
            app.state.backend = Backend(
                settings=settings,
                store=store,
                runner=runner,
                voices=voices,
                http=http,
                tts_pool=tts_pool,
                objects=objects,
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
                if work_queue is not None:
                    await work_queue.close()
                await store.close()

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = NOT_FOUND if exc.status_code == 404 else BAD_REQUEST
        return envelope({}, code, str(exc.detail))

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        reason = routes.validation_reason(exc)
        return error_response(
            api_error(BAD_REQUEST, "bad_request", request_lang(request), reason=reason)
        )

    async def on_gone(request: Request, exc: Exception) -> JSONResponse:
        """The client hung up before its body was read (nobody gets this reply): not our error."""
        log.info("client disconnected before its request to %s was read", request.url.path)
        reason = "the client disconnected before sending the whole request"
        return error_response(
            api_error(BAD_REQUEST, "bad_request", request_lang(request), reason=reason)
        )

    async def on_crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return envelope({}, INTERNAL, t("internal"))

    app = FastAPI(
        title="Voiceover backend",
        version="1",
        summary="The self-hosted voiceover service of docs/PROTOCOL.md.",
        description=(
            "Every JSON reply is the envelope `{code, message, data}`; the HTTP status mirrors "
            "`code`. Streaming uploads and the capped JSON reader (1 MB, 64 levels) read bodies "
            "themselves: their schemas are declared here, not enforced by FastAPI."
        ),
        lifespan=lifespan,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        exception_handlers={
            ApiError: on_api_error,
            RequestValidationError: on_invalid,
            HTTPException: on_http_error,
            ClientDisconnect: on_gone,
            Exception: on_crash,
        },
    )
    app.include_router(routes.router)
    app.include_router(webupload.router)
    app.include_router(direct_upload.router)
    app.include_router(sse.router)
    app.include_router(voices.router)

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the request-body models the routes validate themselves."""
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            found = doc.setdefault("components", {}).setdefault("schemas", {})
            found.update(schemas.components())
            # FastAPI's 422 body never goes out: a request that does not fit is the 4000 envelope.
            for ops in doc.get("paths", {}).values():
                for op in ops.values():
                    op.get("responses", {}).pop("422", None)
            found.pop("HTTPValidationError", None)
            found.pop("ValidationError", None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
