"""Rendering the engine's replies on Discord: interaction replies, channel replies, components.

Every message goes out with restricted allowed mentions: nothing pings except, where intended, the
requester. Text is Markdown-escaped: the engine's own texts use no Markdown, and what they carry
from users (echoed words, titles, file names) must show as typed, never as formatting or a masked
link ("[click](http://...)"); URLs stay clickable. Buttons and menus are in ``adapters.discord_views``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import discord
from discord import ui

from adapters.discord_views import view_for
from bot.messages import (
    AudioAlbum,
    Buttons,
    FileDoc,
    Limits,
    Link,
    NotDelivered,
    Outbound,
    Progress,
    Text,
    TooLargeForChat,
    VideoFile,
)
from bot.texts import t

log = logging.getLogger(__name__)

DEFAULT_FILE_LIMIT = 10 * 1024 * 1024  # Discord's upload limit without boosts
MAX_INPUT_BYTES = 500 * 1024 * 1024  # the backend's cap; the engine refuses larger files first
MAX_CHARS = 2000
ESCAPE_ROOM = 200  # the engine splits text shorter, so escaping rarely has to clip it
# An interaction token lives 15 minutes (Discord's documented window). It is given up a little
# before, while it still works, so the deferred "thinking…" response can say where the rest went.
INTERACTION_WINDOW = dt.timedelta(minutes=15)
TOKEN_MARGIN = dt.timedelta(seconds=30)
# A 429 discord.py did not retry (no `Via` header: it takes it for a Cloudflare ban) is retried
# here while the waits add up to no more than this; then the engine sends the link instead.
MAX_RATE_LIMIT_WAIT = 15.0
# Discord's JSON error codes the replies react to
INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
MISSING_ACCESS = 50001
MISSING_PERMISSIONS = 50013
CANNOT_DM = 50007
EDIT_INTERVAL_SECONDS = 1.0

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
        soft_subtitles=False,  # Discord's player does not show MP4 subtitle tracks
    )


@dataclass
class Rendered:
    content: str
    files: list[discord.File] = field(default_factory=list)
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
        return Rendered(clip(escape(out.caption)), [discord.File(out.path, out.path.name)])
    if isinstance(out, AudioAlbum):  # one message, a player per file (10 files at most)
        text = "\n".join(f"🎧 {escape(a.caption)}" for a in out.files)
        return Rendered(clip(text), [discord.File(a.path, a.path.name) for a in out.files])
    if isinstance(out, Link):
        return Rendered(clip(f"{escape(out.label)}\n{out.url}"))
    if isinstance(out, Buttons):
        return Rendered(clip(escape(out.text)), view=view_for(out, as_menu))
    raise TypeError(f"unknown outbound {out!r}")


def refused_as_too_large(exc: discord.HTTPException, out: Outbound) -> TooLargeForChat | None:
    """Discord's 413 for a file: the engine sends the download link instead."""
    if exc.status == 413 and isinstance(out, VideoFile | FileDoc):
        return TooLargeForChat(out.size or out.path.stat().st_size)
    if exc.status == 413 and isinstance(out, AudioAlbum):
        return TooLargeForChat(sum(a.size or a.path.stat().st_size for a in out.files))
    return None


def token_refused(exc: discord.HTTPException) -> bool:
    """The interaction token no longer works (expired, or refused early: 401 / 50027)."""
    return exc.status == 401 or exc.code in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK)


def not_allowed(exc: discord.HTTPException) -> bool:
    """The bot may not post there (no Send Messages: 403 / 50013; DMs closed: 50007)."""
    return exc.status == 403 or exc.code in (MISSING_ACCESS, MISSING_PERMISSIONS, CANNOT_DM)


def retry_after(exc: discord.HTTPException) -> float:
    """How long a 429 asks to wait (the X-RateLimit-Reset-After or Retry-After header)."""
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("X-RateLimit-Reset-After", "Retry-After"):
        try:
            return max(0.0, float(headers[name]))
        except (KeyError, TypeError, ValueError):
            continue
    return 1.0


T = TypeVar("T")


