"""Every error code of the protocol and the bad inputs of DESIGN section 6, against the REAL backend.

Each case checks the specific code, that the message is for a person, and that nothing was left behind.
"""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from backend.core.errors import ApiError
from backend.intake import receive as uploads
from backend.intake import safe_http
from backend.intake.receive import check_url, fetch_url
from backend.intake.safe_http import url_client
from tests.support.backend import Api, BackendProcess
from tests.support.fileserver import serve_folder
from tests.support.modes import store_sql

SCRIPT = "Lumen is a lamp. It is bright and kind to your eyes."


def code(r: httpx.Response) -> int:
    return int(r.json()["code"])


def parts_left(backend: BackendProcess) -> list[Path]:
    return list((backend.data_dir / "sessions").rglob("*.part"))


# identity ----------------------------------------------------------------------------------
@pytest.mark.both_modes
def test_token_needs_client_id_and_is_rate_limited(backend: BackendProcess) -> None:
    r = httpx.post(backend.url + "/api/auth/anonymous-token")
    assert r.status_code == 400 and code(r) == 400
    cid = uuid.uuid4().hex
    r = httpx.post(backend.url + "/api/auth/anonymous-token", headers={"X-Client-Id": cid})
    assert code(r) == 0 and r.json()["data"]["credits"] == 100
    r = httpx.post(backend.url + "/api/auth/anonymous-token", headers={"X-Client-Id": cid})
    assert r.status_code == 429 and code(r) == 429 and "7 days" in r.json()["message"]


@pytest.mark.both_modes
def test_bad_and_expired_token(backend: BackendProcess, api: Api) -> None:
    r = httpx.get(
        backend.url + "/api/credits/balance/simple", headers={"Authorization": "Bearer nope"}
    )
    assert r.status_code == 401 and code(r) == 1001
    store_sql(backend, "UPDATE tokens SET expires = 0 WHERE identity_id = ?", api.bind_id)
    r = api.get("/api/credits/balance/simple")
    assert code(r) == 1001 and "expired" in r.json()["message"]


@pytest.mark.both_modes
def test_unknown_and_foreign_session(backend: BackendProcess, api: Api) -> None:
    r = api.get("/api/state/nemo_agent/me/doesnotexist/latest")
    assert r.status_code == 404 and code(r) == 1002
    other = Api(backend.url)
    r = other.get(f"/api/state/nemo_agent/me/{api.sid}/latest")
    assert r.status_code == 403 and code(r) == 4003
    r, _ = other.say("voiceover", sid=api.sid)
    assert code(r) == 4003
    other.close()


@pytest.mark.both_modes
def test_no_credits_gives_bind_id(backend: BackendProcess, api: Api) -> None:
    api.upload(("s.txt", SCRIPT.encode()))
    store_sql(backend, "UPDATE identities SET credits = 0 WHERE id = ?", api.bind_id)
    r, events = api.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 402 and not events
    body = r.json()
    assert body["code"] == 2001 and body["data"]["bind_id"] == api.bind_id
    assert "Register" in body["message"]


@pytest.mark.both_modes
def test_export_without_attribution_headers_is_402(api: Api) -> None:
    r = api.http.post(
        "/api/render/proxy/lambda",
        headers={"Authorization": f"Bearer {api.token}"},
        json={"id": "render_x", "sessionId": api.sid},
    )
    assert r.status_code == 402 and code(r) == 402


@pytest.mark.both_modes
def test_empty_timeline_and_foreign_media_in_draft(backend: BackendProcess, api: Api) -> None:
    r = api.post(
        "/api/render/proxy/lambda",
        json={"id": "render_empty_" + uuid.uuid4().hex[:6], "sessionId": api.sid},
    )
    assert code(r) == 4005 and "empty" in r.json()["message"]
    other = Api(backend.url)
    other.say("voiceover\nscript: Someone else's words are here.")
    foreign = other.state()["draft"]
    r = api.post(
        "/api/render/proxy/lambda",
        json={"id": "render_f" + uuid.uuid4().hex[:6], "sessionId": api.sid, "draft": foreign},
    )
    assert code(r) == 4005 and "not in this session" in r.json()["message"]
    other.close()


@pytest.mark.both_modes
def test_unknown_render_id(api: Api) -> None:
    r = api.get("/api/render/proxy/lambda/render_nope")
    assert code(r) == 4004


