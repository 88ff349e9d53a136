"""Telegram webhook mode: Starlette + uvicorn receive the updates (python-telegram-bot's own webhook
server needs tornado, which the project does not install), checked against the secret header.

Every POST must carry the secret token: TELEGRAM_WEBHOOK_SECRET, or, when that is not set, a random
one generated for this run and handed to Telegram with `setWebhook` (it is never logged).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update

from bot.redact import register_secret
from bot.settings import Settings

log = logging.getLogger(__name__)


async def start_webhook(app: Any, settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve Telegram's webhook POSTs and register the URL; returns the server and its task."""
    url = settings.telegram_webhook_url or ""
    secret = settings.telegram_webhook_secret
    if not secret:
        # Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -: token_urlsafe stays inside.
        secret = secrets.token_urlsafe(32)
        log.warning(
            "TELEGRAM_WEBHOOK_SECRET is not set: generated a random webhook secret for this run"
        )
    register_secret(secret)

    async def receive(request: Request) -> Response:
        header = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not secrets.compare_digest(header.encode(), secret.encode()):
            return Response(status_code=403)
        update = Update.de_json(await request.json(), app.bot)
        await app.update_queue.put(update)
        return Response()

    path = urlsplit(url).path or "/"
    web = Starlette(routes=[Route(path, receive, methods=["POST"])])
    config = uvicorn.Config(
        web,
        host=settings.telegram_webhook_listen,
        port=int(settings.telegram_webhook_port),
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await app.bot.set_webhook(
        url, secret_token=secret, allowed_updates=["message", "callback_query"]
    )
    return server, task
