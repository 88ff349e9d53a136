"""Telegram webhook mode: Starlette + uvicorn receive the updates (python-telegram-bot's own webhook
server needs tornado, which the project does not install), checked against the secret header.

Every POST must carry the secret token: TELEGRAM_WEBHOOK_SECRET, or, when that is not set, one
derived from the bot token and handed to Telegram with `setWebhook` (it is never logged). Derived,
not random: replicas behind a load balancer all call `setWebhook` at start, and Telegram keeps one
webhook per bot with the last secret, so a random secret each would shut out all but the last.

Telegram sends an update again when it got no 2xx for it (a timeout, a load balancer's 502), maybe
to another replica: each update id is claimed in the chat store first, and a redelivery is only
acknowledged. The answer is sent before the update is handled (a turn can outlast Telegram's wait).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
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

Claim = Callable[[int], Awaitable[bool]]


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, else one every replica of this bot derives alike (hex: inside
    Telegram's 1-256 characters of A-Z, a-z, 0-9, _ and -)."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    log.info(
        "TELEGRAM_WEBHOOK_SECRET is not set: using a webhook secret derived from the bot token"
    )
    token = (settings.telegram_bot_token or "").encode()
    return hmac.new(token, b"voiceover telegram webhook", hashlib.sha256).hexdigest()


async def start_webhook(
    app: Any, settings: Settings, claim: Claim | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """Serve Telegram's webhook POSTs and register the URL; returns the server and its task.
    `claim(update_id)` is False for an update some replica has already taken."""
    url = settings.telegram_webhook_url or ""
    secret = webhook_secret(settings)
    register_secret(secret)

    async def receive(request: Request) -> Response:
        header = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not secrets.compare_digest(header.encode(), secret.encode()):
            return Response(status_code=403)
        update = Update.de_json(await request.json(), app.bot)
        if claim is not None and not await claim(update.update_id):
            log.info("update %d was delivered again; already taken", update.update_id)
            return Response()
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
