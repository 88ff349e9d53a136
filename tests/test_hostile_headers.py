"""Slow request heads (slowloris, issue 11 class 4): the real backend on 127.0.0.1 with a 2 s head
deadline. uvicorn alone kept a silent connection, or one sending its headers a byte at a time, open
forever (its keep-alive timer stops at the first byte); honest clients must not notice the deadline."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.support.backend import Api, BackendProcess

DEADLINE = 2.0
HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    proc = BackendProcess(
        tmp_path_factory.mktemp("heads"),
        env={"VOBACKEND_HEADER_TIMEOUT_SECONDS": str(DEADLINE)},
    )
    proc.start()
    yield proc
    proc.stop()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has hung up (EOF or reset) without answering."""
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def trickle(sock: socket.socket, data: bytes, every: float) -> int:
    """Send ``data`` a byte at a time until the server hangs up: how many bytes it took."""
    sock.settimeout(every)
    for i, byte in enumerate(data):
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return i
        if closed_by_server(sock):
            return i + 1
    return len(data)


def test_a_silent_connection_is_closed(backend: BackendProcess) -> None:
    with socket.create_connection(("127.0.0.1", backend.port)) as sock:
        sock.settimeout(30)  # a guard against a hang, far past the deadline
        assert closed_by_server(sock)


def test_a_head_sent_a_byte_at_a_time_is_cut_off(backend: BackendProcess) -> None:
    """0.25 s a byte: the 240-byte head would take a minute; the server hangs up long before."""
    with socket.create_connection(("127.0.0.1", backend.port)) as sock:
        sent = trickle(sock, HEAD, every=0.25)
    assert sent < len(HEAD) // 2, sent


def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(
    backend: BackendProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", backend.port)) as sock:
        sock.settimeout(30)
        sock.sendall(HEAD)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sent = trickle(sock, HEAD, every=0.25)
    assert sent < len(HEAD) // 2, sent


def test_a_slow_but_timely_head_and_a_slow_body_are_served(backend: BackendProcess) -> None:
    """Honest clients: a head that takes a second, then a body that comes after the deadline
    (bodies have their own rules: upload pace, sizes), each get their answer."""
    api = Api(backend.url)
    body = b'{"task_name":"project","language":"en"}'
    head = (
        f"POST /api/tasks/me/with-session/nemo_agent HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {api.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    api.close()
    with socket.create_connection(("127.0.0.1", backend.port)) as sock:
        sock.settimeout(30)
        for piece in (head[:20], head[20:60], head[60:]):
            sock.sendall(piece)
            time.sleep(DEADLINE / 5)
        time.sleep(DEADLINE * 1.5)  # the head is in: its deadline no longer applies
        sock.sendall(body)
        reply = sock.recv(65536)
        while b"}}" not in reply and (more := sock.recv(65536)):  # the body may come apart
            reply += more
    assert reply.startswith(b"HTTP/1.1 200") and b"session_id" in reply, reply
