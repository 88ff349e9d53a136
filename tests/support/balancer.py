"""A round-robin HTTP load balancer for tests, on 127.0.0.1, in front of bot replicas in webhook mode.

It does what a plain load balancer in front of Telegram webhooks does: each POST goes to the next
upstream in turn (so consecutive updates of one chat land on different replicas), a replica that
refuses connections is skipped (a passive health check), and its answer is passed back. It can be
told to lose the next answer (`lose_answers`): the upstream got and took the update, but the caller
sees a 504, as when the balancer's upstream timeout fires first; Telegram then sends it again.
"""

from __future__ import annotations

import itertools
import threading

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.threaded import ThreadedServer


class RoundRobin:
    """`start()`, then point a webhook at `url(path)`; `routed` says which upstream got what."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams  # base URLs, e.g. http://127.0.0.1:8001
        self.routed: list[tuple[int, int]] = []  # (upstream index, its HTTP status)
        self.lose_answers = 0
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._server: ThreadedServer | None = None
        self.port = 0

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def for_upstream(self, index: int) -> list[int]:
        """The statuses of the requests upstream `index` answered."""
        with self._lock:
            return [status for i, status in self.routed if i == index]

    async def forward(self, request: Request) -> Response:
        body = await request.body()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in ("host", "content-length", "connection")
        }
        start = next(self._turn)
        async with httpx.AsyncClient(timeout=30.0) as client:
            for step in range(len(self.upstreams)):
                index = (start + step) % len(self.upstreams)
                target = self.upstreams[index] + request.url.path
                try:
                    answer = await client.post(target, content=body, headers=headers)
                except httpx.ConnectError:
                    continue  # that replica is down: the next one
                with self._lock:
                    self.routed.append((index, answer.status_code))
                    lose = self.lose_answers > 0
                    self.lose_answers -= int(lose)
                if lose:
                    return Response(status_code=504)
                return Response(answer.content, status_code=answer.status_code)
        return Response(status_code=502)  # no replica up

    def start(self) -> RoundRobin:
        app = Starlette(routes=[Route("/{path:path}", self.forward, methods=["POST"])])
        self._server = ThreadedServer(app, "balancer")
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
