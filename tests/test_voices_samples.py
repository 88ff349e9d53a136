"""`/voices` in the chats (issue 15): the catalogue, one spoken sample per voice, then a button per
voice, so people pick by ear.

REAL backend (Piper and Kokoro speak the samples, ffmpeg encodes them, the backend keeps them in
its data dir), the REAL python-telegram-bot Application against the strict Bot API stand-in, REAL
discord.py against the Discord stand-in, and the console adapter. Each sample must be audio that
speaks (longer than 1 s, not silence, with pauses between words), and the second `/voices` must be
served from the backend's cache (the same files, untouched).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import discord
import numpy as np
import pytest
from telegram import Bot
from telegram.error import BadRequest

from adapters.discord_bot import VoiceoverBot
from adapters.telegram import TelegramAdapter
from adapters.telegram_reply import TelegramReplier
from bot.messages import AudioAlbum, AudioFile, Buttons, Limits, Text, TooLargeForChat
from tests.support import discordapi as d
from tests.support.backend import Api, BackendProcess
from tests.support.botapi import TOKEN, BotApiStandIn, Call
from tests.support.media import audio_samples, probe
from tests.support.standin import engine_harness

ANN = {"id": 501, "is_bot": False, "first_name": "Ann", "username": "ann"}
PRIVATE = {"id": 501, "type": "private", "first_name": "Ann", "username": "ann"}
FIRST_TIME_S = 600  # the first /voices of a backend synthesizes every sample (a busy machine)
# The first /voices of the session makes every sample: about 20 s here when quiet, minutes with the
# machine shared (Kokoro's RTF went from 0.33 to 6 under a load of 12).
first_time = pytest.mark.timeout(FIRST_TIME_S + 120)


def catalogue(backend: BackendProcess) -> list[dict[str, Any]]:
    api = Api(backend.url)
    r = api.get("/api/voices")
    api.close()
    assert r.status_code == 200, r.text
    voices: list[dict[str, Any]] = r.json()["data"]["voices"]
    return voices


def cached(backend: BackendProcess) -> dict[str, tuple[int, int]]:
    """The backend's sample files: name -> (inode, mtime): unchanged means not made again."""
    root = backend.data_dir / "voice-samples"
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in root.glob("*.mp3")}


