"""Discord adapter: the real discord.py client, offline.

Boundary: discord.py's HTTP layer is pointed at `tests.support.discordapi.DiscordStandIn` (a local
stand-in of Discord's REST API on 127.0.0.1) by setting `discord.http.Route.BASE`; interactions enter
through `ConnectionState.parse_interaction_create`, the gateway's own entry point, from typed payloads.
The engine behind it is real; the backend is the stand-in (fast, scriptable) or the REAL backend.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
    old = time.time() - 14.5 * 60  # the token is about to expire: stop using it
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
    assert not [c for c in calls if "/webhooks/" in c.path]


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
    """A render in flight when the bot stops is finished by the next process, in the channel: its
    messages mention whoever asked for it (and may ping only them)."""
    standin.behaviour.render_polls = 10_000  # the render runs until the "restart"
    async with engine_harness(standin.base_url, tmp_path) as (engine, _console):
        first = await start_bot(engine)
        export = d.slash_payload("export", token="gone")
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
