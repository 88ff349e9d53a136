"""Hostile inputs built by hand for the upload tests: zips whose headers lie, a raw-socket HTTP server
that misbehaves on purpose (short bodies, absurd lengths, trickles, gzip bombs, redirects to closed
ports), and raw requests that the normal clients refuse to send."""

from __future__ import annotations

import gzip
import re
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    b'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    b'"application/xml"/><Override PartName="/word/document.xml" ContentType="application/'
    b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats'
    b'.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    b'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target='
    b'"word/document.xml"/></Relationships>'
)


@dataclass
class Member:
    """One zip member as stored: ``data`` is already compressed with ``method`` (0 stored,
    8 deflate); ``declared`` is the uncompressed size the headers claim (None: the true one)."""

    name: str
    data: bytes
    method: int = 8
    crc: int = 0
    size: int = 0
    declared: int | None = None


def deflated(name: str, raw: bytes, declared: int | None = None) -> Member:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = co.compress(raw) + co.flush()
    return Member(name, data, 8, zlib.crc32(raw), len(raw), declared)


def deflated_zeros(name: str, size: int, declared: int | None = None) -> Member:
    """``size`` bytes of spaces, deflated in chunks (never held in memory at once)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = b" " * (1024 * 1024)
    parts, crc, left = [], 0, size
    while left > 0:
        piece = chunk[: min(left, len(chunk))]
        parts.append(co.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(co.flush())
    return Member(name, b"".join(parts), 8, crc, size, declared)


def build_zip(members: list[Member]) -> bytes:
    """A zip whose local and central headers say what each Member says (lies included)."""
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        size = m.size if m.declared is None else m.declared
        offset = len(out)
        out += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            m.method,
            0,
            0,
            m.crc,
            len(m.data),
            size,
            len(name),
            0,
        )
        out += name + m.data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            m.method,
            0,
            0,
            m.crc,
            len(m.data),
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
    start = len(out)
    out += central
    out += struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), start, 0
    )
    return bytes(out)


def document_xml(body: bytes) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{W_NS}"><w:body>'.encode()
        + body
        + b"</w:body></w:document>"
    )


def docx_with(document: Member) -> bytes:
    return build_zip(
        [deflated("[Content_Types].xml", CONTENT_TYPES), deflated("_rels/.rels", RELS), document]
    )


def lying_docx(inflated: int = 1500 * 1024 * 1024, declared: int = 2000) -> bytes:
    """A DOCX whose document.xml says it is ``declared`` bytes and inflates to ``inflated``."""
    return docx_with(deflated_zeros("word/document.xml", inflated, declared))


def empty_paragraphs_docx(count: int) -> bytes:
    return docx_with(deflated("word/document.xml", document_xml(b"<w:p/>" * count)))


def text_docx(*paragraphs: str) -> bytes:
    body = b"".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>".encode() for p in paragraphs)
    return docx_with(deflated("word/document.xml", document_xml(body)))


# A raw-socket HTTP server for URL uploads that misbehaves on purpose.

Behaviour = Callable[[socket.socket, str], None]


def _send(sock: socket.socket, head: str, body: bytes = b"") -> None:
    sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)


def short_body(sock: socket.socket, path: str) -> None:
    _send(sock, "HTTP/1.1 200 OK\nContent-Length: 5000\nConnection: close\n", b"only a little")


def absurd_length(sock: socket.socket, path: str) -> None:
    _send(sock, "HTTP/1.1 200 OK\nContent-Length: 99999999999999999999999999\n", b"hi")


def negative_length(sock: socket.socket, path: str) -> None:
    _send(sock, "HTTP/1.1 200 OK\nContent-Length: -5\n", b"hi")


def trickle(sock: socket.socket, path: str) -> None:
    """One byte every 1.5 s, forever (until the reader hangs up)."""
    _send(sock, "HTTP/1.1 200 OK\nContent-Length: 100000\n")
    while True:
        time.sleep(1.5)
        sock.sendall(b"a")


def gzip_bomb(sock: socket.socket, path: str) -> None:
    """64 MB of spaces gzip-encoded into ~64 KB (the cap in the tests is far below 64 MB)."""
    body = gzip.compress(b" " * (64 * 1024 * 1024), 9)
    _send(
        sock,
        f"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Encoding: gzip\n"
        f"Content-Length: {len(body)}\n",
        body,
    )


def gzip_script(sock: socket.socket, path: str) -> None:
    body = gzip.compress(b"Lumen is a lamp. It is bright and kind to your eyes.")
    _send(
        sock,
        f"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Encoding: gzip\n"
        f"Content-Length: {len(body)}\n",
        body,
    )


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once it is closed


def redirect_to_closed_port(sock: socket.socket, path: str) -> None:
    _send(
        sock,
        f"HTTP/1.1 302 Found\nLocation: http://127.0.0.1:{closed_port()}/x.txt\n"
        "Content-Length: 0\n",
    )


BEHAVIOURS: dict[str, Behaviour] = {
    "/short.txt": short_body,
    "/absurd.txt": absurd_length,
    "/negative.txt": negative_length,
    "/trickle.txt": trickle,
    "/bomb.txt": gzip_bomb,
    "/gzip.txt": gzip_script,
    "/redirect-closed": redirect_to_closed_port,
}


@contextmanager
def hostile_server() -> Iterator[str]:
    """A server on 127.0.0.1 answering each path of BEHAVIOURS its own bad way; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()

    def handle(sock: socket.socket) -> None:
        with sock:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                path = request.split(b" ", 2)[1].decode()
                BEHAVIOURS.get(path, short_body)(sock, path)
                sock.shutdown(socket.SHUT_WR)
                sock.settimeout(5)
                while sock.recv(65536):
                    pass
            except OSError:
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(sock,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def raw_request(port: int, data: bytes, timeout: float = 20, half_close: bool = False) -> bytes:
    """Send ``data`` as it is and read the reply until the server closes or ``timeout``
    (``half_close``: shut our side down after sending, which servers take as a hang-up)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reply = b""
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server refused the rest (a reset): what it said, if anything
            pass
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:  # timeout, or reset after its reply
            pass
    return reply


def multipart(boundary: bytes, files: list[tuple[str, bytes]], closed: bool = True) -> bytes:
    out = b""
    for name, data in files:
        out += (
            b"--"
            + boundary
            + b'\r\nContent-Disposition: form-data; name="files"; filename="'
            + name.encode()
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + data
            + b"\r\n"
        )
    if closed:
        out += b"--" + boundary + b"--\r\n"
    return out


def trickle_upload(
    port: int, path: str, token: str, text: bytes, limit: float
) -> tuple[float, bytes]:
    """A multipart upload of ``text`` sent one byte every 0.2 s until the server answers (or
    ``limit`` seconds pass): (seconds until it answered, its reply)."""
    body = multipart(b"BND", [("slow.txt", text)])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=BND\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
    )
    started = time.monotonic()
    sock.settimeout(0.2)
    reply = b""
    with sock:
        for byte in body:
            try:
                reply = sock.recv(65536)
                break
            except TimeoutError:
                pass
            except OSError:
                break
            if time.monotonic() - started > limit:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
        sock.settimeout(5)
        try:
            reply = reply or sock.recv(65536)
        except OSError:
            pass
        took = time.monotonic() - started
        reply += _rest_of_reply(sock, reply)  # a busy server may send the body in a second packet
    return took, reply


def _rest_of_reply(sock: socket.socket, reply: bytes) -> bytes:
    """What is still to come of an HTTP reply whose head (and maybe part of its body) is in."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if not sep or not match:
        return b""
    more = b""
    try:
        while len(body) + len(more) < int(match.group(1)):
            chunk = sock.recv(65536)
            if not chunk:
                break
            more += chunk
    except OSError:
        pass
    return more


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")