# uploads -------------------------------------------------------------------------------------
def test_pdf_named_mp4_is_refused(backend: BackendProcess, api: Api) -> None:
    r = api.upload(("video.mp4", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 20))
    assert r.status_code == 415 and code(r) == 4001
    assert "not supported" in r.json()["message"] and "MP4" in r.json()["message"]
    assert not parts_left(backend)


@pytest.mark.both_modes
def test_zero_byte_file(api: Api) -> None:
    r = api.upload(("empty.txt", b""))
    assert code(r) == 4001 and "0 bytes" in r.json()["message"]


def test_docx_that_is_not_a_zip(api: Api) -> None:
    r = api.upload(("script.docx", bytes(range(256)) * 10))
    assert code(r) == 4001 and "Word document" in r.json()["message"]


def test_docx_zip_bomb(api: Api) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", b"\0" * (80 * 1024 * 1024))
    assert len(buf.getvalue()) < 1024 * 1024
    r = api.upload(("bomb.docx", buf.getvalue()))
    assert code(r) == 4001 and "expands" in r.json()["message"]


@pytest.mark.both_modes
def test_truncated_mp4(api: Api, tmp_path: Path) -> None:
    from tests.support.media import make_test_video

    clip = make_test_video(tmp_path / "c.mp4", seconds=3)
    data = clip.read_bytes()
    r = api.upload(("cut.mp4", data[: len(data) // 2]))
    assert code(r) == 4001 and "damaged or truncated" in r.json()["message"]


def test_empty_garbled_and_huge_scripts(api: Api) -> None:
    r = api.upload(("blank.txt", b"   \n\n\t  "))
    assert code(r) == 4005 and "empty" in r.json()["message"]
    r = api.upload(("noise.txt", "".join(chr(0x2500 + i % 100) for i in range(3000)).encode()))
    assert code(r) == 4005 and "readable text" in r.json()["message"]
    r = api.upload(("huge.txt", ("word " * 25_000).encode()))
    assert code(r) == 4005 and "limit" in r.json()["message"]


def test_path_traversal_filename(backend: BackendProcess, api: Api) -> None:
    r = api.upload(("../../../../etc/passwd.txt", SCRIPT.encode()))
    assert code(r) == 0
    assert r.json()["data"]["files"][0]["name"] == "passwd.txt"
    assert not (backend.data_dir.parent / "etc").exists()
    stored = list((backend.data_dir / "sessions" / api.sid).rglob("*"))
    assert all(backend.data_dir in p.parents for p in stored)


def test_declared_oversize_is_refused_before_reading(backend: BackendProcess, api: Api) -> None:
    # A raw socket: announce 600 MB, send none of it. The answer must come without reading the body.
    head = (
        f"POST /api/upload-video/nemo_agent/me/{api.sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api.token}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {600 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", backend.port), timeout=10) as sock:
        sock.sendall(head.encode())
        reply = ""
        while '"code"' not in reply:
            chunk = sock.recv(65536).decode()
            if not chunk:
                break
            reply += chunk
    assert reply.startswith("HTTP/1.1 413")
    assert '"code":4002' in reply.replace(" ", "")


def read_reply(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP/1.1 reply with a Content-Length, read off a raw socket: (head, body)."""
    reply = b""
    while True:
        head, sep, body = reply.partition(b"\r\n\r\n")
        if sep:
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            assert length, head
            if len(body) >= int(length[1]):
                return head, body
        data = sock.recv(65536)
        assert data, f"connection closed before a whole reply: {reply!r}"
        reply += data


def test_600mb_stream_without_length_is_cut_at_500mb(backend: BackendProcess, api: Api) -> None:
    """A chunked upload (no Content-Length) is read up to 500 MB, then refused with 413/4002.
    The server answers while the client is still sending, so a plain client may only see the
    connection drop: this one sends from a thread and reads the reply on the same socket."""
    boundary = "vbtestboundary"
    chunk = b"\0" * (4 * 1024 * 1024)
    total = 150 * len(chunk)  # 600 MiB
    sent = 0
    headers = "".join(f"{k}: {v}\r\n" for k, v in api.headers.items())
    head = (
        f"POST /api/upload-video/nemo_agent/me/{api.sid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{headers}Content-Type: multipart/form-data; boundary={boundary}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()

    def piece(data: bytes) -> bytes:
        return b"%x\r\n" % len(data) + data + b"\r\n"

    def send(sock: socket.socket) -> None:
        nonlocal sent
        try:
            sock.sendall(head)
            sock.sendall(
                piece(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                    'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n'.encode()
                )
            )
            for _ in range(150):
                sock.sendall(piece(chunk))
                sent += len(chunk)
            sock.sendall(piece(f"\r\n--{boundary}--\r\n".encode()) + b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped reading after its reply: that is the refusal

    with socket.create_connection(("127.0.0.1", backend.port), timeout=60) as sock:
        sender = threading.Thread(target=send, args=(sock,), daemon=True)
        sender.start()
        status, body = read_reply(sock)
        sock.shutdown(socket.SHUT_RDWR)
        sender.join(timeout=30)
    assert status.startswith(b"HTTP/1.1 413"), status
    refusal = json.loads(body)
    assert refusal["code"] == 4002 and "compress" in refusal["message"].lower()
    assert 450 * 1024 * 1024 < sent < total  # read up to the limit, and not a byte further
    assert not parts_left(backend)
    r = api.get(f"/api/state/nemo_agent/me/{api.sid}/latest")
    assert r.json()["data"]["state"]["uploads"] == []


# URL uploads ----------------------------------------------------------------------------------
@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "script.txt").write_text(SCRIPT)

    with serve_folder(tmp_path) as url:
        yield url


def test_url_upload_follows_bounded_redirects(api: Api, file_server: str) -> None:
    r = api.post(
        f"/api/upload-video/nemo_agent/me/{api.sid}",
        json={"urls": [file_server + "/redirect"], "source_type": "url"},
    )
    assert code(r) == 0, r.text
    assert r.json()["data"]["files"][0]["kind"] == "script"
    r = api.post(
        f"/api/upload-video/nemo_agent/me/{api.sid}",
        json={"urls": [file_server + "/loop"], "source_type": "url"},
    )
    assert code(r) == 4005 and "redirects" in r.json()["message"]
    r = api.post(
        f"/api/upload-video/nemo_agent/me/{api.sid}",
        json={"urls": ["ftp://example.com/a.mp4"], "source_type": "url"},
    )
    assert code(r) == 4005 and "http" in r.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.mp4",
        "http://localhost:8080/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://192.168.0.10/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://100.100.100.200/latest/meta-data",  # shared space (a cloud's metadata service)
        "http://[fd00::1]/x",
    ],
)
async def test_ssrf_addresses_refused_without_the_setting(url: str) -> None:
    with pytest.raises(ApiError) as err:
        await check_url(url, allow_private=False, lang="en")
    assert err.value.code == 4005 and "private or local" in err.value.message
    await check_url(
        url, allow_private=True, lang="en"
    )  # the tests' own setting lets loopback through


def _fake_dns(monkeypatch: pytest.MonkeyPatch, host: str, answers: list[str]) -> None:
    """`host` resolves to each of `answers` in turn (then the last one): a DNS server that changes
    its answer between the check and the connection. Other names resolve normally."""
    real = socket.getaddrinfo
    queue = list(answers)

    def getaddrinfo(name: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if name != host:
            return real(name, port, *args, **kwargs)
        addr = queue.pop(0) if len(queue) > 1 else queue[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


async def test_dns_rebinding_is_caught_at_connect_time(
    file_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """REAL httpx/httpcore client and a REAL local HTTP server; only the DNS answers are scripted:
    public for the up-front check, loopback for the connection. The connection is refused."""
    port = int(file_server.rsplit(":", 1)[1])
    _fake_dns(monkeypatch, "rebind.example", ["93.184.216.34", "127.0.0.1"])
    folder = tmp_path / "downloads"
    folder.mkdir()
    async with url_client(5.0, allow_private=False) as client:
        with pytest.raises(ApiError) as err:
            await fetch_url(
                client, f"http://rebind.example:{port}/script.txt", folder, 10**6, False, 3, "en"
            )
    assert err.value.code == 4005 and "private or local" in err.value.message
    assert not list(folder.iterdir())  # nothing half-written


async def test_guarded_client_fetches_through_the_checked_address(
    file_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production client (address-checked at connect) really downloads: the name resolves to
    the local server, and loopback is let through for this test only by the address rule."""
    port = int(file_server.rsplit(":", 1)[1])
    _fake_dns(monkeypatch, "files.example", ["127.0.0.1"])
    monkeypatch.setattr(safe_http, "refused_address", lambda addr: False)
    monkeypatch.setattr(uploads, "refused_address", lambda addr: False)
    async with url_client(5.0, allow_private=False) as client:
        item = await fetch_url(
            client, f"http://files.example:{port}/redirect", tmp_path, 10**6, False, 3, "en"
        )
    assert item.name == "script.txt" and item.path.read_text() == SCRIPT


def test_ffmpeg_is_the_packaged_one() -> None:
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-filters"],
        capture_output=True,
        text=True,
    )
    assert " ass " in out.stdout and "loudnorm" in out.stdout


def test_messages_in_chinese(backend: BackendProcess) -> None:
    api = Api(backend.url, lang="zh")
    r = api.upload(("empty.txt", b""))
    assert "空文件" in r.json()["message"]
    r, events = api.say("你好")
    assert "配音" in events[-1]["content"]["parts"][0]["text"]
    api.close()


def test_script_no_installed_voice_can_read_is_refused_without_charge(
    backend: BackendProcess,
) -> None:
    """REAL backend: a Japanese script with only English and Chinese voices installed is refused
    with 4005 and a message that says why and what to install, before any synthesis: no credits
    used, no voiceover made (an English voice would spell the kana out letter by letter)."""
    for lang, words in (
        ("en", ("Japanese", "English", "Chinese", "voices folder")),
        ("zh", ("日语", "英文", "中文")),
    ):
        api = Api(backend.url, lang=lang)
        before = api.get("/api/credits/balance/simple").json()["data"]["available"]
        r = api.upload(("原稿.txt", "こんにちは、春のセールへようこそ。全品二割引です！".encode()))
        assert code(r) == 0, r.text
        r, events = api.say("generate a natural voiceover for my script")
        assert code(r) == 4005 and not events, r.text
        assert all(w in r.json()["message"] for w in words), r.json()["message"]
        after = api.get("/api/credits/balance/simple").json()["data"]
        assert after["available"] == before and after["frozen"] == 0
        assert not [m for m in api.state()["generated_media"] if m["kind"] == "voiceover"]
        # An English script in the same session is voiced as usual.
        r, events = api.say("generate a voiceover.\nscript: The spring sale starts today.")
        assert r.status_code == 200, r
        assert [m["kind"] for m in api.state()["generated_media"]] == ["voiceover"]
        api.close()


@pytest.mark.both_modes
def test_two_turns_at_once_run_one_after_the_other(backend: BackendProcess) -> None:
    """REAL backend, two messages on one session at the same moment: the second is planned on
    the state the first left, so "slower" ends with a slower voiceover, not only a setting."""
    import concurrent.futures

    api = Api(backend.url)
    other = httpx.Client(base_url=backend.url, timeout=120)
    assert api.upload(("s.txt", b"Two turns at once. They take turns.")).status_code == 200

    first_event = threading.Event()

    def say(text: str) -> int:
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": api.sid,
            "new_message": {"parts": [{"text": text}]},
        }
        with other.stream("POST", "/run_sse", json=body, headers=api.headers) as r:
            for line in r.iter_lines():
                if line.startswith("data:") and line[5:].strip():
                    first_event.set()  # the turn is under way (its first step is out)
            return r.status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(say, "generate a voiceover")
        assert first_event.wait(60), "the first turn never started"
        second = pool.submit(say, "slower")
        assert first.result() == 200 and second.result() == 200
    state = api.state()
    voice = [s for tr in state["draft"]["t"] if tr["tt"] == 1 for s in tr["sg"]]
    assert voice and abs(float(voice[0]["m"]["speed"]) - 0.87) < 0.01, voice[0]["m"]
    other.close()
    api.close()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b'{"session_id": "SID", "new_message": "hi"}',
        b'{"session_id": "SID", "new_message": ["hi"]}',
        b'{"session_id": "SID", "new_message": {"parts": "hi"}}',
        b"[" * 100_000,
    ],
)
def test_run_sse_refuses_malformed_bodies_cleanly(api: Api, body: bytes) -> None:
    r = api.post(
        "/run_sse",
        content=body.replace(b"SID", api.sid.encode()),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and code(r) == 4000, r.text
    assert "Traceback" not in r.text


def test_run_sse_body_that_is_a_list_is_a_bad_request(api: Api) -> None:
    r = api.post("/run_sse", json=[{"session_id": api.sid}])
    assert r.status_code == 400 and code(r) == 4000, r.text
