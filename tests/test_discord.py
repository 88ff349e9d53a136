"""Discord adapter: the real discord.py client, offline.

Boundary: discord.py's HTTP layer is pointed at `tests.support.discordapi.DiscordStandIn` (a local
stand-in of Discord's REST API on 127.0.0.1) by setting `discord.http.Route.BASE`; interactions enter
through `ConnectionState.parse_interaction_create`, the gateway's own entry point, from typed payloads.
The engine behind it is real; the backend is the stand-in (fast, scriptable) or the REAL backend.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
import pytest_asyncio

from adapters.discord_bot import VoiceoverBot, safe_filename
from bot.__main__ import EXAMPLE_SCRIPT
from bot.engine import Engine
from tests.support import discordapi as d
from tests.support.backend import BackendProcess
from tests.support.standin import engine_harness

PROMPT = "generate a natural male voiceover in English for my script"
OLD = time.time() - 16 * 60  # an interaction whose 15-minute token has run out


@pytest_asyncio.fixture(loop_scope="function")  # the server runs in the test's own loop
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[d.DiscordStandIn]:
    server = await d.DiscordStandIn().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    yield server
    await server.stop()


async def start_bot(engine: Engine, **kw: Any) -> VoiceoverBot:
    bot = VoiceoverBot(engine, guild_id=d.GUILD_ID, **kw)
    await bot.login("test-token-not-real")  # GET /users/@me, application info, setup_hook
    return bot


async def dispatch(bot: VoiceoverBot, payload: dict[str, Any]) -> None:
    """Hand one interaction to the client as the gateway would, and wait until it is answered."""
    before = bot.started
    bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await answered(bot, before)


async def answered(bot: VoiceoverBot, before: int) -> None:
    """Wait until the client has taken on a new event and finished every one it holds."""
    deadline = time.monotonic() + 5
    while bot.started == before:
        assert time.monotonic() < deadline, "the event was never handled"
        await asyncio.sleep(0.005)
    async with asyncio.timeout(120):
        await bot.wait_idle()


def script_attachment(api: d.DiscordStandIn, data: bytes, name: str = "script.txt") -> Any:
    url = api.add_file(name, data)
    return d.attachment_payload(d.snowflake(seq=3), name, url, len(data), "text/plain")


def since(api: d.DiscordStandIn, start: int) -> list[d.Call]:
    return api.calls[start:]


def join_guild(bot: VoiceoverBot) -> None:
    """The guild and its channel in the client's cache, as GUILD_CREATE puts them at start-up."""
    guild = d.guild_payload()
    guild["channels"] = [d.channel_payload(d.CHANNEL_ID)]
    bot._connection.parse_guild_create(guild)  # type: ignore[arg-type]


def api_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(headers={"Authorization": "Bot test-token-not-real"})


async def interrupted_render(
    api: d.DiscordStandIn, standin: Any, engine: Engine, **kw: Any
) -> None:
    """A render started by /export, then the process dies mid-render (its handlers cancelled)."""
    standin.behaviour.render_polls = 10_000  # the render runs until the "restart"
    first = await start_bot(engine)
    first._connection.parse_interaction_create(d.slash_payload("export", **kw))  # type: ignore[arg-type]
    async with asyncio.timeout(10):
        while not await engine.store.in_flight_jobs():  # noqa: ASYNC110 - stored by the bot
            await asyncio.sleep(0.02)
    for task in list(first._active):
        task.cancel()
    await asyncio.gather(*first._active, return_exceptions=True)
    await first.close()
    standin.behaviour.render_polls = 0


def shown(content: str) -> str:
    """What Discord shows for message content: Markdown escapes removed."""
    return re.sub(r"\\(.)", r"\1", content)


