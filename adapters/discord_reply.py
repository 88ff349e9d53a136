"""Rendering the engine's replies on Discord: interaction replies, channel replies, components.

Every message goes out with restricted allowed mentions: nothing pings except, where intended, the
requester. Text is Markdown-escaped: the engine's own texts use no Markdown, and what they carry
from users (echoed words, titles, file names) must show as typed, never as formatting or a masked
link ("[click](http://...)"); URLs stay clickable. Buttons carry the engine's command in their custom_id (`vo:cmd:<command>`) and are
registered as dynamic items at start-up, so they keep working after a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import ui

from bot.messages import (
    Buttons,
    FileDoc,
    Limits,
    Link,
    Outbound,
    Progress,
    Text,
    TooLargeForChat,
    VideoFile,
)

if TYPE_CHECKING:
    from re import Match

log = logging.getLogger(__name__)

DEFAULT_FILE_LIMIT = 10 * 1024 * 1024  # Discord's upload limit without boosts
MAX_INPUT_BYTES = 500 * 1024 * 1024  # the backend's cap; the engine refuses larger files first
MAX_CHARS = 2000
ESCAPE_ROOM = 200  # the engine splits text shorter, so escaping rarely has to clip it
# An interaction token lives 15 minutes; stop using it a minute early so no reply is lost.
INTERACTION_WINDOW = dt.timedelta(minutes=14)
EDIT_INTERVAL_SECONDS = 1.0
CMD_PREFIX = "vo:cmd:"
PICK_ID = "vo:pick"
MAX_CUSTOM_ID = 100

NO_MENTIONS = discord.AllowedMentions.none()


def only_user(user: discord.abc.Snowflake) -> discord.AllowedMentions:
    """Mentions that may ping this one user and nobody else (never @everyone or roles)."""
    return discord.AllowedMentions(everyone=False, roles=False, users=[user], replied_user=False)


def limits_for(file_limit: int | None) -> Limits:
    return Limits(
        max_upload_bytes=file_limit or DEFAULT_FILE_LIMIT,
        max_download_bytes=MAX_INPUT_BYTES,
        max_message_chars=MAX_CHARS - ESCAPE_ROOM,
        min_edit_interval_seconds=EDIT_INTERVAL_SECONDS,
    )


class CommandHandler(Protocol):
    """What a pressed button or a picked option is handed to (the adapter's client)."""

    async def run_command(self, interaction: discord.Interaction[Any], command: str) -> None: ...


def _handler(interaction: discord.Interaction[Any]) -> CommandHandler:
    client: Any = interaction.client
    return client


class CommandButton(ui.DynamicItem[ui.Button[Any]], template=r"vo:cmd:(?P<command>.+)"):
    """A button that sends the engine one command; the command lives in the custom_id."""

    def __init__(self, label: str, command: str) -> None:
        super().__init__(
            ui.Button(
                label=label[:80] or command[:80],
                custom_id=(CMD_PREFIX + command)[:MAX_CUSTOM_ID],
                style=discord.ButtonStyle.primary,
            )
        )
        self.command = command

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: ui.Item[Any],
        match: Match[str],
    ) -> CommandButton:
        label = item.label if isinstance(item, ui.Button) else None
        return cls(label or "", match["command"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _handler(interaction).run_command(interaction, self.command)


class CommandSelect(ui.DynamicItem[ui.Select[Any]], template=r"vo:pick"):
    """A select menu (used for /voice) whose option values are engine commands."""

    def __init__(self, options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(ui.Select(custom_id=PICK_ID, options=options or [], min_values=1))

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: ui.Item[Any],
        match: Match[str],
    ) -> CommandSelect:
        return cls()

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        data: Any = interaction.data or {}
        values = data.get("values") or []
        if values:
            await _handler(interaction).run_command(interaction, str(values[0]))


def view_for(out: Buttons, as_menu: bool) -> ui.View:
    """Buttons as a persistent view: a select menu when asked (and it fits), else buttons."""
    view = ui.View(timeout=None)
    if as_menu and 0 < len(out.buttons) <= 25:
        options = [
            discord.SelectOption(label=b.label[:100], value=b.command[:100]) for b in out.buttons
        ]
        view.add_item(CommandSelect(options))
        return view
    for button in out.buttons[:25]:
        view.add_item(CommandButton(button.label, button.command))
    return view


@dataclass
class Rendered:
    content: str
    file: discord.File | None = None
    view: ui.View | None = None


def clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


# After discord.py's escaping: a URL (kept as is), or a "[" it left unescaped (it escapes only the
# first of several masked links on a line).
_URL_OR_BRACKET = re.compile(r"(?P<url><?https?://[^\s<>]+>?)|(?P<pairs>(?<!\\)(?:\\\\)*)\[")


def escape(text: str) -> str:
    """`text` shown as typed: Discord Markdown (bold, italics, strikethrough, spoilers, code,
    quotes, headings, lists, masked links) and backslashes escaped; URLs left clickable."""
    escaped = discord.utils.escape_markdown(text)
    return _URL_OR_BRACKET.sub(lambda m: m["url"] or m["pairs"] + "\\[", escaped)


def render(out: Outbound, as_menu: bool = False) -> Rendered:
    """Plain Discord message parts for one outbound reply."""
    if isinstance(out, Text | Progress):
        return Rendered(clip(escape(out.text)))
    if isinstance(out, VideoFile | FileDoc):
        file = discord.File(out.path, filename=out.path.name)
        return Rendered(clip(escape(out.caption)), file)
    if isinstance(out, Link):
        return Rendered(clip(f"{escape(out.label)}\n{out.url}"))
    if isinstance(out, Buttons):
        return Rendered(clip(escape(out.text)), view=view_for(out, as_menu))
    raise TypeError(f"unknown outbound {out!r}")


def refused_as_too_large(exc: discord.HTTPException, out: Outbound) -> TooLargeForChat | None:
    """Discord's 413 for a file: the engine sends the download link instead."""
    if exc.status == 413 and isinstance(out, VideoFile | FileDoc):
        return TooLargeForChat(out.size or out.path.stat().st_size)
    return None


@contextlib.asynccontextmanager
async def file_refusal(out: Outbound) -> AsyncIterator[None]:
    try:
        yield
    except discord.HTTPException as exc:
        refused = refused_as_too_large(exc, out)
        if refused is None:
            raise
        raise refused from exc


Sendable = discord.abc.Messageable | discord.PartialMessageable
# Called once when a render starts on a replier's behalf: the adapter remembers who asked.
OnRender = Callable[[], Awaitable[None]]


async def render_started(out: Outbound, on_render: OnRender | None) -> OnRender | None:
    """Run `on_render` on the first render progress line; returns what is left to run."""
    if on_render is not None and isinstance(out, Progress) and out.key.startswith("render"):
        try:
            await on_render()
        except Exception:  # remembering the requester must never cost the reply
            log.warning("could not remember who asked for a render", exc_info=True)
        return None
    return on_render


@dataclass
class Sent:
    """A handle the engine gets back: the message we sent (None: the interaction's original)."""

    message: discord.Message | discord.WebhookMessage | None
    via_interaction: bool


class ChannelReplier:
    """Replies as normal channel messages (mentions of the bot, resumed renders, late results)."""

    def __init__(
        self,
        channel: Sendable,
        *,
        file_limit: int | None = None,
        requester: discord.abc.Snowflake | None = None,
        reference: discord.Message | None = None,
        on_render: OnRender | None = None,
    ) -> None:
        self.channel = channel
        self.requester = requester  # a user, or just an id (a render resumed after a restart)
        self.reference = reference
        self.on_render = on_render
        self.limits = limits_for(file_limit)

    def _mentions(self, out: Outbound) -> tuple[str, discord.AllowedMentions]:
        if self.requester is not None and self.reference is None and not isinstance(out, Progress):
            return f"<@{self.requester.id}> ", only_user(self.requester)
        return "", NO_MENTIONS

    async def send(self, out: Outbound) -> object:
        self.on_render = await render_started(out, self.on_render)
        r = render(out)
        prefix, mentions = self._mentions(out)
        kwargs: dict[str, Any] = {"content": clip(prefix + r.content), "allowed_mentions": mentions}
        if r.file is not None:
            kwargs["file"] = r.file
        if r.view is not None:
            kwargs["view"] = r.view
        if self.reference is not None:
            kwargs["reference"] = self.reference
            kwargs["mention_author"] = False
            self.reference = None  # only the first reply hangs off the user's message
        async with file_refusal(out):
            message = await self.channel.send(**kwargs)
        return Sent(message, via_interaction=False)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(handle, Sent) and handle.message is not None
        r = render(out)
        await handle.message.edit(content=r.content, allowed_mentions=NO_MENTIONS)


class InteractionReplier:
    """Replies to one deferred interaction: the first reply fills the original response, later
    ones are follow-ups; past the token's lifetime everything goes to the channel instead."""

    def __init__(
        self,
        interaction: discord.Interaction[Any],
        channel: Sendable,
        *,
        as_menu: bool = False,
        window: dt.timedelta = INTERACTION_WINDOW,
        on_render: OnRender | None = None,
    ) -> None:
        self.interaction = interaction
        self.as_menu = as_menu
        self.on_render = on_render
        self.deadline = interaction.created_at + window
        file_limit = interaction.filesize_limit or (
            interaction.guild.filesize_limit if interaction.guild else None
        )
        self.limits = limits_for(file_limit)
        self.original_used = False
        self.late = ChannelReplier(channel, file_limit=file_limit, requester=interaction.user)

    def expired(self) -> bool:
        return discord.utils.utcnow() >= self.deadline

    async def send(self, out: Outbound) -> object:
        self.on_render = await render_started(out, self.on_render)
        if self.expired():
            return await self.late.send(out)
        r = render(out, self.as_menu)
        if not self.original_used:
            async with file_refusal(out):
                await self.interaction.edit_original_response(
                    content=r.content,
                    attachments=[r.file] if r.file is not None else discord.utils.MISSING,
                    view=r.view,
                    allowed_mentions=NO_MENTIONS,
                )
            self.original_used = True
            return Sent(None, via_interaction=True)
        kwargs: dict[str, Any] = {"content": r.content, "allowed_mentions": NO_MENTIONS}
        if r.file is not None:
            kwargs["file"] = r.file
        if r.view is not None:
            kwargs["view"] = r.view
        async with file_refusal(out):
            message = await self.interaction.followup.send(wait=True, **kwargs)
        return Sent(message, via_interaction=True)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(handle, Sent)
        if handle.via_interaction and self.expired():
            # The token is gone: the rest of this progress line continues as a channel message.
            fresh = await self.late.send(out)
            assert isinstance(fresh, Sent)
            handle.message, handle.via_interaction = fresh.message, False
            return
        content = render(out).content
        if handle.message is None:
            await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS
            )
        else:
            await handle.message.edit(content=content, allowed_mentions=NO_MENTIONS)

    async def close(self) -> None:
        """Remove the "thinking…" placeholder if the engine never answered (cancelled in queue)."""
        if not self.original_used and not self.expired():
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete an unused interaction response", exc_info=True)
