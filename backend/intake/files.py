"""Decide what an uploaded file is from its bytes, then turn it into script text or media info.

The extension is only a hint for the name we show; the content decides. Everything here is sync and
CPU/disk bound: the API runs it in a worker thread.
"""

from __future__ import annotations

import re
import time
import unicodedata
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any

import av
from charset_normalizer import from_bytes
from lxml import etree

from backend.core.errors import BAD_INPUT, UNSUPPORTED_FILE, ApiError
from backend.core.i18n import t
from backend.core.text import count_words
from backend.core.types import Ingested

DOCX_MAX_UNCOMPRESSED = 50 * 1024 * 1024
DOCX_MAX_RATIO = 200
DOCX_MAX_DOCUMENT_XML = 10 * 1024 * 1024  # far above any script under the word limit
# Body paragraphs, empty ones included: a 20,000-word script has one or two thousand. Parsing costs
# about 2 us a paragraph, so 50,000 let each stranger's tiny DOCX buy a fifth of a second of CPU.
DOCX_MAX_PARAGRAPHS = 10_000
DOCX_MAX_SECONDS = 10.0
DOCX_CHUNK = 64 * 1024  # document.xml is inflated and parsed this much at a time
DOCX_MAX_RELS = 256 * 1024
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
OFFICE_DOCUMENT = "/officeDocument"
TEXT_MAX_CHAOS = (
    0.2  # charset-normalizer's "mess": above it, the bytes are not text in any encoding
)
# Byte order marks: a file starting with one is text, whatever a container sniffer would say (FF FE
# is also an MPEG audio frame header). UTF-32 first: its LE mark starts with UTF-16's.
TEXT_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
SCRIPT_MAX_BYTES = 5 * 1024 * 1024
NAME_MAX_CHARS = 200

VIDEO_MIME = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}