async def test_commands_synced_to_the_guild(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        await bot.close()
    [sync] = api.find("PUT", f"/guilds/{d.GUILD_ID}/commands")
    names = {c["name"] for c in sync.json}
    assert {"voiceover", "export", "status", "credits", "new", "voice"} <= names
    voiceover = next(c for c in sync.json if c["name"] == "voiceover")
    types = {o["name"]: o["type"] for o in voiceover["options"]}
    assert types == {"prompt": 3, "script": 11, "video": 11, "music": 11}  # 11: attachment


async def test_voiceover_defers_first_then_edits_original(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    standin.behaviour.event_delay = 0.3  # slow agent: deferral must not wait for it
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        att = script_attachment(api, EXAMPLE_SCRIPT.read_bytes())
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": PROMPT}, {"script": att}))
        await bot.close()
    calls = since(api, start)
    first = calls[0]
    assert first.method == "POST" and first.path.endswith("/itoken/callback")
    assert first.json == {"type": 5}  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE ("thinking")
    cdn = [i for i, c in enumerate(calls) if c.path.startswith("/cdn/")]
    assert cdn and cdn[0] > 0  # the attachment is fetched only after the deferral
    originals = [c for c in calls if c.method == "PATCH" and c.path.endswith("/@original")]
    contents = [c.content for c in originals]
    assert len(originals) >= 2 and contents[0].startswith("📤 Uploading script.txt")
    assert "Got your script" in contents[-1]
    # the agent's progress line and answer are follow-ups on the same interaction token
    followups = [c for c in calls if c.method == "POST" and c.path.endswith("/itoken")]
    assert any("voiceover is ready" in c.content for c in followups)
    buttons = [c for c in followups if c.json.get("components")]
    ids = [b["custom_id"] for b in buttons[-1].json["components"][0]["components"]]
    assert ids == ["vo:cmd:export", "vo:cmd:slower", "vo:cmd:make it vertical"]


async def test_mentions_never_ping_everyone_or_roles(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    standin.behaviour.sse_text = "You said: @everyone <@&1234> @here, noted."  # echoed user text
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": "@everyone <@&1234> make it"}))
        await bot.close()
    sent = [c for c in since(api, start) if c.method in ("POST", "PATCH") and c.json]
    messages = [c for c in sent if "callback" not in c.path]
    assert any("@everyone" in c.content for c in messages)
    for call in messages:
        assert call.allowed_mentions == {"parse": []}, call


async def test_user_text_is_markdown_escaped(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Titles, file names and echoed words show as typed: no bold, no masked links."""
    title = "**Big** [click](http://evil.example) and [more](http://evil.example/2)"
    standin.behaviour.sse_text = f'Added the title "{title}".'
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        att = script_attachment(api, b"Meet Lumen, the desk lamp.", "__x__[y](http://e.x).txt")
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": "use it"}, {"script": att}))
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": f"add the title {title}"}))
        await bot.close()
    contents = [c.content for c in since(api, start) if c.content]
    echo = next(c for c in contents if "Added the title" in c)
    assert (
        r"\*\*Big\*\* \[click](http://evil.example) and \[more](http://evil.example/2)" in echo
    ), echo
    assert title in shown(echo)  # what the user reads: the characters they typed
    name = next(c for c in contents if "Uploading" in c)
    assert r"\_\_x\_\_\[y](http://e.x).txt" in name, name
    assert not any("**Big**" in c or "[click]" in c.replace(r"\[", "") for c in contents)
    # the engine's own texts read as before
    assert any(c.startswith("📤 Uploading") for c in contents), contents


async def test_video_attached_or_linked_over_the_limit(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    standin.behaviour.output_size = 4096
    # The stand-in backend lives on 127.0.0.1; a real deployment sets PUBLIC_BASE_URL instead.
    async with engine_harness(standin.base_url, tmp_path, allow_loopback_links=True) as (
        engine,
        _c,
    ):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", token="small"))
        attached = since(api, start)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", size_limit=1000, token="tiny"))
        linked = since(api, start)
        await bot.close()
    [video] = [c for c in attached if c.files]
    assert len(next(iter(video.files.values()))) == 4096
    assert not any(c.files for c in linked)
    link = [c for c in linked if "http://127.0.0.1" in c.content and "/files/" in c.content]
    assert link and link[-1].path.endswith("/tiny")


async def test_no_loopback_link_without_a_public_url(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Issue 7: on a real platform, with no PUBLIC_BASE_URL, a 127.0.0.1 link is never handed out."""
    standin.behaviour.output_size = 4096
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", size_limit=1000, token="nolink"))
        said = since(api, start)
        await bot.close()
    assert not any("http://127.0.0.1" in c.content for c in said)
    assert any("PUBLIC_BASE_URL" in shown(c.content) for c in said)


async def test_oversized_attachment_refused_before_download(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    url = api.add_file("huge.mp4", b"not really 600 MB")
    att = d.attachment_payload(d.snowflake(seq=4), "huge.mp4", url, 600 * 1024 * 1024, "video/mp4")
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": "use this"}, {"video": att}))
        await bot.close()
    calls = since(api, start)
    assert not [c for c in calls if c.path.startswith("/cdn/")]
    assert any("500 MB" in c.content for c in calls)
    assert standin.count("/api/upload-video") == 0


async def test_after_the_interaction_window_results_go_to_the_channel(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Issue 12: past 14 minutes the token is given up while it still works (15 minutes): the
    deferred "thinking…" response says the rest follows, and the results come in the channel."""
    old = time.time() - 14.7 * 60
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", created_at=old, token="old"))
        await bot.close()
    calls = since(api, start)
    assert calls[0].path.endswith("/old/callback")
    channel = [c for c in calls if c.path == f"/api/v10/channels/{d.CHANNEL_ID}/messages"]
    [video] = [c for c in channel if c.files]
    assert video.content.startswith(f"<@{d.USER_ID}>")
    # only the requester may be pinged: no @everyone, no roles, no one else
    assert video.allowed_mentions == {"parse": [], "users": [d.USER_ID]}
    [resolved] = [c for c in calls if "/webhooks/" in c.path]
    assert resolved.method == "PATCH" and resolved.path.endswith("/old/messages/@original")
    assert "follows in a new message" in resolved.content and resolved.ok
    assert calls.index(resolved) < calls.index(channel[0])


async def test_a_token_refused_early_falls_back_to_the_channel(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Issue 12: Discord refuses the interaction token (401 / 50027) right after the deferral:
    the export still renders and the video comes in the channel, mentioning the requester."""
    api.refuse_token("early")
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", token="early"))
        await bot.close()
    calls = since(api, start)
    refused = [c for c in calls if "/webhooks/" in c.path]
    assert refused and all(c.status == 401 for c in refused)
    assert len(refused) == 1  # refused once, then never tried again
    channel = [c for c in calls if c.path == f"/api/v10/channels/{d.CHANNEL_ID}/messages"]
    [video] = [c for c in channel if c.files]
    assert video.ok and video.content.startswith(f"<@{d.USER_ID}>")
    assert standin.count("/api/render/proxy/lambda", "POST") == 1
    assert not any("went wrong" in c.content for c in calls)


async def test_interaction_tokens_live_15_minutes(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """The stand-in refuses a token past 15 minutes (401 code 50027), as Discord does."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("status", created_at=time.time() - 16 * 60, token="x"))
        await bot.close()
    calls = since(api, start)
    assert not [c for c in calls if "/webhooks/" in c.path]  # the adapter knows the clock too
    [answer] = [c for c in calls if c.path.endswith(f"/channels/{d.CHANNEL_ID}/messages")]
    assert answer.ok
    api.tokens["y"] = time.time() - 16 * 60
    async with api_session() as session:
        async with session.patch(f"{api.api_base}/webhooks/{d.APP_ID}/y/messages/@original") as r:
            assert r.status == 401
            assert await r.json() == {"message": "Invalid Webhook Token", "code": 50027}


async def test_buttons_survive_a_restart(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        first = await start_bot(engine)
        await dispatch(first, d.slash_payload("voiceover", {"prompt": PROMPT}))
        await first.close()
        # a new process: a new client that never sent the buttons handles a press on one
        second = await start_bot(engine)
        start = len(api.calls)
        await dispatch(second, d.component_payload("vo:cmd:export", token="press"))
        await second.close()
    calls = since(api, start)
    assert calls[0].path.endswith("/press/callback") and calls[0].json == {"type": 5}
    assert any(c.files and c.path.endswith("/press") for c in calls)
    assert standin.count("/api/render/proxy/lambda", "POST") == 1


async def test_render_resumed_after_a_restart_mentions_the_requester(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """A render in flight when the bot stops, its interaction token run out, is finished by the
    next process in the channel: its messages mention whoever asked for it (and may ping only
    them)."""
    standin.behaviour.render_polls = 10_000  # the render runs until the "restart"
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        first = await start_bot(engine)
        export = d.slash_payload("export", token="gone", created_at=OLD)
        first._connection.parse_interaction_create(export)  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            while not await engine.store.in_flight_jobs():  # noqa: ASYNC110 - stored by the bot
                await asyncio.sleep(0.02)
        for task in list(first._active):  # the process dies mid-render
            task.cancel()
        await asyncio.gather(*first._active, return_exceptions=True)
        await first.close()
        standin.behaviour.render_polls = 0
        start = len(api.calls)
        second = await start_bot(engine)  # resumes the stored render
        async with asyncio.timeout(30):
            await engine.wait_background()
        await second.close()
    channel = [
        c for c in since(api, start) if c.path.endswith(f"/channels/{d.CHANNEL_ID}/messages")
    ]
    resumed = next(c for c in channel if "restarted" in c.content)
    [video] = [c for c in channel if c.files]
    for call in (resumed, video):
        assert call.content.startswith(f"<@{d.USER_ID}> "), call.content
        assert call.allowed_mentions == {"parse": [], "users": [d.USER_ID]}
    assert not [c for c in since(api, start) if "/webhooks/" in c.path]


async def test_voice_menu_is_a_select_real_backend(
    api: d.DiscordStandIn, backend: BackendProcess, tmp_path: Path
) -> None:
    async with engine_harness(backend.url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("voice", token="voice"))
        menu = since(api, start)
        selects = [
            comp
            for call in menu
            for row in (call.json or {}).get("components") or []
            for comp in row["components"]
            if comp["type"] == 3
        ]
        assert len(selects) == 1 and selects[0]["custom_id"] == "vo:pick"
        values = [o["value"] for o in selects[0]["options"]]
        assert "use the Joe voice" in values
        start = len(api.calls)
        await dispatch(
            bot,
            d.component_payload("vo:pick", component_type=3, values=[values[0]], token="pick"),
        )
        await bot.close()
    picked = since(api, start)
    assert picked[0].path.endswith("/pick/callback") and picked[0].json == {"type": 5}
    assert any("Choosing the voice" in c.content for c in picked), [c.content for c in picked]


async def test_threads_get_their_own_session(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    thread_id = d.CHANNEL_ID + 100
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        await dispatch(bot, d.slash_payload("status", token="a"))
        await dispatch(bot, d.slash_payload("status", channel_id=thread_id, thread=True, token="b"))
        await bot.close()
        channel = await engine.store.chat(f"discord:{d.CHANNEL_ID}")
        thread = await engine.store.chat(f"discord:{thread_id}")
    assert channel.session_id and thread.session_id
    assert channel.session_id != thread.session_id


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("..\\x\\evil name.txt") == "evil_name.txt"
    assert safe_filename("...") == "upload"


async def test_voiceover_and_export_real_backend(
    api: d.DiscordStandIn, backend: BackendProcess, tmp_path: Path
) -> None:
    import av

    # The real backend runs on 127.0.0.1 here; allow its links as a local trial would.
    async with engine_harness(
        backend.url, tmp_path, render_poll_max_seconds=0.5, allow_loopback_links=True
    ) as (engine, _console):
        bot = await start_bot(engine)
        att = script_attachment(api, EXAMPLE_SCRIPT.read_bytes(), "lumen_script.txt")
        big = 200 * 1024 * 1024
        await dispatch(
            bot, d.slash_payload("voiceover", {"prompt": PROMPT}, {"script": att}, size_limit=big)
        )
        start = len(api.calls)
        await dispatch(bot, d.component_payload("vo:cmd:export", size_limit=big, token="exp"))
        attached = since(api, start)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", size_limit=1024, token="lim"))
        linked = since(api, start)
        await bot.close()
    assert attached[0].json == {"type": 5}
    [video] = [c for c in attached if c.files]
    name, data = next(iter(video.files.items()))
    assert name.endswith(".mp4") and video.path.endswith("/exp")
    path = tmp_path / "received.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        assert container.streams.video and container.streams.audio
        assert container.duration is not None
        seconds = container.duration / 1_000_000
        assert 10 < seconds < 60, seconds
    assert not any(c.files for c in linked)
    links = [c.content for c in linked if c.json and f"{backend.url}/files/render_" in c.content]
    assert len(links) == 1 and "sig=" in links[0], [c.content for c in linked]


async def test_a_message_mentioning_the_bot_is_answered_in_reply(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    message_id = d.snowflake(seq=11)
    message: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(d.CHANNEL_ID),
        "guild_id": str(d.GUILD_ID),
        "author": d.USER,
        "content": f"<@{d.BOT_ID}> /credits @everyone",
        "timestamp": "2025-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [d.BOT_USER],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        before = bot.started
        bot._connection.parse_message_create(message)  # type: ignore[arg-type]
        await answered(bot, before)
        await bot.close()
    [reply] = [c for c in since(api, start) if c.path.endswith("/messages")]
    assert reply.content.startswith("💳")
    assert reply.json["message_reference"]["message_id"] == message_id
    assert reply.allowed_mentions == {"parse": [], "replied_user": False}


async def test_a_file_discord_refuses_goes_out_as_the_link(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Discord answers 413 to a video under the limit it announced: the requester gets the
    engine's download link in the original response, not an error."""
    standin.behaviour.output_size = 4096
    api.upload_limit = 2048
    async with engine_harness(standin.base_url, tmp_path, allow_loopback_links=True) as (
        engine,
        _c,
    ):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", token="refused"))
        calls = since(api, start)
        await bot.close()
    assert [c for c in calls if c.files]  # it tried to attach the video
    link = [c for c in calls if "/files/" in c.content and not c.files]
    assert link, [c.content for c in calls]
    assert not any("went wrong" in c.content for c in calls)


# issue 12


async def test_no_send_permission_resumed_render_goes_to_dms(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Slash commands work where the bot lacks Send Messages; a render resumed after a restart,
    once its interaction's token has run out, goes to the requester's DMs (the interaction's
    `app_permissions` said so), with no 403, and a later start has nothing left to resume."""
    api.no_send.add(d.CHANNEL_ID)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        await interrupted_render(
            api, standin, engine, app_permissions=d.WITHOUT_SEND, token="np", created_at=OLD
        )
        start = len(api.calls)
        second = await start_bot(engine)
        async with asyncio.timeout(30):
            await engine.wait_background()
        await second.close()
        assert not await engine.store.in_flight_jobs()
        third = await start_bot(engine)
        assert not engine._background  # nothing resumed again
        await third.close()
    calls = since(api, start)
    assert not [c for c in calls if c.status == 403]
    dm = [c for c in calls if c.path.endswith(f"/channels/{d.DM_CHANNEL_ID}/messages")]
    assert any("restarted" in c.content for c in dm)
    [video] = [c for c in dm if c.files]
    assert video.ok and not video.content.startswith("<@")  # no ping needed in a DM


async def test_a_resumed_render_follows_up_the_interaction_while_its_token_lives(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Restarted within the interaction's 15 minutes: the render's results are follow-ups of the
    interaction that asked (stored with the render), not DMs, even where the bot may not post."""
    api.no_send.add(d.CHANNEL_ID)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        await interrupted_render(api, standin, engine, app_permissions=d.WITHOUT_SEND, token="tk")
        start = len(api.calls)
        second = await start_bot(engine)
        async with asyncio.timeout(30):
            await engine.wait_background()
        await second.close()
        assert not await engine.store.in_flight_jobs()
    calls = since(api, start)
    assert not [c for c in calls if "/channels/" in c.path and c.method == "POST"]  # no DM
    followups = [c for c in calls if c.path.endswith(f"/webhooks/{d.APP_ID}/tk") and c.ok]
    assert any("restarted" in c.content for c in followups)
    assert [c for c in followups if c.files]  # the video, where it was asked for


async def test_a_refused_channel_and_closed_dms_are_not_retried_forever(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """The channel refuses (403 50013, the permission removed after the command) and the DMs are
    closed (403 50007): the resumed render is settled, not resumed again at every start."""
    api.no_send.add(d.CHANNEL_ID)
    api.closed_dms.add(d.USER_ID)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        await interrupted_render(api, standin, engine, token="gone")
        api.refuse_token("gone")  # the follow-up way is shut too
        start = len(api.calls)
        for _ in range(2):  # two later starts
            bot = await start_bot(engine)
            async with asyncio.timeout(30):
                await engine.wait_background()
            await bot.close()
        assert not await engine.store.in_flight_jobs()
    refused = [c for c in since(api, start) if c.status == 403]
    assert [c.path.split("/")[-2] for c in refused] == [str(d.CHANNEL_ID), str(d.DM_CHANNEL_ID)]


@pytest.mark.parametrize("via", [True, False])
async def test_a_rate_limited_video_is_retried_and_ready_only_with_it(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path, via: bool
) -> None:
    """A 429 on the video follow-up (without `Via`, discord.py does not retry it): the video is
    sent again after `retry_after`, and the progress line says "ready" only once it is there."""
    api.rate_limit("/webhooks/", method="POST", via=via, retry_after=0.2)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", token="rl"))
        await bot.close()
    calls = since(api, start)
    tries = [c for c in calls if c.files]
    assert [c.status for c in tries] == [429, 200]
    ready = [i for i, c in enumerate(calls) if "Your video is ready" in c.content and not c.files]
    assert ready and min(ready) > calls.index(tries[-1])


async def test_a_video_rate_limited_for_long_goes_out_as_the_link(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    api.rate_limit("/webhooks/", method="POST", via=False, retry_after=60)
    async with engine_harness(standin.base_url, tmp_path, allow_loopback_links=True) as (
        engine,
        _c,
    ):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("export", token="long"))
        await bot.close()
    calls = since(api, start)
    assert [c.status for c in calls if c.files] == [429]
    link = [c for c in calls if "/files/" in c.content and not c.files]
    assert link and link[-1].ok
    assert "would not take the file just now" in link[-1].content  # the reason, not its size
    assert "too big" not in link[-1].content
    assert not any("went wrong" in c.content for c in calls)


@pytest.mark.parametrize("ping", [True, False])
async def test_a_reply_to_the_bot_is_answered(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path, ping: bool
) -> None:
    """Replying to one of the bot's messages addresses it, with the reply ping on (the bot is in
    `mentions`, not in the content) or off."""
    earlier = d.bot_message_payload("🎉 Your video is ready.")
    message = d.message_payload("/credits", mentions=[d.BOT_USER] if ping else [], reply_to=earlier)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        join_guild(bot)
        start = len(api.calls)
        before = bot.started
        bot._connection.parse_message_create(message)  # type: ignore[arg-type]
        await answered(bot, before)
        await bot.close()
    [reply] = [c for c in since(api, start) if c.path.endswith("/messages")]
    assert reply.content.startswith("💳") and reply.ok


async def test_a_message_to_someone_else_is_not_answered(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    other = {**d.USER, "id": "42", "username": "kim"}
    earlier = {**d.bot_message_payload("hi"), "author": other}
    message = d.message_payload("/credits", mentions=[other], reply_to=earlier)
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        join_guild(bot)
        bot._connection.parse_message_create(message)  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        assert bot.started == 0
        await bot.close()


async def test_a_script_sent_with_its_request_is_not_asked_about(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Issue 12: /voiceover with a TXT and the request: "Got your script", then the voiceover,
    with no "Now tell me what to do with it"."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        att = script_attachment(api, EXAMPLE_SCRIPT.read_bytes())
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": PROMPT}, {"script": att}))
        await bot.close()
    contents = [c.content for c in since(api, start) if c.content]
    assert any(c.startswith("📄 Got your script script.txt") for c in contents), contents
    assert not any("tell me what to do" in c for c in contents), contents
    assert any("voiceover is ready" in c for c in contents)


async def test_a_guild_id_clears_the_global_commands_once(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Issue 12: commands synced globally before DISCORD_GUILD_ID was set would show twice in
    the guild: the global set is emptied (once), and /help is one of the commands."""
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        earlier = VoiceoverBot(engine)  # no guild id: a global sync
        await earlier.login("test-token-not-real")
        await earlier.close()
        assert {c["name"] for c in api.global_commands} >= {"voiceover", "help"}
        for _ in range(2):
            bot = await start_bot(engine)
            await bot.close()
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("help", token="help"))
        await bot.close()
    assert api.global_commands == []
    global_puts = api.find("PUT", f"/applications/{d.APP_ID}/commands")
    assert [len(c.json) for c in global_puts] == [len(global_puts[0].json), 0]  # emptied once
    guild = {c["name"] for c in api.guild_commands[str(d.GUILD_ID)]}
    assert guild == {
        *("voiceover", "export", "status", "credits", "new", "voice", "voices", "cancel", "help")
    }
    [answer] = [c for c in since(api, start) if c.path.endswith("/@original")]
    assert "Commands:" in answer.content and "/help" in answer.content


async def test_the_stand_in_enforces_discords_limits(
    api: d.DiscordStandIn, standin: Any, tmp_path: Path
) -> None:
    """Unknown routes, over-long content, too many files, files over 10 MiB: refused as Discord
    refuses them; long engine texts are split so that none is refused."""
    long_text = "\n".join(f"Line {i}: " + "word " * 30 for i in range(60))  # ~9,500 characters
    standin.behaviour.sse_text = long_text
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        bot = await start_bot(engine)
        start = len(api.calls)
        await dispatch(bot, d.slash_payload("voiceover", {"prompt": "hello"}, token="long"))
        sent = since(api, start)
        channel = bot.get_partial_messageable(d.CHANNEL_ID)
        with pytest.raises(discord.NotFound) as missing:
            await bot.http.request(discord.http.Route("GET", "/nowhere"))
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        files = [discord.File(io.BytesIO(b"x"), filename=f"{i}.txt") for i in range(11)]
        with pytest.raises(discord.HTTPException) as too_many:
            await channel.send("files", files=files)
        big = discord.File(io.BytesIO(b"x" * (10 * 1024 * 1024 + 1)), filename="big.mp4")
        with pytest.raises(discord.HTTPException) as too_big:
            await channel.send("big", file=big)
        await bot.close()
    assert (missing.value.status, missing.value.code, missing.value.text) == (
        404,
        0,
        "404: Not Found",
    )
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert (too_many.value.status, too_many.value.code) == (400, 50035)
    assert (too_big.value.status, too_big.value.code) == (413, 40005)
    pieces = [c for c in sent if c.content and "Line " in c.content]
    assert len(pieces) >= 5 and all(c.ok and len(c.content) <= 2000 for c in pieces)
    assert "Line 59" in pieces[-1].content
