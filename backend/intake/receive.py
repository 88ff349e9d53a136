"""Receiving files: streamed multipart and URL downloads, size-checked as bytes arrive.

Nothing is held in memory: parts go straight to ``.part`` files, which are renamed only once the
content has been checked, and deleted on any error, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import httpx
from python_multipart.multipart import (
    MAX_BOUNDARY_LENGTH,
    MultipartParser,
    MultipartState,
    parse_options_header,
)

from backend.core.errors import BAD_INPUT, BAD_REQUEST, TOO_LARGE, ApiError
from backend.core.i18n import t
from backend.core.types import Received
from backend.intake.safe_http import RefusedAddress, refused_address, resolve

log = logging.getLogger(__name__)

MAX_FILES = 10  # files of one multipart upload, and links of one URL upload: one limit, one message
MAX_PART_HEADER = 64 * 1024  # a long file name (5,000 chars, percent-encoded) still fits
INFLATE_STEP = 256 * 1024  # a compressed download is inflated this much at a time, never more


@dataclass(frozen=True)
class Pace:
    """How slowly a body may arrive: after ``grace`` seconds, at least ``min_rate`` bytes a second
    on average since the start, and all of it within ``deadline`` seconds."""

    min_rate: float
    grace: float
    deadline: float


def size_text(size: int) -> str:
    """``524288000`` -> ``500 MB``; ``1536`` -> ``1.5 KB`` (for messages)."""
    value, unit = float(size), "bytes"
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if value >= 10 or unit == "bytes" else f"{value:.1f} {unit}"


def too_large(lang: str, limit: int) -> ApiError:
    return ApiError(TOO_LARGE, t("too_large", lang, limit=size_text(limit)))


def check_count(count: int, lang: str) -> None:
    """4000 past ``MAX_FILES`` items in one upload (files or links): refused, never cut short."""
    if count > MAX_FILES:
        raise ApiError(BAD_REQUEST, t("too_many_files", lang, limit=MAX_FILES))


async def paced(body: AsyncIterator[bytes], pace: Pace, lang: str) -> AsyncIterator[bytes]:
    """``body``'s chunks, or 4000 once it arrives slower than ``pace`` allows (a client trickling a
    byte a second would otherwise hold a descriptor and a ``.part`` file for as long as it likes)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    got = 0
    chunks = body.__aiter__()
    while True:
        # The next chunk is due before the average rate falls under min_rate (or the deadline).
        due = min(start + pace.deadline, start + max(pace.grace, got / max(pace.min_rate, 1e-9)))
        try:
            async with asyncio.timeout(max(0.0, due - loop.time())):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(
                BAD_REQUEST,
                t(
                    "upload_too_slow",
                    lang,
                    rate=size_text(int(pace.min_rate)),
                    minutes=max(1, round(pace.deadline / 60)),
                ),
            ) from None
        got += len(chunk)
        yield chunk


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    received: Received | None = None
    fh: IO[bytes] | None = None


@dataclass
class _HeaderState:
    part: _Part = field(default_factory=_Part)
    field: bytes = b""
    value: bytes = b""