def safe_name(name: str) -> str:
    """A display name with no path parts or control characters (``../../etc/passwd`` -> ``passwd``)."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    if len(base) > NAME_MAX_CHARS:  # shortened, keeping the extension: "aaaa…aaa.txt"
        stem, dot, ext = base.rpartition(".")
        if dot and stem and 0 < len(ext) <= 10:
            base = stem[: NAME_MAX_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            base = base[:NAME_MAX_CHARS].rstrip()
    return base or "file"


def sniff(head: bytes) -> str | None:
    """Container format from the first bytes, or None if unknown (text with a BOM included)."""
    if any(head.startswith(bom) for bom, _ in TEXT_BOMS):
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return "m4a"
        return "mov" if brand == b"qt  " else "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"AVI ": "avi", b"WAVE": "wav", b"WEBP": "webp"}.get(head[8:12])
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm" if b"webm" in head[:64] else "mkv"
    if head[:3] == b"ID3" or (
        len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06
    ):
        return "mp3"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "aac"
    if head[:3] == b"\xff\xd8\xff":
        return "jpg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:4] == b"GIF8":
        return "gif"
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:5] == b"%PDF-":
        return "pdf"
    return None


def ingest(path: Path, name: str, lang: str = "en", max_words: int = 20_000) -> Ingested:
    """Classify and read one stored upload. Raises ApiError(4001/4005) with a message for a person."""
    size = path.stat().st_size
    if size == 0:
        raise ApiError(UNSUPPORTED_FILE, t("empty_file", lang, name=name))
    with path.open("rb") as fh:
        head = fh.read(4096)
    fmt = sniff(head)
    if fmt in VIDEO_MIME or fmt in ("mp3", "wav", "m4a", "aac"):
        return _probe_media(path, name, fmt, lang)
    if fmt in ("jpg", "png", "gif", "webp"):
        return _probe_image(path, name, fmt, lang)
    if fmt == "zip":
        text = read_docx(path, name, lang, max_words)
        return Ingested(
            "script",
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            text=check_script(text, name, lang, max_words),
        )
    if fmt is None and size <= SCRIPT_MAX_BYTES:
        plain = decode_text(path.read_bytes())
        if plain is not None:
            return Ingested(
                "script", "txt", "text/plain", text=check_script(plain, name, lang, max_words)
            )
        if name.lower().endswith((".txt", ".md")):
            raise ApiError(BAD_INPUT, t("garbled_script", lang, name=name))
    if fmt is None and size > SCRIPT_MAX_BYTES:
        if _reads_as_text(path):
            raise _too_long(lang, max_words)
    if name.lower().endswith(".docx"):
        raise ApiError(UNSUPPORTED_FILE, t("bad_docx", lang, name=name))
    raise ApiError(UNSUPPORTED_FILE, t("unsupported_file", lang, name=name))


def _reads_as_text(path: Path) -> bool:
    """Whether a file starts as readable text (its first 64 KB: enough to tell, cheap to read)."""
    with path.open("rb") as fh:
        sample = fh.read(64 * 1024)
    for cut in range(4):  # the sample may end inside a multi-byte character
        text = decode_text(sample[: len(sample) - cut])
        if text is not None:
            return any(ch.isalpha() for ch in text)
    return False


def _too_long(lang: str, max_words: int) -> ApiError:
    """The script-too-long refusal for a text too big to count (over 5 MB of text, a huge DOCX)."""
    over = f"超过 {max_words}" if lang == "zh" else f"more than {max_words}"
    return ApiError(BAD_INPUT, t("huge_script", lang, words=over, limit=max_words))


def decode_text(data: bytes) -> str | None:
    """The text of ``data``, or None if it is not text: a BOM (UTF-8/16/32) decides; then UTF-8;
    then charset-normalizer's guess (GB18030, Big5, Shift-JIS, EUC-KR, Windows code pages...) if
    the bytes read as text in it without mess (random bytes read as nothing)."""
    text: str | None = None
    for bom, enc in TEXT_BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                return None
            break
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            best = from_bytes(data).best()
            if best is None or best.chaos > TEXT_MAX_CHAOS:
                return None
            text = str(best)
    if "\x00" in text:
        return None
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(2, len(text) // 100):
        return None
    return text


def check_script(text: str, name: str, lang: str, max_words: int) -> str:
    """Normalize a script and refuse empty, garbled or huge ones with a specific message."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise ApiError(BAD_INPUT, t("empty_script", lang))
    core = re.sub(r"[\d:.,\[\]<>\-\s]", "", text)  # timestamps (SRT, [00:05]) are not noise
    letters = sum(1 for ch in core if ch.isalpha())
    if letters < max(1, len(core) // 2):
        raise ApiError(BAD_INPUT, t("garbled_script", lang, name=name))
    words = count_words(text)
    if words > max_words:
        raise ApiError(BAD_INPUT, t("huge_script", lang, words=words, limit=max_words))
    return text


def read_docx(
    path: Path, name: str, lang: str, max_words: int = 20_000, max_seconds: float = DOCX_MAX_SECONDS
) -> str:
    """Paragraph text of a DOCX (the body's paragraphs, as python-docx's ``document.paragraphs``),
    bounded in memory and time whatever the file claims: zip bombs are refused by their declared
    sizes first, then the main part is inflated a chunk at a time with a hard cap on what actually
    comes out (a part that lies about its size is cut off at the cap or fails its CRC) and parsed
    as a stream (lxml's pull parser, no entities, no network), with the paragraph count, the word
    count and the time capped as it goes."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            total = sum(i.file_size for i in infos)
            packed = max(1, sum(i.compress_size for i in infos))
            if total > DOCX_MAX_UNCOMPRESSED or (
                total / packed > DOCX_MAX_RATIO and total > 5 * 1024 * 1024
            ):
                raise ApiError(UNSUPPORTED_FILE, t("docx_bomb", lang, name=name))
            info = _main_part(zf)
            if info is None or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ApiError(UNSUPPORTED_FILE, t("bad_docx", lang, name=name))
            if info.file_size > DOCX_MAX_DOCUMENT_XML:
                raise _too_long(lang, max_words)
            with zf.open(info) as fh:
                return _docx_paragraphs(fh, name, lang, max_words, max_seconds)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        RuntimeError,
        etree.LxmlError,
    ) as exc:
        # broken or encrypted packages, a CRC that does not match what was inflated, bad XML
        raise ApiError(UNSUPPORTED_FILE, t("bad_docx", lang, name=name)) from exc


def _main_part(zf: zipfile.ZipFile) -> zipfile.ZipInfo | None:
    """The package's main document (its officeDocument relationship; word/document.xml if the
    relationships say nothing usable)."""
    names = {i.filename: i for i in zf.infolist()}
    rels = names.get("_rels/.rels")
    if rels is not None and rels.compress_type in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        with zf.open(rels) as fh:
            data = fh.read(DOCX_MAX_RELS + 1)
        if len(data) <= DOCX_MAX_RELS:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            try:
                root = etree.fromstring(data, parser)
            except etree.XMLSyntaxError:
                root = None
            for rel in root.iter() if root is not None else ():
                if str(rel.get("Type", "")).endswith(OFFICE_DOCUMENT):
                    target = str(PurePosixPath("/") / str(rel.get("Target", "")))
                    found = names.get(target.lstrip("/"))
                    if found is not None:
                        return found
    return names.get("word/document.xml")


def _docx_paragraphs(
    fh: IO[bytes], name: str, lang: str, max_words: int, max_seconds: float
) -> str:
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    deadline = time.monotonic() + max_seconds
    body, para, hyperlink, run = W + "body", W + "p", W + "hyperlink", W + "r"
    runs_text = {W + "t": None, W + "tab": "\t", W + "br": "\n", W + "cr": "\n", W + "ptab": "\t"}
    runs_text[W + "noBreakHyphen"] = "-"
    paragraphs: list[str] = []
    current: list[str] | None = None  # the text of the body paragraph being read
    count = words = inflated = 0

    def handle(event: str, el: Any) -> None:
        nonlocal current, count, words
        parent = el.getparent()
        if event == "start":
            if el.tag == para and parent is not None and parent.tag == body:
                current = []
            return
        if current is not None and el.tag in runs_text and parent is not None and parent.tag == run:
            owner = parent.getparent()
            if owner is not None and owner.tag == hyperlink:
                owner = owner.getparent()
            if owner is not None and owner.tag == para and owner.getparent() is not None:
                if owner.getparent().tag == body:
                    piece = runs_text[el.tag]
                    current.append(el.text or "" if piece is None else piece)
        if el.tag == para and parent is not None and parent.tag == body:
            count += 1
            if count > DOCX_MAX_PARAGRAPHS:
                raise ApiError(
                    BAD_INPUT,
                    t("docx_too_many_paragraphs", lang, name=name, limit=DOCX_MAX_PARAGRAPHS),
                )
            text = "".join(current or ()).strip()
            current = None
            if text:
                words += count_words(text)
                if words > max_words:
                    raise _too_long(lang, max_words)
                paragraphs.append(text)
        if el.tag not in (body, W + "document") and parent is not None:
            # Done with it: drop it (and what came before it) so the tree never grows.
            el.clear(keep_tail=False)
            while el.getprevious() is not None:
                del parent[0]

    while chunk := fh.read(DOCX_CHUNK):
        inflated += len(chunk)
        if inflated > DOCX_MAX_DOCUMENT_XML:  # whatever the zip said about the size
            raise _too_long(lang, max_words)
        parser.feed(chunk)
        for event, el in parser.read_events():
            handle(event, el)
        if time.monotonic() > deadline:
            raise ApiError(UNSUPPORTED_FILE, t("docx_too_slow", lang, name=name))
    parser.close()
    for event, el in parser.read_events():
        handle(event, el)
    return "\n\n".join(paragraphs)


def _probe_media(path: Path, name: str, fmt: str, lang: str) -> Ingested:
    try:
        with av.open(str(path)) as container:
            vstreams = [s for s in container.streams.video if s.codec_context.width]
            astreams = list(container.streams.audio)
            duration = container.duration / 1_000_000 if container.duration else 0.0
            info: dict[str, Any] = {
                "duration_ms": int(duration * 1000),
                "has_audio": bool(astreams),
                "has_video": bool(vstreams),
                "format": fmt,
            }
            if vstreams:
                vs = vstreams[0]
                info.update(
                    width=vs.codec_context.width,
                    height=vs.codec_context.height,
                    video_codec=vs.codec_context.name,
                    fps=float(vs.average_rate or 0),
                )
                if not duration and vs.duration and vs.time_base:
                    info["duration_ms"] = int(vs.duration * vs.time_base * 1000)
            if astreams:
                info["audio_codec"] = astreams[0].codec_context.name
            # Decode one packet to catch truncated files whose header is intact but data is gone.
            stream = vstreams[0] if vstreams else (astreams[0] if astreams else None)
            if stream is None:
                raise ValueError("no streams")
            decoded = False
            for packet in container.demux(stream):
                if packet.size and packet.decode():
                    decoded = True
                    break
            if not decoded:
                raise ValueError("no decodable frames")
    except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
        kind_word = {
            "en": "video" if fmt in VIDEO_MIME else "audio",
            "zh": "视频" if fmt in VIDEO_MIME else "音频",
        }
        raise ApiError(
            UNSUPPORTED_FILE, t("damaged_media", lang, name=name, kind=kind_word.get(lang, "media"))
        ) from exc
    if info["duration_ms"] <= 0:
        raise ApiError(UNSUPPORTED_FILE, t("damaged_media", lang, name=name, kind="media"))
    if fmt in VIDEO_MIME and info["has_video"]:
        return Ingested("video", fmt, VIDEO_MIME[fmt], info)
    if fmt in VIDEO_MIME or fmt == "m4a":
        if info["has_audio"]:
            return Ingested("audio", "m4a" if fmt in ("mp4", "m4a") else fmt, "audio/mp4", info)
        raise ApiError(UNSUPPORTED_FILE, t("damaged_media", lang, name=name, kind="media"))
    mime = {"mp3": "audio/mpeg", "wav": "audio/wav", "aac": "audio/aac"}[fmt]
    return Ingested("audio", fmt, mime, info)


def _probe_image(path: Path, name: str, fmt: str, lang: str) -> Ingested:
    try:
        with av.open(str(path)) as container:
            vs = container.streams.video[0]
            info = {
                "width": vs.codec_context.width,
                "height": vs.codec_context.height,
                "format": fmt,
            }
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise ApiError(UNSUPPORTED_FILE, t("damaged_media", lang, name=name, kind="image")) from exc
    return Ingested("image", fmt, f"image/{'jpeg' if fmt == 'jpg' else fmt}", info)
