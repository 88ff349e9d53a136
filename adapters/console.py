"""Console adapter: a terminal chat, and a queue-backed programmatic console for tests and the demo.

Like Errbot's test backend, the programmatic mode (`push_message` / `outputs`) doubles as the
end-to-end harness: it drives the real engine exactly as a person at the terminal would.
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import shutil
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.messages import (
    Attachment,
    AudioAlbum,
    AudioFile,
    Buttons,
    FileDoc,
    Inbound,
    Limits,
    Link,
    Outbound,
    Progress,
    Replier,
    Text,
    VideoFile,
    chat_key,
)
from bot.texts import human_size

if TYPE_CHECKING:
    from bot.engine import Engine

NAME = "console"


@dataclass(frozen=True)
class Recorded:
    """One thing the engine asked the console to do."""

    chat_id: str
    action: str  # "send" | "edit"
    handle: int
    out: Outbound


def attachment_from_path(path: Path | str) -> Attachment:
    p = Path(path).expanduser()
    mime = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
    return Attachment(name=p.name, mime=mime, size=p.stat().st_size, path=p)


def _existing_file(path_str: str) -> Path | None:
    path = Path(path_str).expanduser()
    return path if path_str and path.is_file() else None


def render(out: Outbound) -> str:
    """Plain-text rendering of an outbound reply for a terminal."""
    if isinstance(out, Text):
        return out.text
    if isinstance(out, Progress):
        return out.text
    if isinstance(out, VideoFile):
        size = human_size(out.size)
        dims = f", {out.width}x{out.height}" if out.width and out.height else ""
        secs = f", {out.duration_ms / 1000:.1f} s" if out.duration_ms else ""
        return f"{out.caption}\n🎬 {out.path} ({size}{dims}{secs})"
    if isinstance(out, FileDoc):
        return f"{out.caption}\n📄 {out.path} ({human_size(out.size)})"
    if isinstance(out, AudioAlbum):
        return "\n".join(f"🎧 {a.caption}\n   {a.path} ({human_size(a.size)})" for a in out.files)
    if isinstance(out, Link):
        return f"{out.label}\n🔗 {out.url}"
    if isinstance(out, Buttons):
        buttons = "  ".join(f"[{b.label}: {b.command}]" for b in out.buttons)
        return f"{out.text} {buttons}"
    raise TypeError(f"unknown outbound {out!r}")


class ConsoleReplier:
    """Replies for one console chat: recorded, and printed when the console echoes."""

    def __init__(self, console: ConsoleAdapter, chat_id: str) -> None:
        self.console = console
        self.chat_id = chat_id
        self.limits = console.limits

    async def send(self, out: Outbound) -> object:
        out = await asyncio.to_thread(self.console.keep_file, out)
        handle = next(self.console.handles)
        self.console.record(Recorded(self.chat_id, "send", handle, out))
        return handle

    async def edit(self, handle: object, out: Outbound) -> None:
        self.console.record(Recorded(self.chat_id, "edit", int(handle), out))  # type: ignore[call-overload]


class ConsoleAdapter:
    """The engine's console front end: interactive (`run`) or programmatic (`push_message`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        output_dir: Path,
        echo: bool = True,
        stream: TextIO | None = None,
        limits: Limits | None = None,
        user_name: str = "you",
    ) -> None:
        self.engine = engine
        self.output_dir = output_dir
        self.echo = echo
        self.stream = stream or sys.stdout
        self.limits = limits or Limits(max_message_chars=100_000, same_machine=True)
        self.user_name = user_name
        self.handles = itertools.count(1)
        self.outputs: list[Recorded] = []
        self._repliers: dict[str, ConsoleReplier] = {}
        self._listeners: list[Callable[[Recorded], None]] = []
        self._pending: set[asyncio.Task[None]] = set()

    # the Replier side

    def replier(self, chat_id: str = "local") -> ConsoleReplier:
        return self._repliers.setdefault(chat_id, ConsoleReplier(self, chat_id))

    async def replier_for(self, key: str) -> Replier:
        """For renders resumed after a restart: a Replier for a stored chat key."""
        return self.replier(key.split(":", 1)[1] if ":" in key else key)

    def on_output(self, listener: Callable[[Recorded], None]) -> None:
        self._listeners.append(listener)

    def record(self, rec: Recorded) -> None:
        self.outputs.append(rec)
        for listener in self._listeners:
            listener(rec)
        if self.echo:
            prefix = "  ↻ " if rec.action == "edit" else "bot> "
            print(prefix + render(rec.out).replace("\n", "\n     "), file=self.stream, flush=True)

    def keep_file(self, out: Outbound) -> Outbound:
        """Copy results into the output folder (if they are not there already)."""
        if isinstance(out, AudioAlbum):
            kept = [self._kept(a.path) for a in out.files]
            return AudioAlbum(
                tuple(
                    AudioFile(p, a.caption, a.title, a.duration_ms, a.size)
                    for p, a in zip(kept, out.files, strict=True)
                )
            )
        if isinstance(out, VideoFile | FileDoc):
            target = self._kept(out.path)
            if isinstance(out, VideoFile):
                return VideoFile(
                    target, out.caption, out.duration_ms, out.size, out.width, out.height
                )
            return FileDoc(target, out.caption, out.size)
        return out

    def _kept(self, path: Path) -> Path:
        target = self.output_dir / path.name
        if path.resolve() != target.resolve():
            self.output_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return target

    # the inbound side

    def inbound(
        self, text: str = "", attachments: Sequence[Path | str] = (), chat_id: str = "local"
    ) -> Inbound:
        return Inbound(
            chat_id=chat_id,
            user_id=chat_id,
            user_name=self.user_name,
            text=text,
            attachments=tuple(attachment_from_path(p) for p in attachments),
            platform=NAME,
        )

    async def push_message(
        self, text: str = "", attachments: Sequence[Path | str] = (), chat_id: str = "local"
    ) -> None:
        """Hand one message to the engine and wait until it has been answered."""
        await self.engine.handle(self.inbound(text, attachments, chat_id), self.replier(chat_id))

    def push_nowait(
        self, text: str = "", attachments: Sequence[Path | str] = (), chat_id: str = "local"
    ) -> asyncio.Task[None]:
        """Hand a message over without waiting (like a person typing while a job runs)."""
        task = asyncio.create_task(self.push_message(text, attachments, chat_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def wait_idle(self) -> None:
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def texts(self, chat_id: str | None = None) -> list[str]:
        """Every rendered reply (sends and edits) in order, optionally for one chat."""
        return [render(r.out) for r in self.outputs if chat_id is None or r.chat_id == chat_id]

    def sent(self, kind: type, chat_id: str | None = None) -> list[Outbound]:
        return [
            r.out
            for r in self.outputs
            if isinstance(r.out, kind) and (chat_id is None or r.chat_id == chat_id)
        ]

    @staticmethod
    def chat_key(chat_id: str = "local") -> str:
        return chat_key(NAME, chat_id)

    # the terminal

    async def run(self, stdin: TextIO | None = None) -> None:
        """Read lines from the terminal until EOF or /quit; `/upload PATH [caption]` attaches a file."""
        src = stdin or sys.stdin
        print(
            "Type a message, /upload PATH to send a file, /quit to leave.",
            file=self.stream,
            flush=True,
        )
        lines = _read_lines(src)
        try:
            await self._read_loop(lines)
        except asyncio.CancelledError:
            # SIGINT/SIGTERM: messages being worked on or waiting get the engine's restart notice
            # (it answers a cancelled handler) before the engine and the backend are closed.
            for task in list(self._pending):
                task.cancel()
            await self.wait_idle()
            raise
        await self.wait_idle()

    async def _read_loop(self, lines: asyncio.Queue[str]) -> None:
        while True:
            line = await lines.get()
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/upload"):
                _, _, rest = line.partition(" ")
                path_str, _, caption = rest.strip().partition(" ")
                path = _existing_file(path_str)
                if path is None:
                    print(
                        f"bot> no such file: {path_str or '(missing path)'}",
                        file=self.stream,
                        flush=True,
                    )
                    continue
                self.push_nowait(caption, [path])
            else:
                self.push_nowait(line)


def _read_lines(src: TextIO) -> asyncio.Queue[str]:
    """Lines of `src` ("" at EOF), read by a daemon thread: a blocked read never holds up the
    process's exit (asyncio.to_thread's worker would, until the terminal sends a line)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                line = src.readline()
            except (OSError, ValueError):
                line = ""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            except RuntimeError:  # the loop is closed: the process is exiting
                return
            if not line:
                return

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return queue
