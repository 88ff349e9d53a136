"""Discord with one gateway connection per shard (issue 14): two bot replicas, each a real discord.py
client started by the adapter's `serve` from DISCORD_SHARD_ID / DISCORD_SHARD_COUNT, on one
PostgreSQL chat store, against the Discord stand-in, which routes a guild's events only to shard
(guild_id >> 22) % shard_count and acknowledges an interaction once, as Discord does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio
import yarl
from discord.gateway import DiscordWebSocket
from pydantic import ValidationError

from adapters.discord_bot import serve
from bot.settings import Settings
from tests.support import discordapi as d
from tests.support.services import Services
from tests.support.standin import StandIn, engine_harness

OTHER_GUILD = d.GUILD_ID + (1 << 22)  # the next shard of two
OTHER_CHANNEL = d.CHANNEL_ID + 100


@pytest_asyncio.fixture(loop_scope="function")
async def discord_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[d.DiscordStandIn]:
    server = await d.DiscordStandIn().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(server.gateway_url))
    yield server
    await server.stop()


async def until(cond: Callable[[], bool], limit: float = 30) -> None:
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 - the condition lives in the stand-in
            await asyncio.sleep(0.05)


def answered(api: d.DiscordStandIn, token: str) -> list[d.Call]:
    return [c for c in api.api_calls() if c.ok and f"/{token}/messages/@original" in c.path]


async def test_each_shard_identifies_and_gets_only_its_guilds(
    discord_api: d.DiscordStandIn, standin: StandIn, services: Services, tmp_path: Path
) -> None:
    assert d.shard_of(d.GUILD_ID, 2) != d.shard_of(OTHER_GUILD, 2)
    discord_api.guilds[OTHER_GUILD] = OTHER_CHANNEL
    db = services.database("shards_" + uuid.uuid4().hex[:10])
    settings: dict[str, Any] = {
        "discord_bot_token": "discord-token-not-real",
        "discord_guild_id": d.GUILD_ID,
        "discord_shard_count": 2,
        "database_url": db,
    }
    async with AsyncExitStack() as stack:
        running = []
        for shard in (0, 1):
            engine, _console = await stack.enter_async_context(
                engine_harness(
                    standin.base_url, tmp_path / str(shard), discord_shard_id=shard, **settings
                )
            )
            running.append(asyncio.create_task(serve(engine, engine.settings)))
        try:
            await until(lambda: len(discord_api.identifies) == 2)
            by_shard = {tuple(sock.shard or ()): sock for sock in discord_api.sockets}
            assert sorted(by_shard) == [(0, 2), (1, 2)]
            assert sorted(i["shard"] for i in discord_api.identifies) == [[0, 2], [1, 2]]
            mine = d.shard_of(d.GUILD_ID, 2)
            # a /credits in each guild, through the gateway: its shard answers it, once
            await discord_api.gateway_dispatch(
                "INTERACTION_CREATE", d.slash_payload("credits", token="tok-main")
            )
            await discord_api.gateway_dispatch(
                "INTERACTION_CREATE",
                d.slash_payload(
                    "credits", token="tok-other", guild_id=OTHER_GUILD, channel_id=OTHER_CHANNEL
                ),
            )
            await until(lambda: bool(answered(discord_api, "tok-main")))
            await until(lambda: bool(answered(discord_api, "tok-other")))
            assert all(not t.done() for t in running)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
    events = {shard: sock.events for shard, sock in by_shard.items()}
    assert ("GUILD_CREATE", d.GUILD_ID) in events[(mine, 2)]
    assert ("GUILD_CREATE", OTHER_GUILD) in events[(1 - mine, 2)]
    assert [g for e, g in events[(mine, 2)] if e == "INTERACTION_CREATE"] == [d.GUILD_ID]
    assert [g for e, g in events[(1 - mine, 2)] if e == "INTERACTION_CREATE"] == [OTHER_GUILD]
    callbacks = [c for c in discord_api.api_calls() if c.path.endswith("/callback")]
    assert len(callbacks) == 2 and all(c.ok for c in callbacks)  # one each, none refused
    assert all(
        c.content.startswith("💳")
        for t in ("tok-main", "tok-other")
        for c in answered(discord_api, t)
    )
    # the commands belong to the application: only shard 0 syncs them
    assert len(discord_api.find("PUT", f"/guilds/{d.GUILD_ID}/commands")) == 1


def test_shard_settings_come_together_and_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_ID", "1")
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    settings = Settings.from_env()
    assert (settings.discord_shard_id, settings.discord_shard_count) == (1, 4)
    monkeypatch.delenv("DISCORD_SHARD_ID")
    monkeypatch.delenv("DISCORD_SHARD_COUNT")
    assert Settings().discord_shard_id is None  # unsharded by default
    with pytest.raises(ValidationError):
        Settings(discord_shard_id=1)
    with pytest.raises(ValidationError):
        Settings(discord_shard_id=4, discord_shard_count=4)
