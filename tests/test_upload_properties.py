"""Property tests (hypothesis) of the upload parsers (issue 11): the multipart receiver, text
decoding and sniffing, and the DOCX reader on generated zips get random and adversarial input.
Each call either returns or raises the protocol's ApiError with a 4xxx code, within a time and a
memory bound, and a refused multipart upload leaves no file behind."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.core.errors import ApiError
from backend.intake.files import decode_text, ingest, read_docx, sniff
from backend.intake.receive import Pace, receive_multipart
from tests.support import hostile as H

T = TypeVar("T")
SECONDS = 3.0
PYTHON_MB = 64  # Python-level allocations (tracemalloc) per call
SETTINGS = settings(
    max_examples=150,
    deadline=None,  # the bound is checked below, with a clearer message
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@contextmanager
def bounded(what: str) -> Iterator[None]:
    tracemalloc.start()
    started = time.monotonic()
    try:
        yield
    finally:
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert took < SECONDS, f"{what} took {took:.1f} s"
    assert peak < PYTHON_MB * 1024 * 1024, f"{what} allocated {peak // 1024 // 1024} MB"


def outcome(call: Callable[[], T], codes: set[int]) -> T | ApiError:
    try:
        return call()
    except ApiError as exc:
        assert exc.code in codes, (exc.code, exc.message)
        assert exc.message and not exc.message.startswith("Something went wrong")
        return exc


# The multipart receiver


BOUNDARY = st.one_of(
    st.just(b"BND"),
    st.binary(min_size=1, max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b),
    st.just(b"x" * 300),
)
FRAGMENTS = st.sampled_from(
    [
        b"--BND\r\n",
        b"--BND--\r\n",
        b"--BND--",
        b'Content-Disposition: form-data; name="files"; filename="a.txt"\r\n',
        b'Content-Disposition: form-data; name="files"; filename=""\r\n',
        b"Content-Disposition: form-data; name=files\r\n",
        b"Content-Type: text/plain\r\n",
        b"\r\n",
        b"\r\n\r\n",
        b"hello world",
        b"--BN",
        b"\x00\xff\xfe",
        b"X-" + b"a" * 70_000 + b": b\r\n",
    ]
)
BODY = st.one_of(
    st.binary(max_size=4096),
    st.lists(st.one_of(FRAGMENTS, st.binary(max_size=64)), max_size=40).map(b"".join),
)


async def _chunks(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in [*sizes, len(data)]:
        if pos >= len(data):
            break
        yield data[pos : pos + max(1, size)]
        pos += max(1, size)


@SETTINGS
@given(
    boundary=BOUNDARY,
    ctype=st.sampled_from(
        ["multipart/form-data; boundary={}", "multipart/form-data", "text/plain"]
    ),
    body=BODY,
    sizes=st.lists(st.integers(1, 512), max_size=20),
)
def test_multipart_receiver_takes_anything(
    tmp_path: Path, boundary: bytes, ctype: str, body: bytes, sizes: list[int]
) -> None:
    folder = tmp_path / uuid.uuid4().hex  # one per example (tmp_path is shared by them)
    header = ctype.format(boundary.decode("latin-1"))
    pace = Pace(min_rate=1, grace=5, deadline=5)

    def call() -> Any:
        return asyncio.run(
            receive_multipart(header, _chunks(body, sizes), folder, 1024, "en", pace)
        )

    with bounded("receive_multipart"):
        result = outcome(call, {4000, 4002})
    stored = list(folder.glob("*.part")) if folder.exists() else []
    if isinstance(result, ApiError):
        assert stored == []  # a refused upload leaves nothing
    else:
        assert sorted(stored) == sorted(r.path for r in result)
        assert all(r.size <= 1024 for r in result)


@SETTINGS
@given(files=st.lists(st.binary(max_size=300), min_size=1, max_size=12), cut=st.integers(0, 40))
def test_multipart_receiver_refuses_cut_off_and_too_many(
    tmp_path: Path, files: list[bytes], cut: int
) -> None:
    body = H.multipart(b"BND", [(f"{i}.txt", data) for i, data in enumerate(files)])
    truncated = body[: len(body) - cut]
    folder = tmp_path / uuid.uuid4().hex

    def call() -> Any:
        return asyncio.run(
            receive_multipart(
                "multipart/form-data; boundary=BND", _chunks(truncated, []), folder, 10_000, "en"
            )
        )

    with bounded("receive_multipart"):
        result = outcome(call, {4000})
    # Only the epilogue (the final CRLF) may be missing; anything more is a cut-off body.
    if len(files) > 10 or cut > 2:
        assert isinstance(result, ApiError)
    else:
        assert not isinstance(result, ApiError)
        assert [r.path.read_bytes() for r in result] == files
    if isinstance(result, ApiError):
        assert not folder.exists() or list(folder.iterdir()) == []


# Text decoding and sniffing


TEXTS = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=400)
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "gb18030", "big5"])


@SETTINGS
@given(data=st.one_of(st.binary(max_size=8192), TEXTS.map(str.encode)))
def test_decode_and_sniff_take_any_bytes(data: bytes) -> None:
    with bounded("decode_text"):
        sniff(data[:4096])
        text = decode_text(data)
    assert text is None or isinstance(text, str)


@SETTINGS
@given(text=TEXTS, encoding=ENCODINGS)
def test_text_with_a_bom_or_in_utf8_decodes_to_itself(text: str, encoding: str) -> None:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    with bounded("decode_text"):
        decoded = decode_text(data)
    if encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):  # unambiguous: exactly the text
        assert decoded == text
        assert sniff(data[:4096]) is None or encoding == "utf-8"


@SETTINGS
@given(data=st.binary(min_size=1, max_size=8192), name=st.sampled_from(["a.txt", "b.md", "c"]))
def test_ingest_of_random_bytes_is_a_refusal_or_a_script(
    tmp_path: Path, data: bytes, name: str
) -> None:
    path = tmp_path / "upload.part"
    path.write_bytes(data)
    with bounded("ingest"):
        result = outcome(lambda: ingest(path, name), {4001, 4005})
    if not isinstance(result, ApiError):
        assert result.kind in ("script", "audio", "video", "image")


# The DOCX reader on generated zips


XML_PIECES = st.sampled_from(
    [
        b"<w:p>",
        b"</w:p>",
        b"<w:p/>",
        b"<w:r><w:t>hello there</w:t></w:r>",
        b"<w:r><w:t xml:space='preserve'> world </w:t><w:tab/><w:br/></w:r>",
        b"<w:hyperlink><w:r><w:t>link</w:t></w:r></w:hyperlink>",
        b"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
        b"<!-- c -->",
        b"&amp;",
        b"&e;",
        b"<![CDATA[x]]>",
        b"\xff",
        b"<w:t>",
    ]
)
DOCUMENT = st.one_of(
    st.lists(XML_PIECES, max_size=60).map(lambda parts: H.document_xml(b"".join(parts))),
    st.binary(max_size=2048),
    st.integers(0, 200_000).map(lambda n: H.document_xml(b"<w:p/>" * n)),
    st.just(
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
        b'&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;'
        b'&c;&c;&c;&c;&c;&c;&c;">]><w:document xmlns:w="http://schemas.openxmlformats.org/'
        b'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&d;&d;&d;&d;</w:t></w:r></w:p>'
        b"</w:body></w:document>"
    ),
)


@st.composite
def docx_zips(draw: st.DrawFn) -> bytes:
    xml = draw(DOCUMENT)
    kind = draw(st.sampled_from(["honest", "lying small", "lying big", "stored", "bad method"]))
    if kind == "honest":
        member = H.deflated("word/document.xml", xml)
    elif kind == "lying small":
        member = H.deflated("word/document.xml", xml, declared=draw(st.integers(0, 100)))
    elif kind == "lying big":
        member = H.deflated_zeros(
            "word/document.xml", draw(st.integers(1, 64)) * 1024 * 1024, declared=1000
        )
    elif kind == "stored":
        member = H.Member("word/document.xml", xml, 0, zlib.crc32(xml), len(xml))
    else:
        member = H.Member("word/document.xml", xml, 12, zlib.crc32(xml), len(xml))  # bzip2
    data = H.docx_with(member)
    if draw(st.booleans()):  # flip a few bytes anywhere
        flips = draw(st.lists(st.integers(0, len(data) - 1), max_size=4))
        buf = bytearray(data)
        for pos in flips:
            buf[pos] ^= 0xFF
        data = bytes(buf)
    return data


@SETTINGS
@given(data=docx_zips())
def test_docx_reader_on_generated_zips(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "doc.docx"
    path.write_bytes(data)
    with bounded("read_docx"):
        result = outcome(lambda: read_docx(path, "doc.docx", "en"), {4001, 4005})
    if not isinstance(result, ApiError):
        assert isinstance(result, str) and "aaaaaaaaaa" not in result  # no entity expansion
