"""Every route of the served schema, hit with broken input made by hand (issue 11, class 1): bad JSON,
wrong types, huge headers, bad multipart, bodies cut off mid-way, wrong methods. Against the REAL
backend on 127.0.0.1: no reply is a 500 or a 5000, and nothing is logged as an unhandled error.

tests/test_openapi.py fuzzes with schemathesis from the schema; these are the cases a schema-driven
fuzzer does not write (raw bytes on the socket, lies in the headers)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import hostile as H
from tests.support.backend import ATTRIBUTION, Api, BackendProcess

BODIES: dict[str, tuple[str, bytes]] = {
    "bad json": ("application/json", b'{"session_id": '),
    "json array": ("application/json", b"[1, 2, 3]"),
    "json string": ("application/json", b'"hello"'),
    "wrong types": (
        "application/json",
        b'{"session_id": 5, "sessionId": [], "new_message": "x", "urls": {"a": 1}, '
        b'"draft": 7, "id": {}, "task_name": [1], "language": false, "output": "x"}',
    ),
    "nulls": ("application/json", b'{"session_id": null, "new_message": {"parts": null}}'),
    "deep": ("application/json", b"[" * 5000 + b"]" * 5000),
    "nan": ("application/json", b'{"x": NaN, "y": 1e999999}'),
    "bad utf-8": ("application/json", b'{"task_name": "\xff\xfe\xfa"}'),
    "multipart no boundary": ("multipart/form-data", b"--x\r\n\r\n"),
    "multipart long boundary": (
        "multipart/form-data; boundary=" + "b" * 400,
        b"--" + b"b" * 400 + b"\r\n",
    ),
    "multipart garbage": ("multipart/form-data; boundary=BND", b"\x00\xff" * 500),
    "multipart bad headers": (
        "multipart/form-data; boundary=BND",
        b"--BND\r\nContent-Disposition: form-data; name=files; filename\r\n\r\nx\r\n--BND--\r\n",
    ),
    "multipart header flood": (
        "multipart/form-data; boundary=BND",
        b"--BND\r\n" + b"X-A: " + b"a" * 100_000 + b"\r\n\r\nx\r\n--BND--\r\n",
    ),
    "form urlencoded": ("application/x-www-form-urlencoded", b"a=1&b=%ZZ"),
    "xml": ("application/xml", b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><x>&e;</x>"),
}


@pytest.fixture(scope="module")
def walker(backend: BackendProcess) -> Iterator[tuple[BackendProcess, Api, list[tuple[str, str]]]]:
    api = Api(backend.url)
    schema: dict[str, Any] = httpx.get(backend.url + "/openapi.json", timeout=30).json()
    link = api.post(f"/api/upload-link/nemo_agent/me/{api.sid}").json()["data"]["url"]
    query = link.split("?", 1)[1]
    routes = []
    for path, ops in schema["paths"].items():
        real = (
            path.replace("{sid}", api.sid)
            .replace("{job_id}", "render_nope")
            .replace("{name}", "render_nope.mp4")
        )
        if real.startswith("/upload/"):
            real += "?" + query
        routes.extend((method.upper(), real) for method in ops)
    assert len(routes) >= 13
    yield backend, api, routes
    api.close()


def crashes(backend: BackendProcess) -> int:
    return (backend.data_dir / "backend.log").read_text(errors="replace").count("unhandled error")


def _status(reply: bytes) -> int:
    line = reply.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


def _head(method: str, path: str, token: str, extra: str = "") -> str:
    auth = f"Authorization: Bearer {token}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in ATTRIBUTION.items()
    )
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}{extra}"


def test_every_route_with_every_broken_body(
    walker: tuple[BackendProcess, Api, list[tuple[str, str]]],
) -> None:
    backend, api, routes = walker
    before = crashes(backend)
    seen: dict[int, int] = {}
    for method, path in routes:
        for what, (ctype, body) in BODIES.items():
            head = _head(method, path, api.token)
            head += (
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            reply = H.raw_request(backend.port, head.encode() + body)
            status = _status(reply)
            seen[status] = seen.get(status, 0) + 1
            assert status and status < 500, (method, path, what, reply[:300])
            assert b'"code":5000' not in reply, (method, path, what)
    assert crashes(backend) == before
    assert seen.get(200, 0) < sum(seen.values())  # most of it was refused


def test_every_route_with_a_body_cut_off_mid_way(
    walker: tuple[BackendProcess, Api, list[tuple[str, str]]],
) -> None:
    """The client promises 10,000 bytes, sends 20 and hangs up (half-close or reset)."""
    backend, api, routes = walker
    before = crashes(backend)
    for method, path in routes:
        for ctype, body in (
            ("application/json", b'{"session_id": "abc'),
            ("multipart/form-data; boundary=BND", b"--BND\r\nContent-Disp"),
        ):
            head = _head(method, path, api.token)
            head += f"Content-Type: {ctype}\r\nContent-Length: 10000\r\n\r\n"
            reply = H.raw_request(backend.port, head.encode() + body, timeout=10, half_close=True)
            assert not reply or _status(reply) < 500, (method, path, reply[:300])
    r = api.get("/api/credits/balance/simple")  # still serving
    assert r.status_code == 200
    assert crashes(backend) == before
    assert list(backend.data_dir.rglob("*.part")) == []


def test_every_route_with_huge_and_broken_headers(
    walker: tuple[BackendProcess, Api, list[tuple[str, str]]],
) -> None:
    backend, api, routes = walker
    before = crashes(backend)
    for method, path in routes:
        for extra in (
            "X-Big: " + "a" * 200_000 + "\r\n",  # one header far over the server's limit
            "".join(f"X-H{i}: {i}\r\n" for i in range(2000)),  # many headers
            "Accept-Language: " + "zh-CN," * 10_000 + "\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 99999999999999999999999\r\n",
            "Content-Length: 1\r\nContent-Length: 2\r\n",
            "Transfer-Encoding: chunked\r\n",  # followed by no chunks, then a hang-up
            "Content-Type: multipart/form-data; boundary=\r\n",
            "Authorization: Bearer " + "\u00e9" * 50 + "\r\n",
            "Cookie: " + "c=" * 30_000 + "\r\n",
        ):
            head = _head(method, path, api.token, extra) + "Connection: close\r\n\r\n"
            reply = H.raw_request(
                backend.port, head.encode("utf-8", "surrogateescape"), timeout=10, half_close=True
            )
            assert not reply or _status(reply) < 500, (method, path, extra[:60], reply[:300])
            assert b'"code":5000' not in reply
    assert crashes(backend) == before


def test_every_route_with_every_wrong_method(
    walker: tuple[BackendProcess, Api, list[tuple[str, str]]],
) -> None:
    backend, api, routes = walker
    before = crashes(backend)
    paths = {path for _, path in routes}
    allowed = {(m, p) for m, p in routes}
    for path in paths:
        for method in ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"):
            if (method, path) in allowed:
                continue
            head = _head(method, path, api.token) + "Content-Length: 0\r\nConnection: close\r\n\r\n"
            reply = H.raw_request(backend.port, head.encode(), timeout=10)
            status = _status(reply)
            assert status in (400, 404, 405), (method, path, reply[:300])
    assert crashes(backend) == before


def test_requests_that_are_not_http_at_all(backend: BackendProcess) -> None:
    before = crashes(backend)
    for junk in (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(200),  # a TLS hello
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET " + b"/" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\r\n" * 1000,
        bytes(range(256)) * 10,
    ):
        with socket.create_connection(("127.0.0.1", backend.port), timeout=10) as sock:
            try:
                sock.sendall(junk)
                reply = sock.recv(65536)
            except OSError:
                reply = b""
        assert not reply or _status(reply) < 500, reply[:200]
    assert httpx.get(backend.url + "/healthz").status_code == 200
    assert crashes(backend) == before