def speaks(data: bytes, path: Path) -> float:
    """`data` is audio of speech: over 1 s, loud enough, with quiet gaps. Returns its seconds."""
    path.write_bytes(data)
    info = probe(path)
    assert info["has_audio"] and not info["has_video"], info
    x = audio_samples(path).astype(np.float64)
    seconds = x.size / 48000
    assert seconds > 1.0, seconds
    frames = x[: x.size // 2400 * 2400].reshape(-1, 2400)  # 50 ms
    level = np.sqrt(np.mean(frames**2, axis=1))
    assert float(np.sqrt(np.mean(x**2))) > 0.02  # not silence
    assert (level > 0.03).mean() > 0.3 and (level < 0.01).mean() > 0.03, level  # words, pauses
    return seconds


async def until(cond: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


# -- the backend's routes ---------------------------------------------------------------------


def test_catalogue_route_describes_each_voice_in_the_callers_language(
    backend: BackendProcess,
) -> None:
    api = Api(backend.url, lang="zh")
    r = api.get("/api/voices", headers={"Accept-Language": "zh"})
    assert r.status_code == 200, r.text
    by_id = {v["id"]: v for v in r.json()["data"]["voices"]}
    assert by_id["bf_emma"]["description"] == "清晰柔和的英式女声"
    assert by_id["zf_xiaoxiao"]["sample_text"].startswith("你好，我是晓晓，")
    assert by_id["bm_george"]["sample_text"].startswith("Hi, I'm George,")
    assert by_id["en_US-joe-medium"]["sample_url"] == "/api/voices/en_US-joe-medium/sample"
    r = api.get("/api/voices/no_such_voice/sample")
    assert (r.status_code, r.json()["code"]) == (404, 4004)
    r = api.http.get("/api/voices/bf_emma/sample")  # no token
    assert r.json()["code"] == 1001
    api.close()


# -- Telegram ---------------------------------------------------------------------------------


@pytest.fixture
def botapi() -> Iterator[BotApiStandIn]:
    server = BotApiStandIn().start()
    yield server
    server.stop()


@asynccontextmanager
async def telegram(botapi: BotApiStandIn, url: str, tmp_path: Path) -> AsyncIterator[None]:
    tg = {
        "telegram_bot_token": TOKEN,
        "telegram_api_base_url": botapi.base_url,
        "telegram_file_base_url": botapi.base_file_url,
    }
    async with engine_harness(url, tmp_path, **tg) as (engine, _console):
        adapter = TelegramAdapter(
            engine, engine.settings, edit_interval=0.0, group_edit_interval=0.0, poll_timeout=1
        )
        async with adapter.running():
            yield


def menus(botapi: BotApiStandIn) -> list[Call]:
    return [c for c in botapi.sent("sendMessage") if (c.params.get("reply_markup") or {})]


@first_time
async def test_telegram_voices_sends_an_album_of_spoken_samples_then_buttons(
    botapi: BotApiStandIn, backend: BackendProcess, tmp_path: Path
) -> None:
    voices = catalogue(backend)
    async with telegram(botapi, backend.url, tmp_path):
        botapi.push_message(PRIVATE, ANN, "/voices")
        await until(lambda: len(menus(botapi)) == 1, FIRST_TIME_S)
        made = cached(backend)
        botapi.push_message(PRIVATE, ANN, "which voices do you have?")
        await until(lambda: len(menus(botapi)) == 2, 120)
    assert len(made) == len(voices) and cached(backend) == made  # the second: from the cache
    listing = next(c.text for c in botapi.sent("sendMessage") if "British woman" in c.text)
    assert all(v["name"] in listing for v in voices), listing
    albums = botapi.sent("sendMediaGroup")
    assert len(albums) == 2  # flood control may have refused one first (429): it was retried
    assert {c.code for c in botapi.sent("sendMediaGroup", failed=True)} <= {429}
    first, second = ([m for m in a.params["media"]] for a in albums)
    assert [m["type"] for m in first] == ["audio"] * len(voices)
    assert [m["title"] for m in first] == [v["name"] for v in voices]
    assert all(m["caption"].startswith(v["name"] + ":") for m, v in zip(first, voices, strict=True))
    for n, (a, b) in enumerate(zip(first, second, strict=True)):
        data = albums[0].files[a["media"][9:]][1]
        assert data == albums[1].files[b["media"][9:]][1]  # the same cached sample
        assert 1.2 < speaks(data, tmp_path / f"{n}.mp3") < 8
    menu = menus(botapi)[0].params["reply_markup"]["inline_keyboard"]
    pressed = {b["text"] for row in menu for b in row}
    assert pressed == {v["name"] for v in voices}


async def test_the_bot_api_stand_in_holds_telegrams_audio_rules(
    botapi: BotApiStandIn, tmp_path: Path
) -> None:
    """sendAudio takes MP3/M4A only; an album holds 2-10 items with captions within 1024; files
    over the 50 MB upload limit are a 413, which the adapter turns into `TooLargeForChat`."""
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(b"ID3" + bytes(2000))
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF" + bytes(2000))
    async with Bot(TOKEN, base_url=botapi.base_url) as bot:
        reply = TelegramReplier(bot, 501, Limits())
        with pytest.raises(BadRequest, match=r"(?i)wrong audio format"):
            await reply.send(AudioAlbum((AudioFile(wav, "Joe", "Joe"),)))
        with pytest.raises(ValueError):
            await reply.send(AudioAlbum(tuple(AudioFile(mp3, str(n)) for n in range(11))))
        with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
            await bot.send_audio(501, mp3.read_bytes(), caption="x" * 1025)
        assert await reply.send(AudioAlbum((AudioFile(mp3, "Joe: calm", "Joe"),) * 2))
        botapi.upload_limit = 3000
        with pytest.raises(TooLargeForChat):
            await reply.send(AudioAlbum((AudioFile(mp3, "Joe"), AudioFile(mp3, "Emma"))))
    refused = botapi.sent("sendAudio", "sendMediaGroup", failed=True)
    assert [c.code for c in refused] == [400, 400, 413]
    album = botapi.sent("sendMediaGroup")[0]
    assert [m["caption"] for m in album.params["media"]] == ["Joe: calm"] * 2


# -- Discord and the console ------------------------------------------------------------------


@first_time
async def test_discord_voices_attaches_a_spoken_sample_of_each_voice(
    backend: BackendProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    voices = catalogue(backend)
    server = await d.DiscordStandIn().start()
    monkeypatch.setattr(discord.http.Route, "BASE", server.api_base)
    try:
        async with engine_harness(backend.url, tmp_path) as (engine, _console):
            bot = VoiceoverBot(engine, guild_id=d.GUILD_ID)
            await bot.login("test-token-not-real")
            for n in range(2):
                bot._connection.parse_interaction_create(  # type: ignore[arg-type]
                    d.slash_payload("voices", token=f"voices{n}")
                )
                await until(lambda n=n: bot.started > n, 5)  # type: ignore[misc]
                async with asyncio.timeout(FIRST_TIME_S):
                    await bot.wait_idle()
                if n == 0:
                    made = cached(backend)
            await bot.close()
    finally:
        await server.stop()
    assert cached(backend) == made and len(made) == len(voices)
    posts = [c for c in server.calls if c.files]
    assert len(posts) == 2
    for n, post in enumerate(posts):
        assert list(post.files) == [f"{v['id']}.mp3" for v in voices]
        assert all(f"🎧 {v['name']}:" in post.content for v in voices), post.content
        if n == 0:
            for name, data in post.files.items():
                assert 1.2 < speaks(data, tmp_path / name) < 8
    assert posts[0].files == posts[1].files
    texts = " ".join(c.content for c in server.calls)
    assert "British woman" in texts


@first_time
async def test_console_voices_prints_the_sample_paths(
    backend: BackendProcess, tmp_path: Path
) -> None:
    voices = catalogue(backend)
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await asyncio.wait_for(console.push_message("有哪些声音"), FIRST_TIME_S)
        listing, album, menu = console.sent(Text), console.sent(AudioAlbum), console.sent(Buttons)
        printed = console.texts()
    assert "清晰柔和的英式女声" in listing[0].text  # described in the chat's language
    [sent] = album
    assert isinstance(sent, AudioAlbum) and len(sent.files) == len(voices)
    for clip in sent.files:
        assert clip.path.parent == tmp_path / "output" and clip.path.is_file()
        assert any(str(clip.path) in line for line in printed)
    assert 1.2 < speaks(sent.files[0].path.read_bytes(), tmp_path / "s.mp3") < 8
    assert isinstance(menu[0], Buttons) and len(menu[0].buttons) == len(voices)
