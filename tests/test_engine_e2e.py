"""End to end: the real Engine and console adapter against the REAL backend (`python -m backend`
on 127.0.0.1, started by the `backend` fixture of conftest.py). No stand-in here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.i18n import t as backend_t
from bot.__main__ import DEMO_STEPS, EXAMPLE_SCRIPT
from bot.messages import Buttons, Progress, Text, VideoFile
from bot.texts import SUPPORTED_FORMATS, t
from tests.support.backend import BackendProcess
from tests.support.fileserver import serve_folder
from tests.support.media import make_test_video
from tests.support.standin import buttons, engine_harness, next_steps, progress, texts


@pytest.mark.both_modes
async def test_voiceover_turn_real_backend(backend: BackendProcess, tmp_path: Path) -> None:
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await console.push_message("", [EXAMPLE_SCRIPT])
        await console.push_message(DEMO_STEPS[0])
        await console.push_message("status")
    progress = [o.text for o in console.sent(Progress) if isinstance(o, Progress)]
    assert any("Got your script lumen_script.txt" in p for p in progress)
    assert any("Recording the voiceover" in p for p in progress)
    assert any(re.search(r"🗣️ Recording the voiceover\.\.\. \d+%$", p) for p in progress), progress
    said = texts(console)
    assert any("voiceover" in s.lower() for s in said[:-1]), said
    assert not any("functionCall" in s or "synthesize_speech" in s for s in said + progress)
    assert buttons(console) == [next_steps()]
    assert said[-1].startswith("📋 Timeline")


async def test_chinese_credits_and_bad_file_real_backend(
    backend: BackendProcess, tmp_path: Path
) -> None:
    pdf = tmp_path / "brief.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await console.push_message("余额")
        await console.push_message("", [pdf])
    said = texts(console)
    assert said[0].startswith("💳 积分：可用 100")
    assert said[1].startswith("🚫"), said


@pytest.mark.both_modes
async def test_demo_conversation_real_backend(backend: BackendProcess, tmp_path: Path) -> None:
    import av

    async with engine_harness(backend.url, tmp_path, render_poll_max_seconds=1.0) as (
        engine,
        console,
    ):
        await console.push_message("", [EXAMPLE_SCRIPT], chat_id="demo")
        for text in DEMO_STEPS:
            await console.push_message(text, chat_id="demo")
        assert await engine.store.in_flight_jobs() == []
    videos = [o for o in console.sent(VideoFile) if isinstance(o, VideoFile)]
    assert len(videos) == 1, texts(console)
    path = videos[0].path
    assert path.parent == tmp_path / "output" and path.stat().st_size == videos[0].size
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1920, 1080)
        assert video.codec_context.name == "h264"
        assert container.streams.audio
        assert container.duration is not None and 10 < container.duration / 1_000_000 < 60
    said = texts(console, "demo")
    assert (
        len(said) == 1
        and said[0].startswith("Your voiceover is ready: ")
        and "7 sentences" in said[0]
    )
    assert buttons(console, "demo") == [next_steps()]


@pytest.mark.both_modes
async def test_export_with_an_edit_applies_the_edit_first(
    backend: BackendProcess, tmp_path: Path
) -> None:
    """ "导出竖屏" / "export in 720p" is an export AND an edit: the edit reaches the agent before the
    render, so the file that comes back has it (before, the words after "export" were dropped)."""
    import av

    script = tmp_path / "promo.txt"
    script.write_text("The spring sale starts today. Everything is twenty percent off.")
    async with engine_harness(backend.url, tmp_path, render_poll_max_seconds=0.5) as (_e, console):
        await console.push_message("", [script], chat_id="x")
        await console.push_message("make a voiceover for my script", chat_id="x")
        await console.push_message("导出竖屏", chat_id="x")
        await console.push_message("export in 720p", chat_id="x")
    videos = [o for o in console.sent(VideoFile, "x") if isinstance(o, VideoFile)]
    assert len(videos) == 2, texts(console)
    sizes = []
    for video in videos:
        with av.open(str(video.path)) as container:
            ctx = container.streams.video[0].codec_context
            sizes.append((ctx.width, ctx.height))
    assert sizes == [(1080, 1920), (720, 1280)], sizes
    said = texts(console, "x")
    assert said[0].startswith("Your voiceover is ready: ") and "2 sentences" in said[0], said
    assert said[1:] == ["画面比例已设为 9:16（1080x1920）。", "Output resolution 720p."]
    assert buttons(console, "x") == [next_steps()]


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """A local web server for pasted links (the test backend allows private URLs)."""
    files = tmp_path / "served"
    files.mkdir()
    (files / "promo.txt").write_text(
        "The spring sale starts today. Everything is twenty percent off."
    )
    (files / "brief.pdf").write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")

    with serve_folder(files) as url:
        yield url


async def test_pasted_link_uploads_by_url_real_backend(
    backend: BackendProcess, tmp_path: Path, file_server: str
) -> None:
    """A pasted link goes to the backend's URL upload (not to the agent) and the chat is told what
    arrived; a PDF link gets the formats message, a redirect loop the backend's own (4005) words."""
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await console.push_message(f"{file_server}/promo.txt?sig=abc&hm=def", chat_id="u")
        await console.push_message("make a voiceover for my script", chat_id="u")
        await console.push_message(f"here is the file: {file_server}/brief.pdf", chat_id="u")
        await console.push_message(f"{file_server}/loop", chat_id="u")
        await console.push_message(f"上传 {file_server}/promo.txt", chat_id="zh")
    progress = [o.text for o in console.sent(Progress, "u") if isinstance(o, Progress)]
    assert progress[0] == t("fetching_urls", "en", name="promo.txt")
    assert t("uploaded_script", "en", name="promo.txt", words=10) in progress
    said = [o.text for o in console.sent(Text, "u") if isinstance(o, Text)]
    assert any("voiceover" in s.lower() for s in said[:-2]), said  # the script was in the session
    reason = backend_t("unsupported_file", "en", name="brief.pdf")
    assert said[-2] == "🚫 " + reason  # it lists the formats itself: not twice
    assert said[-1].startswith("❌") and "redirect" in said[-1], said[-1]
    zh = [o.text for o in console.sent(Progress, "zh") if isinstance(o, Progress)]
    assert zh[-1] == t("uploaded_script", "zh", name="promo.txt", words=10)
    assert buttons(console, "u") == [next_steps()]


