"""Backend client tests with httpx.MockTransport (no server): envelopes, errors, SSE, downloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.client import Auth, BackendClient, BackendError, BackendUnavailable, StreamCut
from bot.models import AdkEvent
from bot.redact import RedactingFilter, redact, register_secret
from bot.router import GuiAction, Intent, Route, route, translate_gui
from bot.texts import detect_language

AUTH = Auth("tok_secret_abcdef", "telegram")


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> BackendClient:
    return BackendClient("http://backend.test", transport=httpx.MockTransport(handler))


def env(
    data: dict[str, object] | None = None, code: int = 0, status: int = 200, **top: object
) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": "msg", "data": data or {}, **top})


def sse(*events: dict[str, object] | str) -> httpx.Response:
    lines = []
    for e in events:
        lines.append(e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n")
    return httpx.Response(
        200, headers={"content-type": "text/event-stream"}, content="".join(lines).encode()
    )


async def test_headers_and_tolerant_envelope() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.path.endswith("anonymous-token"):
            return env({"token": "tok_new_123456", "expires_at": 10, "bind_id": "b1"})
        # fields at the top level instead of inside data
        return httpx.Response(200, json={"code": 0, "session_id": "s1", "task_id": "t1"})

    async with client_for(handler) as c:
        info = await c.anonymous_token("cid-1", "discord")
        sess = await c.create_session(AUTH, "zh")
    assert (info.token, info.client_id, info.bind_id, info.expires_at) == (
        "tok_new_123456",
        "cid-1",
        "b1",
        10.0,
    )
    assert (sess.session_id, sess.task_id) == ("s1", "t1")
    assert seen[0].headers["x-client-id"] == "cid-1"
    assert "authorization" not in seen[0].headers
    assert seen[0].headers["x-skill-platform"] == "discord"
    assert seen[1].headers["authorization"] == "Bearer tok_secret_abcdef"
    assert seen[1].headers["x-skill-source"] == "ai-voiceover-generator"
    assert seen[1].headers["x-skill-platform"] == "telegram"
    assert json.loads(seen[1].content) == {"task_name": "project", "language": "zh"}


@pytest.mark.parametrize(
    ("code", "status"), [(1001, 401), (1002, 404), (2001, 402), (4001, 415), (429, 429)]
)
async def test_error_codes_raise_typed(code: int, status: int) -> None:
    async with client_for(lambda req: env({"bind_id": "b9", "retry_after": 3}, code, status)) as c:
        with pytest.raises(BackendError) as info:
            await c.credits(AUTH)
    assert info.value.code == code
    assert info.value.data["bind_id"] == "b9"
    assert not info.value.in_stream


async def test_body_code_is_authoritative_and_non_json_errors() -> None:
    async with client_for(lambda req: env(None, 1002, 200)) as c:
        with pytest.raises(BackendError) as info:
            await c.credits(AUTH)
    assert info.value.code == 1002
    async with client_for(lambda req: httpx.Response(502, text="<html>bad gateway</html>")) as c:
        with pytest.raises(BackendError) as info:
            await c.credits(AUTH)
    assert info.value.code == 502


async def test_connection_refused_is_backend_unavailable() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    async with client_for(handler) as c:
        with pytest.raises(BackendUnavailable):
            await c.credits(AUTH)


def _call(name: str) -> dict[str, object]:
    return {"content": {"parts": [{"functionCall": {"id": "1", "name": name, "args": {"x": 1}}}]}}


async def test_sse_events_parsed() -> None:
    body = sse(
        ": ping\n\n",
        "data:\n\n",
        _call("synthesize_speech"),
        {
            "content": {
                "parts": [
                    {"functionResponse": {"name": "synthesize_speech", "response": {"ok": 1}}}
                ]
            }
        },
        {"content": {"parts": [{"text": "Hel"}]}, "partial": True},
        {"content": {"parts": [{"text": "Hello"}]}, "partial": False},
        {"turnComplete": True},
        {"content": {"parts": [{"text": "after the end"}]}},
    )
    async with client_for(lambda req: body) as c:
        events = [e async for e in c.run_sse(AUTH, "s1", "hi")]
    assert [e.calls[0].name for e in events if e.calls] == ["synthesize_speech"]
    assert [e.responses[0].response for e in events if e.responses] == [{"ok": 1}]
    assert [(e.text, e.partial) for e in events if e.texts] == [("Hel", True), ("Hello", False)]
    assert events[-1].turn_complete and len(events) == 5


async def test_sse_error_before_stream_and_in_stream() -> None:
    async with client_for(lambda req: env({"bind_id": "b2"}, 2001, 402)) as c:
        with pytest.raises(BackendError) as info:
            [e async for e in c.run_sse(AUTH, "s1", "hi")]
    assert info.value.code == 2001 and not info.value.in_stream
    body = sse(
        _call("set_voice"),
        {"errorCode": "2001", "errorMessage": "no credits", "turnComplete": True},
    )
    async with client_for(lambda req: body) as c:
        with pytest.raises(BackendError) as info:
            [e async for e in c.run_sse(AUTH, "s1", "hi")]
    assert info.value.code == 2001 and info.value.in_stream


async def test_sse_without_turn_complete_is_a_cut() -> None:
    async with client_for(lambda req: sse(_call("set_voice"))) as c:
        with pytest.raises(StreamCut):
            [e async for e in c.run_sse(AUTH, "s1", "hi")]


async def test_render_status_and_download(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.host == "cdn.test":
            return httpx.Response(200, content=b"x" * 200_000)
        return env(
            {
                "id": "r1",
                "status": "completed",
                "progress": 100,
                "output": {
                    "url": "https://cdn.test/v.mp4?sig=zz",
                    "size": 200_000,
                    "expires_at": 5,
                },
            }
        )

    async with client_for(handler) as c:
        status = await c.render_status(AUTH, "r1")
        assert status.finished and status.output is not None and status.output.size == 200_000
        n = await c.download(status.output.url, tmp_path / "out" / "v.mp4", AUTH)
    assert n == 200_000 and (tmp_path / "out" / "v.mp4").stat().st_size == 200_000
    assert "authorization" not in seen[-1].headers  # never send the bearer token to another host
    assert not list((tmp_path / "out").glob("*.part"))


async def test_failed_download_leaves_no_partial_file(tmp_path: Path) -> None:
    async with client_for(lambda req: env(None, 4004, 404)) as c:
        with pytest.raises(BackendError):
            await c.download("/files/x.mp4", tmp_path / "x.mp4", AUTH)
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 - a test assertion


async def test_upload_is_multipart_from_disk(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("one two three")
    seen: list[bytes] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.read())
        return env(
            {"files": [{"id": "m1", "name": "s.txt", "kind": "script"}], "script": {"words": 3}}
        )

    async with client_for(handler) as c:
        result = await c.upload_files(AUTH, "s1", [script])
    assert result.files[0].kind == "script" and result.files[0].words == 3
    assert b'name="files"; filename="s.txt"' in seen[0] and b"one two three" in seen[0]


def test_adk_event_ignores_unknown_parts() -> None:
    e = AdkEvent.from_json(
        json.dumps(
            {"content": {"parts": [{"inlineData": {}}, {"text": "ok"}]}, "turnComplete": True}
        )
    )
    assert e.text == "ok" and e.turn_complete and e.calls == ()


def test_redaction(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("tok_secret_abcdef")
    line = "GET https://h.test/files/v.mp4?sig=abc&expires=9 Authorization: Bearer zzz.yyy tok_secret_abcdef"
    cleaned = redact(line)
    assert "abc" not in cleaned and "zzz.yyy" not in cleaned and "tok_secret_abcdef" not in cleaned
    assert "https://h.test/files/v.mp4" in cleaned
    logger = logging.getLogger("test.redaction")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("token %s used", "tok_secret_abcdef")
    assert "tok_secret_abcdef" not in caplog.text and "***" in caplog.text


def test_redaction_covers_exception_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """log.exception / exc_info=: the traceback text is redacted too, not only the message."""
    import io

    from bot.redact import install_redaction

    bot_token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"  # the shape of a Telegram token
    registered = "nemo_tok_registered_0123456789"
    register_secret(registered)
    url = "https://cdn.test/attachments/1/2/v.mp4?ex=66aa&is=66a9&hm=deadbeefcafe0042&sig=s1gn4ture"

    def boom() -> None:
        raise RuntimeError(
            f"GET https://api.telegram.org/bot{bot_token}/getFile failed; {registered}; {url}"
        )

    secrets = (bot_token, registered, "deadbeefcafe0042", "s1gn4ture")
    # 1. the filter alone, on a handler with a plain formatter (pytest's caplog handler)
    caplog.handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test.redaction.exc")
    with caplog.at_level(logging.INFO, logger="test.redaction.exc"):
        try:
            boom()
        except RuntimeError:
            logger.exception("download failed")
        try:
            boom()
        except RuntimeError as exc:
            logger.warning("retrying", exc_info=exc)
    assert caplog.text.count("Traceback") == 2 and "RuntimeError: GET" in caplog.text
    for secret in secrets:
        assert secret not in caplog.text
    # 2. install_redaction on a stream handler, as `python -m bot` sets it up
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    own = logging.getLogger("test.redaction.installed")
    own.propagate = False
    own.addHandler(handler)
    install_redaction(own)
    try:
        boom()
    except RuntimeError:
        own.exception("upload of %s failed", url)
    own.removeHandler(handler)
    emitted = stream.getvalue()
    assert emitted.startswith("ERROR test.redaction.installed: upload of https://cdn.test/")
    assert "Traceback" in emitted and "RuntimeError" in emitted
    for secret in secrets:
        assert secret not in emitted


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("export", Intent.EXPORT),
        ("download", Intent.EXPORT),
        ("send me the video", Intent.EXPORT),
        ("导出", Intent.EXPORT),
        ("credits", Intent.CREDITS),
        ("balance?", Intent.CREDITS),
        ("积分", Intent.CREDITS),
        ("余额", Intent.CREDITS),
        ("status", Intent.STATUS),
        ("show tracks", Intent.STATUS),
        ("状态", Intent.STATUS),
        ("upload", Intent.UPLOAD),
        ("上传", Intent.UPLOAD),
        ("/export", Intent.EXPORT),
        ("/new@voiceover_bot", Intent.NEW),
        ("/cancel", Intent.CANCEL),
        ("generate a natural male voiceover in English for my script", Intent.CHAT),
        ("add lo-fi music at 30% and then export it as a vertical video", Intent.CHAT),
        ("用英文为我的脚本生成自然的男声配音", Intent.CHAT),
    ],
)
def test_routing(text: str, intent: Intent) -> None:
    assert route(text).intent is intent


@pytest.mark.parametrize(
    ("text", "edit"),
    [
        ("export", ""),
        ("please export it now", ""),
        ("send me the video", ""),
        ("帮我导出视频", ""),
        ("export in 720p", "export in 720p"),
        ("导出竖屏", "导出竖屏"),
        ("export with srt files", "export with srt files"),
    ],
)
def test_export_keeps_an_edit_said_with_it(text: str, edit: str) -> None:
    assert route(text) == Route(Intent.EXPORT, edit)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("balance the music and voice", Intent.CHAT),
        ("add end credits", Intent.CHAT),
        ("move the credits to the end", Intent.CHAT),
        ("remove the title from the timeline", Intent.CHAT),
        ("把时间线上的音乐调小", Intent.CHAT),
        ("what's my balance?", Intent.CREDITS),
        ("积分还有多少", Intent.CREDITS),
        ("show me the status", Intent.STATUS),
        ("查看时间线", Intent.STATUS),
    ],
)
def test_credits_and_status_keywords_leave_edits_to_the_agent(text: str, intent: Intent) -> None:
    """Only filler beside the keyword routes to the endpoint; anything else is an edit (CHAT)."""
    rt = route(text)
    assert rt.intent is intent
    assert rt.text == (text if intent is Intent.CHAT else "")


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("https://example.test/clip.mp4", ("https://example.test/clip.mp4",)),
        ("here's my script: https://x.test/lumen.docx.", ("https://x.test/lumen.docx",)),
        (
            "https://a.test/1.mp4\nhttps://a.test/2.mp4 https://a.test/1.mp4",
            ("https://a.test/1.mp4", "https://a.test/2.mp4"),
        ),
        ("请用这个视频 <http://x.test/v.mp4?sig=1&hm=2>", ("http://x.test/v.mp4?sig=1&hm=2",)),
        ("/upload https://x.test/a.mov", ("https://x.test/a.mov",)),
        ("add music like the one at https://x.test/a.mp3", ()),
        ("ftp://x.test/a.mp4", ()),
    ],
)
def test_pasted_links_route_to_url_upload(text: str, urls: tuple[str, ...]) -> None:
    rt = route(text)
    if urls:
        assert rt == Route(Intent.UPLOAD, "", urls)
    else:
        assert rt.intent is Intent.CHAT and rt.urls == ()


def test_attachment_routes_to_upload_and_language_detection() -> None:
    assert route("make a voiceover", has_attachments=True).intent is Intent.UPLOAD
    assert detect_language("导出") == "zh"
    assert detect_language("export") == "en"
    assert detect_language("👍", fallback="zh") == "zh"


def test_gui_translation() -> None:
    out = translate_gui("Voiceover added (31 s). Click Export to download your MP4. Anything else?")
    assert out.actions == (GuiAction.EXPORT,)
    assert out.text == "Voiceover added (31 s). Anything else?"
    assert translate_gui("配音已完成。点击导出按钮下载。").actions == (GuiAction.EXPORT,)
    assert translate_gui("Done. Open the timeline panel to preview.").actions == (
        GuiAction.SHOW_STATE,
    )
    plain = 'Say "export" to get the MP4.'
    assert translate_gui(plain).actions == () and translate_gui(plain).text == plain


def test_redaction_of_bot_tokens_plain_and_url_encoded() -> None:
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
    for line in (
        f"POST https://api.telegram.org/bot{token}/getUpdates failed",
        f"error for /bot{token.replace(':', '%3A')}/sendVideo",
    ):
        cleaned = redact(line)
        assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq" not in cleaned, cleaned