def _new_part_path(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{uuid.uuid4().hex}.part"


def discard(files: list[Received]) -> None:
    for item in files:
        with contextlib.suppress(FileNotFoundError):
            item.path.unlink()


async def receive_multipart(
    content_type: str,
    body: AsyncIterator[bytes],
    folder: Path,
    limit: int,
    lang: str,
    pace: Pace | None = None,
) -> list[Received]:
    """Stream the ``files`` parts of a multipart body into ``folder``. Raises 4002 past ``limit``
    bytes a file, 4000 for a malformed, cut-off or (with ``pace``) too slow body."""
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(BAD_REQUEST, t("bad_request", lang, reason="expected multipart/form-data"))
    if len(boundary) > MAX_BOUNDARY_LENGTH:  # RFC 2046 allows 70; the parser refuses over 256
        raise ApiError(
            BAD_REQUEST,
            t("bad_request", lang, reason="the multipart boundary is longer than 70 characters"),
        )

    files: list[Received] = []
    pending: list[tuple[_Part, bytes]] = []
    cur = _HeaderState()

    def on_part_begin() -> None:
        cur.part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        cur.field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        cur.value += data[start:end]

    def on_header_end() -> None:
        cur.part.headers[cur.field.lower()] = cur.value
        cur.field, cur.value = b"", b""

    def on_headers_finished() -> None:
        part = cur.part
        _, disp = parse_options_header(part.headers.get(b"content-disposition", b""))
        if disp.get(b"name") in (b"files", b"file") and b"filename" in disp:
            check_count(len(files) + 1, lang)
            name = disp[b"filename"].decode("utf-8", "replace")
            part.received = Received(name=name, path=_new_part_path(folder))
            files.append(part.received)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = cur.part
        if part.received is None:
            return
        part.received.size += end - start
        if part.received.size > limit:
            raise too_large(lang, limit)
        pending.append((part, data[start:end]))

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
        max_header_size=MAX_PART_HEADER,
    )

    def flush(batch: list[tuple[_Part, bytes]]) -> None:
        for part, chunk in batch:
            if part.fh is None:
                assert part.received is not None
                part.fh = part.received.path.open("wb")
            part.fh.write(chunk)

    parts_open: list[_Part] = []
    cut_off = t("bad_request", lang, reason="the upload was cut off or malformed")
    try:
        async for chunk in paced(body, pace, lang) if pace else body:
            parser.write(chunk)
            if pending:
                batch, pending[:] = list(pending), []
                parts_open.extend(p for p, _ in batch if p not in parts_open)
                await asyncio.to_thread(flush, batch)
        parser.finalize()
        if parser.state != MultipartState.END:  # no closing boundary: the body was cut off
            raise ApiError(BAD_REQUEST, cut_off)
    except ApiError:
        _close(parts_open)
        discard(files)
        raise
    except Exception as exc:
        _close(parts_open)
        discard(files)
        raise ApiError(BAD_REQUEST, cut_off) from exc
    except BaseException:  # cancelled (the server stopping): still nothing left behind
        _close(parts_open)
        discard(files)
        raise
    _close(parts_open)
    for item in files:
        if not item.path.exists():  # a zero-byte part never opened a file
            item.path.touch()
    if not files:
        raise ApiError(BAD_REQUEST, t("no_files", lang))
    return files


def _close(parts: list[_Part]) -> None:
    for part in parts:
        if part.fh is not None:
            part.fh.close()


async def check_url(url: str, allow_private: bool, lang: str) -> None:
    """Refuse non-http(s) URLs and hosts that resolve to loopback, private or link-local ranges (SSRF)."""
    try:  # "http://[::1" and "http://host:99999/" do not parse: ValueError
        parts = urlsplit(url)
        scheme, host, port = parts.scheme, parts.hostname, parts.port
    except ValueError as exc:
        raise ApiError(BAD_INPUT, t("bad_url", lang, url=url[:200])) from exc
    if scheme not in ("http", "https") or not host:
        raise ApiError(BAD_INPUT, t("bad_url", lang, url=url[:200]))
    if allow_private:
        return
    try:
        addrs = await resolve(host, port or 443)
    except socket.gaierror as exc:
        raise ApiError(
            BAD_INPUT, t("url_failed", lang, url=url[:200], reason="the host name does not resolve")
        ) from exc
    # Checked again, on the address actually dialled, when connecting (backend.intake.safe_http); this
    # early check gives the clear message before any request is made.
    if any(refused_address(a) for a in addrs):
        raise ApiError(BAD_INPUT, t("private_url", lang, url=url[:200]))


def _failure(exc: Exception) -> str:
    """Why a download failed, in words a person understands."""
    if isinstance(exc, httpx.TimeoutException):
        return "the server did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "the server could not be reached"
    if isinstance(exc, httpx.RemoteProtocolError):
        if "incomplete" in str(exc).lower() or "peer closed" in str(exc).lower():
            return "the server closed the connection before sending the whole file"
        return "the server sent an answer that is not valid HTTP"
    if isinstance(exc, httpx.DecodingError | zlib.error):
        return "the server sent a compressed file that could not be unpacked"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke during the download"
    return "the download failed"


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    folder: Path,
    limit: int,
    allow_private: bool,
    max_redirects: int,
    lang: str,
    total_seconds: float = 300.0,
) -> Received:
    """Download one URL into ``folder``, following at most ``max_redirects`` redirects, each
    re-checked, all within ``total_seconds`` (a source sending a byte now and then is cut off)."""
    current = url
    try:
        async with asyncio.timeout(total_seconds):
            for _ in range(max_redirects + 1):
                await check_url(current, allow_private, lang)
                try:
                    item = await _fetch_one(client, current, url, folder, limit, lang)
                except RefusedAddress as exc:  # resolved differently at connect time (rebinding)
                    raise ApiError(BAD_INPUT, t("private_url", lang, url=url[:200])) from exc
                except (httpx.HTTPError, httpx.InvalidURL, zlib.error) as exc:
                    reason = _failure(exc)  # unreachable, too slow, cut off, garbled...
                    raise ApiError(
                        BAD_INPUT, t("url_failed", lang, url=url[:200], reason=reason)
                    ) from exc
                if isinstance(item, str):
                    current = item
                    continue
                return item
    except TimeoutError as exc:
        reason = f"the download took longer than {total_seconds:.0f} seconds"
        raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason=reason)) from exc
    raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason="too many redirects"))