async def delivered(out: Outbound, call: Callable[[], Awaitable[T]]) -> T:
    """Make one Discord call for `out` (`call` builds its files afresh each time: discord.py
    closes them after a request). A 429 that discord.py gave up on is retried after the wait it
    asks for; a file still refused becomes `TooLargeForChat` (413) or `NotDelivered` (429)."""
    waited = 0.0
    while True:
        try:
            return await call()
        except discord.HTTPException as exc:
            if exc.status == 429:
                wait = retry_after(exc)
                if waited + wait <= MAX_RATE_LIMIT_WAIT:
                    log.warning("Discord answered 429; retrying in %.2f s", wait)
                    waited += wait
                    await asyncio.sleep(wait)
                    continue
                raise NotDelivered(f"rate limited for {wait:.0f} s") from exc
            refused = refused_as_too_large(exc, out)
            if refused is not None:
                raise refused from exc
            raise


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


# Opens the requester's DM channel (the fallback where the bot may not post in the channel).
OpenDM = Callable[[], Awaitable[Sendable]]


class ChannelReplier:
    """Replies as normal channel messages (mentions of the bot, resumed renders, late results).

    Where the bot may not post (`can_send` False, from the interaction's `app_permissions`, or a
    403 from Discord) the replies go to the requester's DMs through `open_dm`; if those are closed
    too, `send` raises `NotDelivered` rather than fail the same way at every retry."""

    def __init__(
        self,
        channel: Sendable,
        *,
        file_limit: int | None = None,
        requester: discord.abc.Snowflake | None = None,
        reference: discord.Message | None = None,
        on_render: OnRender | None = None,
        can_send: bool = True,
        open_dm: OpenDM | None = None,
    ) -> None:
        self.channel = channel
        self.requester = requester  # a user, or just an id (a render resumed after a restart)
        self.reference = reference
        self.on_render = on_render
        self.limits = limits_for(file_limit)
        self.can_send = can_send
        self.open_dm = open_dm
        self.in_dm = False

    def _mentions(self, out: Outbound) -> tuple[str, discord.AllowedMentions]:
        if (
            self.requester is not None
            and self.reference is None
            and not self.in_dm
            and not isinstance(out, Progress)
        ):
            return f"<@{self.requester.id}> ", only_user(self.requester)
        return "", NO_MENTIONS

    async def _to_dm(self, why: str) -> None:
        if self.open_dm is None or self.in_dm:
            raise NotDelivered(why)
        log.info("Discord: %s; replying in the requester's DMs", why)
        try:
            self.channel = await self.open_dm()
        except discord.HTTPException as exc:
            raise NotDelivered(f"{why}, and no DM channel: {exc}") from exc
        self.in_dm = True
        self.reference = None

    async def send(self, out: Outbound) -> object:
        self.on_render = await render_started(out, self.on_render)
        if not self.can_send and not self.in_dm:
            await self._to_dm("the bot may not send messages in the channel")
        while True:
            try:
                return await self._send(out)
            except discord.HTTPException as exc:
                if not not_allowed(exc):
                    raise
                await self._to_dm(f"Discord refused the message ({exc.status}/{exc.code})")

    async def _send(self, out: Outbound) -> Sent:
        reference = self.reference

        async def call() -> discord.Message:
            r = render(out)
            prefix, mentions = self._mentions(out)
            kwargs: dict[str, Any] = {
                "content": clip(prefix + r.content),
                "allowed_mentions": mentions,
            }
            if r.files:
                kwargs["files"] = r.files
            if r.view is not None:
                kwargs["view"] = r.view
            if reference is not None:
                kwargs["reference"] = reference
                kwargs["mention_author"] = False
            return await self.channel.send(**kwargs)

        message = await delivered(out, call)
        self.reference = None  # only the first reply hangs off the user's message
        return Sent(message, via_interaction=False)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(handle, Sent) and handle.message is not None
        r = render(out)
        await handle.message.edit(content=r.content, allowed_mentions=NO_MENTIONS)


