"""A round-robin reverse proxy for tests, on 127.0.0.1, in front of the backend's API replicas.

Each request goes to the next replica in turn, as a plain load balancer without sticky sessions
sends them, so the end-to-end tests and the bot's client run unchanged against a cluster with
``base_url`` = the proxy. Bodies stream both ways (uploads up, SSE turns and files down), the Host
header is the proxy's (links the backend builds point at the balancer), and a replica that refuses
the connection is skipped. ``served`` counts the requests each replica answered.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from tests.support.threaded import ThreadedServer

# Hop-by-hop headers (RFC 9110 section 7.6.1): each connection's own, never forwarded.
HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}


class RoundRobinProxy:
    """``start()``, then use ``url`` as the backend's base URL."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams  # base URLs, e.g. http://127.0.0.1:8001
        self.served: Counter[int] = Counter()  # upstream index -> requests it answered
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None  # made on the server's own event loop
        self._server: ThreadedServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> list[int]:
        """Requests answered by each upstream, in the order of ``upstreams``."""
        with self._lock:
            return [self.served[i] for i in range(len(self.upstreams))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        response = await self.forward(Request(scope, receive))
        await response(scope, receive, send)

    async def forward(self, request: Request) -> Response:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(connect=10.0, read=None, write=120.0, pool=30.0)
            )
        headers = [(k, v) for k, v in request.headers.raw if k.lower() not in HOP]
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        body = request.stream() if has_body else None
        start = next(self._turn)
        for step in range(len(self.upstreams)):
            index = (start + step) % len(self.upstreams)
            target = httpx.URL(self.upstreams[index] + request.url.path).copy_with(
                query=request.url.query.encode() or None
            )
            upstream = self._client.build_request(
                request.method, target, headers=headers, content=body
            )
            try:
                answer = await self._client.send(upstream, stream=True)
            except httpx.ConnectError:
                continue  # that replica is down (nothing of the body was read yet): the next one
            with self._lock:
                self.served[index] += 1
            response = StreamingResponse(
                answer.aiter_raw(),
                status_code=answer.status_code,
                background=BackgroundTask(answer.aclose),
            )
            response.raw_headers = [(k, v) for k, v in answer.headers.raw if k.lower() not in HOP]
            return response
        return Response("no replica is up", status_code=502)

    def start(self) -> RoundRobinProxy:
        self._server = ThreadedServer(self, "round-robin proxy")
        self.port = self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
