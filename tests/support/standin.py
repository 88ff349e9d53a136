"""A STAND-IN of the backend protocol for fault injection in tests. It is NOT the real backend.

It speaks docs/PROTOCOL.md just enough to script the cases the real backend makes hard to trigger on
purpose: a reply with no text, a token that expires mid-conversation, 1002, 2001 with a bind id,
429, an SSE stream cut halfway, a failing or slow render, heartbeats only. It synthesizes nothing:
its "MP4" is a few fake bytes. Runs on 127.0.0.1 with uvicorn in a thread, one instance per test.

`engine_harness` wires a real Engine (real SQLite, real httpx) and the programmatic console to it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from adapters.console import ConsoleAdapter, Recorded, render
from bot.messages import Outbound, Progress
from tests.support.threaded import ThreadedServer

STATUS = {
    0: 200,
    1001: 401,
    1002: 404,
    2001: 402,
    4001: 415,
    4002: 413,
    400: 400,
    402: 402,
    429: 429,
    4003: 403,
}
FAKE_MP4 = (
    b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"  # a header only: this is not a real video
)
# What the stand-in calls an upload, by extension (anything else is a "video"); audio lasts 30 s.
KINDS = {"txt": "script", "docx": "script", "mp3": "audio", "wav": "audio", "png": "image"}
# The draft of a session after a voiceover turn, and how the bot summarizes it (bot/summary.py).
# Like the hosted service, the stand-in sends no summary of its own unless `send_summary` is set.
DRAFT: dict[str, Any] = {
    "w": 1920,
    "h": 1080,
    "t": [
        {
            "tt": 1,
            "name": "Voiceover",
            "sg": [
                {
                    "id": "vo-1",
                    "name": "Voiceover: Joe",
                    "s": 0,
                    "d": 22000,
                    "m": {"role": "voiceover", "voice_name": "Joe", "language": "en_US"},
                }
            ],
        },
        {
            "tt": 7,
            "name": "Captions",
            "sg": [
                {
                    "id": f"cap-{i}",
                    "text": f"line {i}",
                    "s": i * 3600,
                    "d": 3600 if i < 5 else 4000,
                    "m": {"role": "caption", "burn_in": False},
                }
                for i in range(6)
            ],
        },
    ],
}
SUMMARY = (
    "Timeline (2 tracks): 1. Voiceover: Joe, en-US (0-22s) 2. Captions: 6 lines, subtitle track "
    "(0-22s) Output: 1920x1080."
)
SUMMARY_ZH = "时间线（2 条轨道）：1. 配音：Joe，en-US（0-22 秒） 2. 字幕：6 行，字幕轨（0-22 秒） 输出：1920x1080。"
NO_SCRIPT = "I need a script first: upload a TXT or DOCX file, or paste the text after 'script:'."
BACKEND_SUMMARY = "Timeline (1 track): the backend's own English summary"


@dataclass
class Behaviour:
    """What the stand-in does; tests change fields before (or during) a conversation."""

    # text | no_text | cut | gui_export | gui_panel | error_event | no_script
    sse_mode: str = "text"
    sse_text: str = "Your voiceover is ready: 22 s of speech in Joe's voice."
    heartbeat_seconds: float = 0.0  # heartbeats only, for this long, before the first event
    heartbeat_interval: float = 0.02
    event_delay: float = 0.0
    render_seconds: float = 0.0  # a slow render completes only after this long
    render_start_seconds: float = 0.0  # the render request is answered only after this long
    render_polls: int = 1  # polls answered "rendering" before completion
    render_fail: bool = False
    render_no_output: bool = False  # "completed" without an output URL
    output_size: int = 4096
    # New sessions start as after a voiceover turn (DRAFT: something to export), so export tests
    # need no turn first; False: an empty project, as the real backend creates it.
    voiced: bool = True
    credits: int = 100
    turn_cost: int = 1  # credits a turn needs: fewer available -> 2001 with `need` and `available`
    synth_steps: int = 0  # partial synthesize_speech results {"status": "running", "done", "total"}
    strict_token_rate: bool = True  # like the real backend: one token per client id per window
    send_draft: bool = True  # the state reply carries `draft`
    send_summary: bool = False  # ... and the backend's own English `summary` (BACKEND_SUMMARY)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    query: str = ""


@dataclass
class _Session:
    owner: str  # client id
    language: str
    summary: str = ""
    files: list[str] = field(default_factory=list)


def _env(data: dict[str, Any] | None = None, code: int = 0, message: str = "ok") -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "data": data or {}}, status_code=STATUS.get(code, 400)
    )


class StandIn:
    """The stand-in server: start(), base_url, then script it through `behaviour` and `fail`."""

    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.requests: list[Seen] = []
        self.tokens: dict[str, str] = {}  # token -> client id
        self.issued: dict[str, float] = {}  # client id -> last issue time
        self.sessions: dict[str, _Session] = {}
        self.renders: dict[str, dict[str, Any]] = {}
        self.render_bodies: list[dict[str, Any]] = []  # the JSON of each render request
        self.faults: dict[str, deque[int]] = {}
        self.sse_started = 0
        self._ids = itertools.count(1)
        self._server: ThreadedServer | None = None
        self.port = 0

    # scripting

    def fail(self, endpoint: str, code: int, times: int = 1) -> None:
        """The next `times` calls of `endpoint` answer `code` (endpoints: token, session, run_sse,
        upload, credits, state, render_start, render_status); 5xx codes answer as a proxy would,
        with an HTML page instead of the JSON envelope."""
        self.faults.setdefault(endpoint, deque()).extend([code] * times)

    def expire_tokens(self) -> None:
        """Every issued token now answers 1001, and the issue window has passed (as after 7 days)."""
        self.tokens.clear()
        self.issued.clear()

    def revoke_tokens(self) -> None:
        """Every issued token now answers 1001, but re-issue for the same client id is rate limited."""
        self.tokens.clear()

    def forget_sessions(self) -> None:
        self.sessions.clear()

    def count(self, path_part: str, method: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if path_part in r.path and (method is None or r.method == method)
        )

    # checks shared by the handlers

    def _seen(self, request: Request) -> None:
        self.requests.append(
            Seen(
                request.method,
                request.url.path,
                {k.lower(): v for k, v in request.headers.items()},
                request.url.query,
            )
        )

    def _fault(self, endpoint: str) -> Response | None:
        queue = self.faults.get(endpoint)
        if queue:
            code = queue.popleft()
            if 500 <= code < 600:  # like a proxy in front of the service: HTML, not an envelope
                return Response(
                    f"<html><body><h1>{code} Bad Gateway</h1></body></html>",
                    status_code=code,
                    media_type="text/html",
                )
            data = {"bind_id": "bind-standin-1"} if code == 2001 else {}
            return _env(data, code, f"stand-in fault {code}")
        return None

    def _client(self, request: Request) -> str | JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            return _env(None, 1001, "token expired")
        return self.tokens[token]

    def _session(self, request: Request, client: str) -> _Session | JSONResponse:
        sess = self.sessions.get(request.path_params.get("sid", ""))
        if sess is None:
            return _env(None, 1002, "session not found")
        if sess.owner != client:
            return _env(None, 4003, "session of another token")
        return sess

    # handlers

    async def healthz(self, request: Request) -> Response:
        return _env({"status": "ok"})

    async def token(self, request: Request) -> Response:
        self._seen(request)
        if (fault := self._fault("token")) is not None:
            return fault
        client = request.headers.get("x-client-id", "")
        if not client:
            return _env(None, 400, "missing X-Client-Id")
        if self.behaviour.strict_token_rate and client in self.issued:
            return _env({"retry_after": 7 * 24 * 3600}, 429, "one token per client per 7 days")
        token = f"standin_{uuid.uuid4().hex}"
        self.tokens[token] = client
        self.issued[client] = time.time()
        return _env(
            {
                "token": token,
                "client_id": client,
                "credits": 100,
                "expires_at": int(time.time()) + 7 * 86400,
                "bind_id": f"bind-{client[:8]}",
            }
        )

    async def create_session(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("session")) is not None:
            return fault
        body = await request.json()
        sid = f"sess_{next(self._ids)}"
        self.sessions[sid] = _Session(
            client, str(body.get("language", "en")), SUMMARY if self.behaviour.voiced else ""
        )
        # top-level fields on purpose: clients must read the envelope tolerantly
        return JSONResponse(
            {
                "code": 0,
                "message": "ok",
                "session_id": sid,
                "task_id": f"task_{sid}",
                "data": {"bind_id": f"bind-{client[:8]}"},
            }
        )

    async def credits(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("credits")) is not None:
            return fault
        c = self.behaviour.credits
        return _env(
            {
                "available": c,
                "frozen": 0,
                "total": c,
                "bind_id": f"bind-{client[:8]}",
                "registered": False,
            }
        )

    async def state(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("state")) is not None:
            return fault
        sess = self._session(request, client)
        if isinstance(sess, JSONResponse):
            return sess
        state: dict[str, Any] = {"video_infos": [], "generated_media": []}
        if self.behaviour.send_draft:
            state["draft"] = DRAFT if sess.summary else {"w": 1920, "h": 1080, "t": []}
        if self.behaviour.send_summary:
            state["summary"] = BACKEND_SUMMARY if sess.summary else "Timeline (0 tracks): empty"
        return _env({"session_id": request.path_params["sid"], "state": state})

    async def upload(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("upload")) is not None:
            return fault
        sess = self._session(request, client)
        if isinstance(sess, JSONResponse):
            return sess
        files = []
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await request.json()
            names = [str(u).rsplit("/", 1)[-1] for u in body.get("urls", [])]
            contents = [b""] * len(names)
        else:
            form = await request.form()
            uploads = form.getlist("files")
            names = [u.filename or "file" for u in uploads]  # type: ignore[union-attr]
            contents = [await u.read() for u in uploads]  # type: ignore[union-attr]
        for name, content in zip(names, contents, strict=True):
            ext = name.rsplit(".", 1)[-1].lower()
            if ext in ("pdf", "exe"):
                return _env(None, 4001, f"{name}: this file type is not supported.")
            kind = KINDS.get(ext, "video")
            sess.files.append(name)
            entry: dict[str, Any] = {
                "id": f"m{next(self._ids)}",
                "name": name,
                "kind": kind,
                "size": len(content),
            }
            if kind == "script":
                entry["words"] = len(content.split())
            if kind == "audio":
                entry["duration_ms"] = 30_000
            files.append(entry)
        return _env({"files": files, "video_infos": []})

    async def run_sse(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        body = await request.json()
        sess = self.sessions.get(body.get("session_id", ""))
        if sess is None:
            return _env(None, 1002, "session not found")
        if (fault := self._fault("run_sse")) is not None:
            return fault
        need, available = self.behaviour.turn_cost, self.behaviour.credits
        if available < need:
            data = {"bind_id": f"bind-{client[:8]}", "need": need, "available": available}
            return _env(data, 2001, f"Not enough credits: this needs {need}, you have {available}")
        self.sse_started += 1
        return StreamingResponse(self._events(sess, self.behaviour), media_type="text/event-stream")

    async def _events(self, sess: _Session, b: Behaviour) -> AsyncIterator[bytes]:
        def ev(**fields: Any) -> bytes:
            return f"data: {json.dumps({'author': 'nemo_agent', **fields})}\n\n".encode()

        def call(name: str) -> bytes:
            return ev(
                content={
                    "role": "model",
                    "parts": [{"functionCall": {"id": name, "name": name, "args": {}}}],
                }
            )

        def resp(name: str) -> bytes:
            return ev(
                content={
                    "role": "model",
                    "parts": [
                        {"functionResponse": {"id": name, "name": name, "response": {"ok": True}}}
                    ],
                }
            )

        def running(done: int, total: int) -> bytes:
            part = {
                "functionResponse": {
                    "id": "synthesize_speech",
                    "name": "synthesize_speech",
                    "response": {"status": "running", "done": done, "total": total},
                }
            }
            return ev(content={"role": "model", "parts": [part]}, partial=True)

        loop = asyncio.get_running_loop()
        end = loop.time() + b.heartbeat_seconds
        while loop.time() < end:
            yield b": ping\n\n" if int(loop.time() * 100) % 2 else b"data:\n\n"
            await asyncio.sleep(b.heartbeat_interval)
        if b.sse_mode == "no_script":  # like the real backend: the timeline step, nothing on it
            yield call("place_on_timeline")
            yield resp("place_on_timeline")
            yield ev(content={"role": "model", "parts": [{"text": NO_SCRIPT}]}, partial=False)
            yield ev(turnComplete=True)
            return
        steps = [
            call("set_voice"),
            resp("set_voice"),
            call("synthesize_speech"),
            *(running(i, b.synth_steps) for i in range(1, b.synth_steps + 1)),
            resp("synthesize_speech"),
            call("place_on_timeline"),
            resp("place_on_timeline"),
        ]
        for i, chunk in enumerate(steps):
            if b.sse_mode == "cut" and i == 3:
                sess.summary = SUMMARY
                raise ConnectionAbortedError("stand-in: stream cut halfway")
            yield chunk
            await asyncio.sleep(b.event_delay)
        sess.summary = SUMMARY
        if b.sse_mode == "error_event":
            yield ev(errorCode="2001", errorMessage="credits ran out", turnComplete=True)
            return
        text = {
            "text": b.sse_text,
            "gui_export": "Voiceover added. Click the Export button to download your video.",
            "gui_panel": "Voiceover added. Open the timeline panel to preview it.",
        }.get(b.sse_mode)
        if b.sse_mode == "text":
            half = len(b.sse_text) // 2
            yield ev(
                content={"role": "model", "parts": [{"text": b.sse_text[:half]}]}, partial=True
            )
            yield ev(
                content={"role": "model", "parts": [{"text": b.sse_text[half:]}]}, partial=True
            )
        if text is not None:
            yield ev(content={"role": "model", "parts": [{"text": text}]}, partial=False)
        yield ev(turnComplete=True)

    async def render_start(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("render_start")) is not None:
            return fault
        body = await request.json()
        self.render_bodies.append(body)
        if body.get("sessionId") not in self.sessions:
            return _env(None, 1002, "session not found")
        rid = str(body.get("id"))
        if self.behaviour.render_start_seconds:
            await asyncio.sleep(self.behaviour.render_start_seconds)
        # a repeated id is the same render, as on the self-hosted backend
        self.renders.setdefault(rid, {"created": time.monotonic(), "polls": 0})
        return _env({"id": rid, "status": "queued"})

    async def render_status(self, request: Request) -> Response:
        self._seen(request)
        client = self._client(request)
        if isinstance(client, JSONResponse):
            return client
        if (fault := self._fault("render_status")) is not None:
            return fault
        rid = request.path_params["rid"]
        job = self.renders.get(rid)
        if job is None:
            return _env(None, 4004, "no such render")
        job["polls"] += 1
        b = self.behaviour
        if b.render_fail:
            return _env(
                {
                    "id": rid,
                    "status": "failed",
                    "progress": 40,
                    "error": {"code": 5000, "message": "encoder crashed"},
                }
            )
        elapsed = time.monotonic() - job["created"]
        if job["polls"] <= b.render_polls or elapsed < b.render_seconds:
            return _env({"id": rid, "status": "rendering", "progress": min(99, 10 * job["polls"])})
        if b.render_no_output:
            return _env({"id": rid, "status": "completed", "progress": 100})
        url = f"{self.base_url}/files/{rid}.mp4?sig=secret-signature&expires=9999999999"
        output = {
            "url": url,
            "expires_at": time.time() + 86400,
            "size": b.output_size,
            "duration_ms": 22000,
            "width": 1920,
            "height": 1080,
        }
        return _env({"id": rid, "status": "completed", "progress": 100, "output": output})

    async def files(self, request: Request) -> Response:
        self._seen(request)
        if request.query_params.get("sig") != "secret-signature":
            return _env(None, 4003, "bad signature")
        size = self.behaviour.output_size
        return Response(FAKE_MP4 + b"\x00" * max(0, size - len(FAKE_MP4)), media_type="video/mp4")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/healthz", self.healthz),
                Route("/api/auth/anonymous-token", self.token, methods=["POST"]),
                Route(
                    "/api/tasks/me/with-session/nemo_agent", self.create_session, methods=["POST"]
                ),
                Route("/api/credits/balance/simple", self.credits),
                Route("/api/state/nemo_agent/me/{sid}/latest", self.state),
                Route("/api/upload-video/nemo_agent/me/{sid}", self.upload, methods=["POST"]),
                Route("/run_sse", self.run_sse, methods=["POST"]),
                Route("/api/render/proxy/lambda", self.render_start, methods=["POST"]),
                Route("/api/render/proxy/lambda/{rid}", self.render_status),
                Route("/files/{name}", self.files),
            ]
        )

    # lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandIn:
        self._server = ThreadedServer(self.app(), "standin")
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


# Every console engine_harness made during the current test; conftest.py fails the test at
# teardown if one of them holds a reply the test never read (as Errbot's test backend does).
CONSOLES: list[ReadingConsole] = []


class ReadingConsole(ConsoleAdapter):
    """The programmatic console, keeping track of which replies the test has read: a reply is
    read once `records`, `sent`, `texts` (or the `texts()` / `progress()` helpers) returned it."""

    def __init__(self, engine: Any, output_dir: Path) -> None:
        super().__init__(engine, output_dir=output_dir, echo=False)
        self.read: set[int] = set()  # id() of each Recorded returned to the test
        CONSOLES.append(self)

    def records(self, kind: type = object, chat_id: str | None = None) -> list[Recorded]:
        """The recorded sends and edits of one kind (and chat), in order; they count as read."""
        found = [
            r
            for r in self.outputs
            if isinstance(r.out, kind) and (chat_id is None or r.chat_id == chat_id)
        ]
        self.read.update(id(r) for r in found)
        return found

    def sent(self, kind: type, chat_id: str | None = None) -> list[Outbound]:
        return [r.out for r in self.records(kind, chat_id)]

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [render(r.out) for r in self.records(object, chat_id)]

    def unread(self) -> list[str]:
        """The replies no accessor has returned yet. Progress lines (a status edited in place
        while a job runs, like a typing indicator) are not replies and need not be read."""
        return [
            f"{r.chat_id}: {type(r.out).__name__} {render(r.out)}"
            for r in self.outputs
            if id(r) not in self.read and not isinstance(r.out, Progress)
        ]


@asynccontextmanager
async def engine_harness(base_url: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Any]:
    """A real Engine over a real SQLite file in `tmp_path` (or the PostgreSQL of a
    ``database_url`` setting), with the programmatic console."""
    from bot.client import BackendClient
    from bot.engine import Engine
    from bot.settings import Settings
    from storage.postgres import open_chat_store

    defaults: dict[str, Any] = {
        "api_base": base_url,
        "data_dir": tmp_path / "data",
        "output_dir": tmp_path / "output",
        "still_working_seconds": 60.0,
        "rate_limit_retry_seconds": 0.05,
        "render_poll_initial_seconds": 0.02,
        "render_poll_max_seconds": 0.1,
    }
    defaults.update(settings)
    cfg = Settings(**defaults)
    client = BackendClient(base_url, timeout=10.0, sse_read_timeout=cfg.sse_read_timeout_seconds)
    store = await open_chat_store(cfg.store_target)
    engine = Engine(client, store, cfg)
    console = ReadingConsole(engine, cfg.output_dir)
    try:
        yield engine, console
    finally:
        await engine.aclose()
        await store.close()
        await client.aclose()


def texts(console: Any, chat: str | None = None) -> list[str]:
    """The Text replies the console recorded, for one chat or (None) all of them."""
    from bot.messages import Text

    return [o.text for o in console.sent(Text, chat) if isinstance(o, Text)]


def progress(console: Any, chat: str | None = None) -> list[str]:
    """The progress lines (each send and edit) the console recorded."""
    from bot.messages import Progress

    return [o.text for o in console.sent(Progress, chat) if isinstance(o, Progress)]


def buttons(console: Any, chat: str | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The button rows the console recorded: (text, [(label, command), ...]) each."""
    from bot.messages import Buttons

    return [
        (o.text, [(b.label, b.command) for b in o.buttons])
        for o in console.sent(Buttons, chat)
        if isinstance(o, Buttons)
    ]


def next_steps(lang: str = "en") -> tuple[str, list[tuple[str, str]]]:
    """The row of buttons offered after a voiceover, in the chat's language."""
    from bot.texts import t

    return (
        t("next_steps", lang),
        [
            (t("button_export", lang), "export"),
            (t("button_slower", lang), "slower"),
            (t("button_vertical", lang), "make it vertical"),
        ],
    )