def _decoder(encoding: str) -> Any:
    """A zlib decompressor for a Content-Encoding (None: the body is as it is)."""
    names = [e.strip().lower() for e in encoding.split(",") if e.strip()]
    names = [e for e in names if e != "identity"]
    if not names:
        return None
    if names == ["gzip"] or names == ["x-gzip"]:
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if names == ["deflate"]:
        return zlib.decompressobj(32 + zlib.MAX_WBITS)  # zlib-wrapped (raw deflate is refused)
    raise httpx.DecodingError(f"unsupported content encoding {encoding!r}")


def _inflate(decoder: Any, data: bytes) -> Iterator[bytes]:
    """``data`` inflated INFLATE_STEP bytes at a time, so a bomb never sits in memory whole."""
    while data:
        piece = decoder.decompress(data, INFLATE_STEP)
        if piece:
            yield piece
        data = decoder.unconsumed_tail
        if decoder.eof:
            return  # bytes after the end of the compressed stream are ignored


def _write_decoded(
    decoder: Any, raw: bytes | None, fh: IO[bytes], size: int, limit: int, lang: str
) -> int:
    """Write ``raw`` (inflated when there is a decoder; None: the decoder's last bytes) to ``fh``:
    the size so far. The decoded size counts against the cap (4002 past it)."""
    if decoder is None:
        pieces: Iterator[bytes] = iter((raw or b"",))
    elif raw is None:
        pieces = iter((decoder.flush(),))
    else:
        pieces = _inflate(decoder, raw)
    for chunk in pieces:
        size += len(chunk)
        if size > limit:
            raise too_large(lang, limit)
        fh.write(chunk)
    return size


async def _fetch_one(
    client: httpx.AsyncClient, current: str, url: str, folder: Path, limit: int, lang: str
) -> Received | str:
    """One GET: the file, or where a redirect points. Compressed bodies are inflated here with a
    cap on the inflated size (httpx would inflate a whole chunk at once)."""
    headers = {"Accept-Encoding": "gzip, deflate"}
    async with client.stream("GET", current, follow_redirects=False, headers=headers) as resp:
        if resp.is_redirect:
            return str(resp.url.join(resp.headers.get("location", "")))
        if resp.status_code != 200:
            reason = f"the server answered {resp.status_code}"
            raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason=reason))
        decoder = _decoder(resp.headers.get("content-encoding", ""))
        declared = resp.headers.get("content-length", "").strip()
        if decoder is None and declared.isdigit() and int(declared) > limit:
            raise too_large(lang, limit)
        item = Received(name=_name_from(resp, current), path=_new_part_path(folder))
        try:
            with item.path.open("wb") as fh:
                async for raw in resp.aiter_raw(64 * 1024):
                    # inflating (a bomb: 8 MB from 64 KB) and writing off the event loop
                    item.size = await asyncio.to_thread(
                        _write_decoded, decoder, raw, fh, item.size, limit, lang
                    )
                if decoder is not None:
                    item.size = await asyncio.to_thread(
                        _write_decoded, decoder, None, fh, item.size, limit, lang
                    )
        except BaseException:
            discard([item])
            raise
        return item


def _name_from(resp: httpx.Response, url: str) -> str:
    disp = resp.headers.get("content-disposition", "")
    if "filename=" in disp:
        _, params = parse_options_header(disp.encode())
        if b"filename" in params:
            return params[b"filename"].decode("utf-8", "replace")
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "download"
