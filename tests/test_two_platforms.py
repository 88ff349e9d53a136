"""Telegram and Discord in one process, as `python -m bot` runs them with both tokens set.

Boundary: `bot.__main__._platform_adapter` runs the REAL adapters' `serve()` side by side on one
engine: python-telegram-bot long-polls the Bot API stand-in (tests/support/botapi.py) and discord.py
logs in to the REST stand-in and connects to the gateway stand-in (tests/support/discordapi.py,
`discord.http.Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY` point at it). Nothing is called
directly: each platform's message comes in the way the platform delivers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
import yarl
from discord.gateway import DiscordWebSocket

from bot.__main__ import _platform_adapter
from tests.support import discordapi as d
from tests.support.botapi import TOKEN, BotApiStandIn
from tests.support.standin import StandIn, engine_harness

ANN = {"id": 501, "is_bot": False, "first_name": "Ann", "username": "ann"}
PRIVATE = {"id": 501, "type": "private", "first_name": "Ann", "username": "ann"}


@pytest.fixture
def botapi() -> Iterator[BotApiStandIn]:
    server = BotApiStandIn().start()
    yield server
    server.stop()


@pytest_asyncio.fixture(loop_scope="function")
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[d.DiscordStandIn]:
    server = await d.DiscordStandIn().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
    yield server
    await server.stop()


async def until(cond: Callable[[], bool], limit: float = 30) -> None:
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 - the condition lives in the stand-ins
            await asyncio.sleep(0.05)


def discord_said(api: d.DiscordStandIn, fragment: str) -> list[d.Call]:
    return [c for c in api.api_calls() if c.ok and c.path.endswith(fragment) and c.content]


async def test_telegram_and_discord_in_one_process(
    botapi: BotApiStandIn, discord_api: d.DiscordStandIn, standin: StandIn, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": botapi.base_url,
        "telegram_file_base_url": botapi.base_file_url,
        "discord_bot_token": "discord-token-not-real",
        "discord_guild_id": d.GUILD_ID,
    }
    async with engine_harness(standin.base_url, tmp_path, **settings) as (engine, _console):
        running = asyncio.create_task(_platform_adapter(engine.settings, engine))
        try:
            async with asyncio.timeout(30):
                await discord_api.identified.wait()
            identify = discord_api.identify or {}
            assert identify.get("token") == "discord-token-not-real"
            # one message on each platform, the way each delivers it
            botapi.push_message(PRIVATE, ANN, "/credits")
            await discord_api.gateway_dispatch(
                "INTERACTION_CREATE", d.slash_payload("credits", token="gw")
            )
            answered = "/gw/messages/@original"
            await until(
                lambda: any(c.content.startswith("💳") for c in discord_said(discord_api, answered))
            )
            await discord_api.gateway_dispatch(
                "MESSAGE_CREATE",
                d.message_payload(f"<@{d.BOT_ID}> /status", mentions=[d.BOT_USER]),
            )
            await until(lambda: any(c.text.startswith("💳") for c in botapi.sent("sendMessage")))
            await until(
                lambda: bool(discord_said(discord_api, f"/channels/{d.CHANNEL_ID}/messages"))
            )
            assert not running.done()
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
    [status] = discord_said(discord_api, f"/channels/{d.CHANNEL_ID}/messages")
    assert status.json["message_reference"]["channel_id"] == d.CHANNEL_ID  # a reply to it
    assert status.content.startswith("📋")
    assert discord_api.find("PUT", f"/guilds/{d.GUILD_ID}/commands")
    assert discord_api.compression == "zlib-stream"  # what discord.py asked for, and got
