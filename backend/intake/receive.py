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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

import httpx
from python_multipart.multipart import MultipartParser, parse_options_header

from backend.core.errors import BAD_INPUT, BAD_REQUEST, TOO_LARGE, ApiError
from backend.core.i18n import t
from backend.core.types import Received
from backend.intake.safe_http import RefusedAddress, refused_address, resolve

log = logging.getLogger(__name__)

MAX_FILES = 10
MAX_PART_HEADER = 64 * 1024  # a long file name (5,000 chars, percent-encoded) still fits


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
    content_type: str, body: AsyncIterator[bytes], folder: Path, limit: int, lang: str
) -> list[Received]:
    """Stream the ``files`` parts of a multipart body into ``folder``. Raises 4002 past ``limit`` bytes a file."""
    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(BAD_REQUEST, t("bad_request", lang, reason="expected multipart/form-data"))

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
            if len(files) >= MAX_FILES:
                raise ApiError(
                    BAD_REQUEST, t("bad_request", lang, reason=f"at most {MAX_FILES} files")
                )
            name = disp[b"filename"].decode("utf-8", "replace")
            part.received = Received(name=name, path=_new_part_path(folder))
            files.append(part.received)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part = cur.part
        if part.received is None:
            return
        part.received.size += end - start
        if part.received.size > limit:
            raise ApiError(TOO_LARGE, t("too_large", lang))
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
    try:
        async for chunk in body:
            parser.write(chunk)
            if pending:
                batch, pending[:] = list(pending), []
                parts_open.extend(p for p, _ in batch if p not in parts_open)
                await asyncio.to_thread(flush, batch)
        parser.finalize()
    except ApiError:
        _close(parts_open)
        discard(files)
        raise
    except Exception as exc:
        _close(parts_open)
        discard(files)
        raise ApiError(
            BAD_REQUEST, t("bad_request", lang, reason="the upload was cut off or malformed")
        ) from exc
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


async def fetch_url(
    client: httpx.AsyncClient,
    url: str,
    folder: Path,
    limit: int,
    allow_private: bool,
    max_redirects: int,
    lang: str,
) -> Received:
    """Download one URL into ``folder``, following at most ``max_redirects`` redirects, each re-checked."""
    current = url
    for _ in range(max_redirects + 1):
        await check_url(current, allow_private, lang)
        try:
            item = await _fetch_one(client, current, url, folder, limit, lang)
        except RefusedAddress as exc:  # the name resolved differently at connect time (rebinding)
            raise ApiError(BAD_INPUT, t("private_url", lang, url=url[:200])) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # unreachable, too slow, cut off...
            reason = (
                "the server did not answer in time"
                if isinstance(exc, httpx.TimeoutException)
                else "the server could not be reached"
                if isinstance(exc, httpx.ConnectError)
                else "the download failed"
            )
            raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason=reason)) from exc
        if isinstance(item, str):
            current = item
            continue
        return item
    raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason="too many redirects"))


async def _fetch_one(
    client: httpx.AsyncClient, current: str, url: str, folder: Path, limit: int, lang: str
) -> Received | str:
    """One GET: the file, or where a redirect points."""
    async with client.stream("GET", current, follow_redirects=False) as resp:
        if resp.is_redirect:
            return str(resp.url.join(resp.headers.get("location", "")))
        if resp.status_code != 200:
            reason = f"the server answered {resp.status_code}"
            raise ApiError(BAD_INPUT, t("url_failed", lang, url=url[:200], reason=reason))
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(TOO_LARGE, t("too_large", lang))
        item = Received(name=_name_from(resp, current), path=_new_part_path(folder))
        try:
            with item.path.open("wb") as fh:
                async for chunk in resp.aiter_bytes(1024 * 1024):
                    item.size += len(chunk)
                    if item.size > limit:
                        raise ApiError(TOO_LARGE, t("too_large", lang))
                    await asyncio.to_thread(fh.write, chunk)
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
