"""Composition root: `python -m bot` (chat) and `python -m bot demo` (scripted conversation).

Builds the shared pieces once (embedded backend if NEMO_API_BASE is unset, one httpx client, one
SQLite store, the engine) and hands them to the adapters. Each platform adapter is a module exposing
`async def serve(engine, settings)` (see ADAPTERS); every one whose token is set runs side by side
on the one engine, and without a token the console chat runs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from adapters.console import ConsoleAdapter
from bot.client import BackendClient
from bot.embedded import EmbeddedBackend
from bot.engine import Engine
from bot.messages import Link, VideoFile
from bot.redact import install_redaction
from bot.settings import Settings
from storage.postgres import open_chat_store

log = logging.getLogger("bot")

EXAMPLE_SCRIPT = Path(__file__).parent / "examples" / "lumen_script.txt"
DEMO_STEPS = ("generate a natural male voiceover in English for my script", "export")


@asynccontextmanager
async def runtime(settings: Settings) -> AsyncIterator[Engine]:
    """The engine with its backend, client and store; everything is closed on exit."""
    async with AsyncExitStack() as stack:
        base = settings.api_base
        if base is None:
            embedded = EmbeddedBackend(
                settings.data_dir / "backend", public_base_url=settings.public_base_url
            )
            await stack.enter_async_context(embedded)
            base = embedded.base_url
        client = BackendClient(
            base,
            timeout=settings.request_timeout_seconds,
            sse_read_timeout=settings.sse_read_timeout_seconds,
        )
        stack.push_async_callback(client.aclose)
        store = await open_chat_store(settings.store_target)
        stack.push_async_callback(store.close)
        engine = Engine(client, store, settings)
        stack.push_async_callback(engine.aclose)
        yield engine


ADAPTERS = (("telegram", "adapters.telegram"), ("discord", "adapters.discord_bot"))


async def _platform_adapter(settings: Settings, engine: Engine) -> bool:
    """Run every platform adapter whose token is set, side by side; False to fall back."""
    tokens = {"telegram": settings.telegram_bot_token, "discord": settings.discord_bot_token}
    modules = []
    for name, module_name in ADAPTERS:
        if not tokens[name]:
            continue
        try:
            modules.append(importlib.import_module(module_name))
        except ImportError:
            log.warning("%s token set, but the %s adapter is not available", name, name)
    if not modules:
        return False
    if not settings.public_base_url and not settings.api_base:
        log.warning(
            "PUBLIC_BASE_URL is not set: the embedded backend only has a loopback address, so the bot "
            "will not hand out web upload or download links for big files (users are told to send a "
            "link or a smaller file instead). Set PUBLIC_BASE_URL to the backend's public address."
        )
    # One engine for all: a failing adapter stops the others too (the TaskGroup cancels them).
    async with asyncio.TaskGroup() as group:
        for module in modules:
            group.create_task(module.serve(engine, settings))
    return True


def drain_on_sigterm() -> None:
    """SIGTERM (Docker, systemd, Procfile runners) stops the bot the way Ctrl+C does: the main task
    is cancelled, so the adapters stop taking messages, chats with work in flight are told, in-flight
    renders stay stored for the restart, and the embedded backend is stopped on the way out."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    if main_task is None or sys.platform == "win32":
        return

    def stop() -> None:
        log.info("SIGTERM: stopping (in-flight work is saved and resumed at the next start)")
        main_task.cancel()

    loop.add_signal_handler(signal.SIGTERM, stop)


async def run_chat(settings: Settings) -> int:
    drain_on_sigterm()
    async with runtime(settings) as engine:
        if await _platform_adapter(settings, engine):
            return 0
        console = ConsoleAdapter(engine, output_dir=settings.output_dir)
        await engine.resume(console.replier_for)
        await console.run()
        await engine.wait_background()
    return 0


async def run_demo(settings: Settings, script: Path = EXAMPLE_SCRIPT) -> Path | None:
    """Play the scripted conversation; return the MP4's path (None if it did not arrive)."""
    async with runtime(settings) as engine:
        console = ConsoleAdapter(engine, output_dir=settings.output_dir)
        print(f"you> /upload {script}", flush=True)
        await console.push_message("", [script], chat_id="demo")
        for text in DEMO_STEPS:
            print(f"you> {text}", flush=True)
            await console.push_message(text, chat_id="demo")
        videos = [o for o in console.sent(VideoFile, "demo") if isinstance(o, VideoFile)]
        if videos:
            return videos[-1].path.resolve()
        links = [o for o in console.sent(Link, "demo") if isinstance(o, Link)]
        if links:
            print(f"(the video was delivered as a link: {links[-1].url})")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("mode", nargs="?", default="chat", choices=("chat", "demo"))
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    level = settings.log_level if args.mode == "chat" else "WARNING"
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_redaction()
    try:
        if args.mode == "demo":
            path = asyncio.run(run_demo(settings))
            if path is None:
                print("The demo did not produce a video.", file=sys.stderr)
                return 1
            print(f"\nMP4: {path}")
            return 0
        return asyncio.run(run_chat(settings))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM, drained
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