async def test_backend_messages_follow_the_chats_language_now(
    backend: BackendProcess, tmp_path: Path
) -> None:
    """A chat that began in English (so its session was created in English) and then writes
    Chinese gets the backend's own messages in Chinese: the bot sends the chat's language with each
    request. Here: a Japanese script, which no installed voice reads (4005, written by the backend)."""
    script = tmp_path / "原稿.txt"
    script.write_text("こんにちは、春のセールへようこそ。全品二割引です！")
    async with engine_harness(backend.url, tmp_path) as (_e, console):
        await console.push_message("status", chat_id="lang")
        await console.push_message("", [script], chat_id="lang")
        await console.push_message("给我的文稿生成配音", chat_id="lang")
    said = [s for s in texts(console) if "配音" in s]
    assert any("日语" in s and "没有扣除积分" in s for s in said), texts(console)


@pytest.mark.both_modes
async def test_unusable_files_get_the_backends_reason_real_backend(
    backend: BackendProcess, tmp_path: Path
) -> None:
    """A PDF renamed .mp4, a 0-byte file and a truncated MP4: the person reads what the backend
    found wrong with each (in the chat's language, which the bot sends), then the formats."""
    files = tmp_path / "files"
    files.mkdir()
    renamed = files / "brief.mp4"
    renamed.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    empty = files / "empty.mp4"
    empty.write_bytes(b"")
    whole = make_test_video(tmp_path / "whole.mp4", 2.0)
    cut = files / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        for path in (renamed, empty, cut):
            await console.push_message("", [path], chat_id="en")
        await console.push_message("上传", [empty], chat_id="zh")
    reasons = [
        backend_t("unsupported_file", "en", name="brief.mp4"),
        backend_t("empty_file", "en", name="empty.mp4"),
        backend_t("damaged_media", "en", name="cut.mp4", kind="video"),
    ]
    assert reasons[1] == "empty.mp4 is empty (0 bytes)."
    assert "damaged or truncated" in reasons[2]
    assert (
        texts(console, "en")
        == [
            "🚫 " + reasons[0],  # the backend's text lists the formats itself: not twice
            *(t("err_formats_reason", "en", message=r) for r in reasons[1:]),
        ]
    )
    assert texts(console, "zh") == [
        "🚫 empty.mp4 是空文件（0 字节）。\n支持的格式：" + SUPPORTED_FORMATS + "。"
    ]


@pytest.mark.both_modes
async def test_short_of_credits_real_backend(backend: BackendProcess, tmp_path: Path) -> None:
    """A script longer than the free credits cover: the person is told how many it needs and how
    many they have (not "out of credits", which `balance` would contradict)."""
    script = tmp_path / "long.txt"
    sentence = "Our spring collection brings light fabrics and bright colours to every room. "
    script.write_text(sentence * 400)  # about 4,800 words: far more than 100 credits of speech
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await console.push_message("", [script], chat_id="long")
        await console.push_message("make a voiceover for my script", chat_id="long")
        await console.push_message("balance", chat_id="long")
    said = texts(console, "long")
    found = re.fullmatch(
        r"💳 This needs about (\d+) credits and you have 100\. Shorten the script, or register "
        r"for more: \S+\?bind=\S+",
        said[0],
    )
    assert found and int(found[1]) > 100, said
    assert said[1].startswith("💳 Credits: 100 available")


async def test_nothing_to_export_and_no_buttons_real_backend(
    backend: BackendProcess, tmp_path: Path
) -> None:
    """An empty project: "export" says there is nothing to export (no render starts); asking for a
    voiceover without a script gets the backend's "script first" without the next-step buttons."""
    async with engine_harness(backend.url, tmp_path) as (_engine, console):
        await console.push_message("export", chat_id="e")
        await console.push_message("make a voiceover", chat_id="e")
        await console.push_message("导出", chat_id="zh")
    said = texts(console, "e")
    assert said[0] == t("nothing_to_export", "en")
    assert said[1] == backend_t("no_script", "en"), said
    assert console.sent(Buttons, "e") == []
    assert not any("Rendering" in p for p in progress(console, "e"))
    assert texts(console, "zh") == [t("nothing_to_export", "zh")]
