"""Telegram in webhook mode behind a load balancer (issue 14): two REAL bot processes (`python -m
bot`, python-telegram-bot Applications) sharing one PostgreSQL chat store (tests/support/services.py),
a round-robin balancer (tests/support/balancer.py) in front of their webhook servers, the Bot API
stand-in delivering updates to the one webhook as Telegram does (secret header, retries until a
2xx), and the REAL backend. Consecutive updates of one chat land on different replicas.

- The chat keeps its one session across replicas, and its messages run in order: the second one,
  on the other replica, waits for the first (a lock per chat in PostgreSQL).
- An update whose answer the balancer lost is sent again by Telegram, to the other replica, and is
  not handled twice (update ids claimed in the store).
- A render started through one replica, `kill -9`'d before it could deliver, is delivered once by
  the other, which is still running (it takes over a dead replica's renders).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bot.__main__ import DEMO_STEPS, EXAMPLE_SCRIPT
from bot.messages import VideoFile
from bot.texts import t
from tests.support.backend import BackendProcess, free_port
from tests.support.balancer import RoundRobin
from tests.support.botapi import TOKEN, BotApiStandIn, Call
from tests.support.services import Services
from tests.support.standin import StandIn, engine_harness, progress
from tests.support.standin import texts as engine_texts

ROOT = Path(__file__).resolve().parents[1]
ANN = {"id": 701, "is_bot": False, "first_name": "Ann", "username": "ann", "language_code": "en"}
CHAT = {"id": 701, "type": "private", "first_name": "Ann", "username": "ann"}
HOOK_PATH = "/telegram-hook"


class Replica:
    """One `python -m bot` process in webhook mode, on a port of its own."""

    def __init__(self, name: str, folder: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        self.log = folder / f"{name}.log"
        folder.mkdir(parents=True, exist_ok=True)
        env = {
            **env,
            "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
            "TELEGRAM_WEBHOOK_PORT": str(self.port),
            "BOT_DATA_DIR": str(folder / "data"),
            "BOT_OUTPUT_DIR": str(folder / "output"),
            "PYTHONPATH": str(ROOT),
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-3000:]}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def botapi() -> Iterator[BotApiStandIn]:
    server = BotApiStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def bot_db(services: Services) -> str:
    return services.database("tgrep_" + uuid.uuid4().hex[:10])


async def until(cond: Callable[[], bool], limit: float = 120) -> None:
    """Wait for a condition (a guard against hangs, not a timing assertion)."""
    async with asyncio.timeout(limit):
        while not cond():  # noqa: ASYNC110 - the condition lives in other threads and processes
            await asyncio.sleep(0.05)


def said(botapi: BotApiStandIn) -> list[Call]:
    """What the bot sent to the chat and each edit of it, in order."""
    return botapi.sent("sendMessage", "editMessageText", chat_id=CHAT["id"])


def saw(botapi: BotApiStandIn, fragment: str) -> Callable[[], bool]:
    return lambda: any(fragment in c.text for c in said(botapi))


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode()).fetchall()


async def test_two_webhook_replicas_behind_a_balancer_serve_one_chat(
    botapi: BotApiStandIn, backend: BackendProcess, bot_db: str, tmp_path: Path
) -> None:
    balancer = RoundRobin([]).start()
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOT_", "NEMO_"))},
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": botapi.base_url,
        "TELEGRAM_FILE_BASE_URL": botapi.base_file_url,
        "TELEGRAM_WEBHOOK_URL": balancer.url(HOOK_PATH),  # no secret set: both derive the same
        "NEMO_API_BASE": backend.url,
        "BOT_DATABASE_URL": bot_db,
        "BOT_RENDER_POLL_MAX_SECONDS": "1",
        "BOT_ORPHAN_SWEEP_SECONDS": "0.5",
        "BOT_LOG_LEVEL": "INFO",
    }
    # The export will reach replica b (see the turns below): it waits long before its first look
    # at the render, so it is killed before it could deliver.
    a = Replica("a", tmp_path / "a", base)
    b = Replica("b", tmp_path / "b", {**base, "BOT_RENDER_POLL_INITIAL_SECONDS": "60"})
    balancer.upstreams.extend([a.url, b.url])
    try:
        await until(lambda: a.listening() and b.listening(), 60)
        await until(lambda: len(botapi.sent("setWebhook")) == 2, 60)
        secrets = {c.params.get("secret_token") for c in botapi.sent("setWebhook")}
        assert len(secrets) == 1 and None not in secrets  # one webhook per bot: they agree

        # turn 0 -> a: the script; turn 1 -> b: the ask, pushed at once (b must wait for a: the
        # script's download is held until b has said so, else a quick turn 0 could be over first).
        # b's answer is lost by the balancer; Telegram sends the update again: turn 2 -> a.
        botapi.files_flowing.clear()
        botapi.push_document(
            CHAT, ANN, "lumen_script.txt", EXAMPLE_SCRIPT.read_bytes(), "text/plain"
        )
        await until(lambda: len(botapi.webhook_posts) == 1)
        balancer.lose_answers = 1
        botapi.push_message(CHAT, ANN, DEMO_STEPS[0])
        try:
            await until(saw(botapi, t("queued", "en")), 60)
        finally:
            botapi.files_flowing.set()
        await until(lambda: any(c.params.get("reply_markup") for c in said(botapi)), 240)
        assert saw(botapi, "Got your script lumen_script.txt")()
        script_reply = next(i for i, c in enumerate(said(botapi)) if "Got your script" in c.text)
        menu = next(i for i, c in enumerate(said(botapi)) if c.params.get("reply_markup"))
        assert script_reply < menu  # in order across the replicas
        await until(lambda: len(botapi.webhook_posts) >= 3)
        assert [i for i, _status in balancer.routed[:3]] == [0, 1, 0]
        assert botapi.webhook_posts[1][1] == 504 and botapi.webhook_posts[2][1] == 200
        assert botapi.webhook_posts[1][0] == botapi.webhook_posts[2][0]  # the same update twice
        [(session,)] = rows(bot_db, "SELECT session_id FROM vo_bot.chats")
        assert session  # one chat, one session, whichever replica answered

        # turn 3 -> b: export; b is killed once the render is stored, before it delivers
        botapi.push_message(CHAT, ANN, DEMO_STEPS[1])
        await until(lambda: bool(rows(bot_db, "SELECT render_id FROM vo_bot.render_jobs")), 120)
        assert [i for i, _status in balancer.routed[:4]] == [0, 1, 0, 1]
        b.kill()
        assert botapi.sent("sendVideo") == []
        await until(lambda: bool(botapi.sent("sendVideo")), 300)  # a takes it over
        delivered = "SELECT 1 FROM vo_bot.render_jobs WHERE status = 'delivered'"
        await until(lambda: bool(rows(bot_db, delivered)), 120)

        # the next update reaches a (b refuses connections) and is answered once
        botapi.push_message(CHAT, ANN, "/credits")
        await until(lambda: len(botapi.webhook_deliveries()) == 4)  # the lost answer: no 2xx
        await until(saw(botapi, "Credits:"))  # the render's progress edits may come first
    finally:
        a.stop()
        b.kill()
        balancer.stop()
    assert len(botapi.sent("sendVideo")) == 1
    texts = [c.text for c in said(botapi)]
    once = ("Got your script", "Your voiceover is ready", "What next?", "Credits:")
    assert [sum(1 for text in texts if piece in text) for piece in once] == [1, 1, 1, 1], texts
    firsts = [next(i for i, text in enumerate(texts) if piece in text) for piece in once]
    assert firsts == sorted(firsts), texts  # in the order they were asked
    # b had to wait for the chat while a read the script, and said so, as one process would
    assert texts.count(t("queued", "en")) == 1
    assert texts.count(t("resumed", "en")) == 1  # a took the render over, once
    assert not any("went wrong" in text for text in texts), texts


async def test_the_stand_in_keeps_telegrams_webhook_rules(botapi: BotApiStandIn) -> None:
    """One webhook per bot, getUpdates refused meanwhile, the secret header on every POST, the
    same update again until a 2xx: what the replica test relies on, checked against a receiver."""
    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.support.threaded import ThreadedServer

    got: list[tuple[int, str]] = []

    async def hook(request: Request) -> Response:
        got.append(
            (
                (await request.json())["update_id"],
                request.headers.get("x-telegram-bot-api-secret-token", ""),
            )
        )
        return Response(status_code=500 if len(got) == 1 else 200)  # the first answer fails

    receiver = ThreadedServer(Starlette(routes=[Route("/h", hook, methods=["POST"])]), "hook")
    port = receiver.start()
    api = f"{botapi.base_url}{TOKEN}"
    try:
        async with httpx.AsyncClient() as http:
            bad = await http.post(f"{api}/setWebhook", json={"url": "http://example.com/h"})
            assert bad.status_code == 400 and "HTTPS" in bad.json()["description"]
            bad = await http.post(
                f"{api}/setWebhook",
                json={"url": f"http://127.0.0.1:{port}/h", "secret_token": "a b"},
            )
            assert bad.status_code == 400
            for secret in ("first-secret", "second-secret"):  # the second replaces the first
                r = await http.post(
                    f"{api}/setWebhook",
                    json={"url": f"http://127.0.0.1:{port}/h", "secret_token": secret},
                )
                assert r.json() == {"ok": True, "result": True}
            conflict = await http.post(f"{api}/getUpdates", json={})
            assert conflict.status_code == 409
            update_id = botapi.push({"message": botapi.message(CHAT, ANN, "hi")})
            await until(lambda: len(got) == 2, 20)
            info = (await http.post(f"{api}/getWebhookInfo", json={})).json()["result"]
            assert info["url"].endswith("/h") and info["pending_update_count"] == 0
            assert "500" in info["last_error_message"]
            await http.post(f"{api}/deleteWebhook", json={})
            assert (await http.post(f"{api}/getUpdates", json={})).status_code == 200
    finally:
        receiver.stop()
    assert got == [(update_id, "second-secret"), (update_id, "second-secret")]
    assert botapi.webhook_deliveries() == [update_id]


async def test_stores_take_an_update_once_and_a_chat_one_replica_at_a_time(
    services: Services, tmp_path: Path
) -> None:
    from storage.postgres import open_chat_store

    alone = await open_chat_store(tmp_path / "bot.sqlite3")
    async with alone:
        assert [await alone.claim_update("telegram", 7) for _ in range(2)] == [True, False]
        async with alone.chat_turn("telegram:1"):  # one process: nothing to wait for
            assert not await alone.chat_elsewhere("telegram:1")
    url = services.database("claims_" + uuid.uuid4().hex[:10])
    a, b = await open_chat_store(url), await open_chat_store(url)
    try:
        assert await a.claim_update("telegram", 7)
        assert not await b.claim_update("telegram", 7)  # the other replica saw it first
        assert await b.claim_update("discord", 7)  # another platform's ids are its own
        async with a.chat_turn("telegram:1"):
            assert await b.chat_elsewhere("telegram:1")
            assert not await a.chat_elsewhere("telegram:1")  # its own turn
            assert not await b.chat_elsewhere("telegram:2")
            b_turn = b.chat_turn("telegram:1")  # kept: entered by hand, left by b's death
            waiting = asyncio.create_task(b_turn.__aenter__())
            await asyncio.sleep(0.6)  # three looks at the lock, all refused
            assert not waiting.done()
        await asyncio.wait_for(waiting, 10)  # a's turn over: b's begins
        assert await a.chat_elsewhere("telegram:1")
        # b dies holding the chat: its lock goes with its connection
        await b.close()
        async with asyncio.timeout(10), a.chat_turn("telegram:1"):
            assert not await a.chat_elsewhere("telegram:1")
    finally:
        await a.close()
        await b.close()


async def test_cancel_reaching_another_replica_stops_the_job(
    standin: StandIn, services: Services, tmp_path: Path
) -> None:
    """Behind a balancer /cancel may reach a replica that is not running the chat's job: it asks
    the one that is (through the store), which cancels it as a local /cancel would."""
    standin.behaviour.render_seconds = 3600
    url = services.database("cancel_" + uuid.uuid4().hex[:10])
    harness_a = engine_harness(standin.base_url, tmp_path / "a", database_url=url)
    harness_b = engine_harness(standin.base_url, tmp_path / "b", database_url=url)
    async with harness_a as (engine_a, console_a), harness_b as (engine_b, console_b):
        console_a.push_nowait("export", chat_id="x")
        await until(lambda: standin.count("/api/render/proxy/lambda/") >= 2, 20)
        assert await engine_b.store.chat_elsewhere("console:x")
        await console_b.push_message("/cancel", chat_id="x")
        assert engine_texts(console_b, "x") == [t("cancelled", "en")]
        await until(lambda: t("cancelled", "en") in progress(console_a, "x"), 20)
        await until(lambda: not engine_a.busy("console:x"), 20)
        assert await engine_a.store.in_flight_jobs() == []  # settled, not left to resume
    assert console_a.sent(VideoFile) == []


async def test_an_export_asked_on_another_replica_mid_render_is_not_made_twice(
    standin: StandIn, services: Services, tmp_path: Path
) -> None:
    """A double tap on "export" whose two updates land on two replicas: the second says it is
    already exporting, as one process would, instead of queueing a second render."""
    standin.behaviour.render_seconds = 3600
    url = services.database("export_" + uuid.uuid4().hex[:10])
    harness_a = engine_harness(standin.base_url, tmp_path / "a", database_url=url)
    harness_b = engine_harness(standin.base_url, tmp_path / "b", database_url=url)
    async with harness_a as (_engine_a, console_a), harness_b as (_engine_b, console_b):
        console_a.push_nowait("export", chat_id="x")
        await until(lambda: standin.count("/api/render/proxy/lambda/") >= 2, 20)
        async with asyncio.timeout(20):  # queued behind A's render instead: it would wait
            await console_b.push_message("export", chat_id="x")
        assert engine_texts(console_b, "x") == [t("already_exporting", "en")]
        assert len(standin.render_bodies) == 1