class InteractionReplier:
    """Replies to one deferred interaction: the first reply fills the original response, later
    ones are follow-ups. Once the token is refused (401 / 50027, whenever that happens) or about
    to expire, everything goes to the channel instead (or to the requester's DMs where the
    interaction's `app_permissions` lack Send Messages), and a deferred response still showing
    "thinking…" is told where the rest went while the token still works."""

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
        self.token_end = interaction.created_at + window
        self.deadline = self.token_end - TOKEN_MARGIN
        file_limit = interaction.filesize_limit or (
            interaction.guild.filesize_limit if interaction.guild else None
        )
        self.limits = limits_for(file_limit)
        self.original_used = False
        self.original_open = True  # the original shows "thinking…" or a progress line not done
        self.token_dead = False
        self.moved = False
        self.lang = "zh" if str(interaction.locale).startswith("zh") else "en"
        user = interaction.user
        self.late = ChannelReplier(
            channel,
            file_limit=file_limit,
            requester=user,
            can_send=interaction.app_permissions.send_messages,
            open_dm=user.create_dm,
        )

    def expired(self) -> bool:
        return self.token_dead or discord.utils.utcnow() >= self.deadline

    def _refused(self, exc: discord.HTTPException) -> None:
        if not token_refused(exc):
            raise exc
        log.warning("Discord refused the interaction token (%s/%s)", exc.status, exc.code)
        self.token_dead = True

    async def _move_on(self) -> None:
        """Once: say in the original response (if it is still open and the token still works)
        that the rest comes as new messages."""
        if self.moved:
            return
        self.moved = True
        alive = not self.token_dead and discord.utils.utcnow() < self.token_end
        if self.original_open and alive:
            try:
                await self.interaction.edit_original_response(
                    content=t("continued_below", self.lang), view=None, allowed_mentions=NO_MENTIONS
                )
            except discord.HTTPException:
                log.info("could not resolve the deferred response", exc_info=True)
        self.original_used = True
        self.original_open = False

    async def send(self, out: Outbound) -> object:
        self.on_render = await render_started(out, self.on_render)
        if not self.expired():
            try:
                return await self._send(out)
            except discord.HTTPException as exc:
                self._refused(exc)
        await self._move_on()
        return await self.late.send(out)

    async def _send(self, out: Outbound) -> Sent:
        if not self.original_used:

            async def edit_original() -> None:
                r = render(out, self.as_menu)
                await self.interaction.edit_original_response(
                    content=r.content,
                    attachments=r.files or discord.utils.MISSING,
                    view=r.view,
                    allowed_mentions=NO_MENTIONS,
                )

            await delivered(out, edit_original)
            self.original_used = True
            self.original_open = isinstance(out, Progress) and not out.done
            return Sent(None, via_interaction=True)

        async def followup() -> discord.WebhookMessage:
            r = render(out, self.as_menu)
            kwargs: dict[str, Any] = {"content": r.content, "allowed_mentions": NO_MENTIONS}
            if r.files:
                kwargs["files"] = r.files
            if r.view is not None:
                kwargs["view"] = r.view
            return await self.interaction.followup.send(wait=True, **kwargs)

        return Sent(await delivered(out, followup), via_interaction=True)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(handle, Sent)
        if not handle.via_interaction:
            assert handle.message is not None
            await handle.message.edit(content=render(out).content, allowed_mentions=NO_MENTIONS)
            return
        if not self.expired():
            try:
                await self._edit(handle, out)
                return
            except discord.HTTPException as exc:
                self._refused(exc)
        # The token is gone: the rest of this progress line continues as a channel message.
        await self._move_on()
        fresh = await self.late.send(out)
        assert isinstance(fresh, Sent)
        handle.message, handle.via_interaction = fresh.message, False

    async def _edit(self, handle: Sent, out: Outbound) -> None:
        content = render(out).content
        if handle.message is None:
            await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS
            )
            self.original_open = isinstance(out, Progress) and not out.done
        else:
            await handle.message.edit(content=content, allowed_mentions=NO_MENTIONS)

    async def close(self) -> None:
        """Remove the "thinking…" placeholder if the engine never answered (cancelled in queue)."""
        if not self.original_used and not self.expired():
            try:
                await self.interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete an unused interaction response", exc_info=True)
