"""Discord adapter (discord.py app commands): slash commands, mentions, persistent buttons.

Turns interactions and mentions into the engine's `Inbound` and renders its replies through
`adapters.discord_reply`. One backend session per channel; a thread is its own channel, so each
thread gets its own session. The slash-command path needs no privileged intent: messages that
mention the bot carry their content anyway. `python -m bot` runs `serve` when DISCORD_BOT_TOKEN is set.

Named `discord_bot` (not `discord`) so that nothing in this package can shadow the `discord` library.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import discord
import httpx
from discord import app_commands

from adapters.discord_reply import (
    MAX_INPUT_BYTES,
    NO_MENTIONS,
    ChannelReplier,
    InteractionReplier,
    OnRender,
    Sendable,
)
from adapters.discord_resume import (
    INTERACTION,
    FollowupReplier,
    interaction_record,
    live_interaction,
)
from adapters.discord_views import CommandButton, CommandSelect
from bot.engine import Engine
from bot.messages import Attachment, Inbound, Replier
from bot.redact import register_secret
from bot.replicas import adopt_orphans
from bot.settings import Settings

log = logging.getLogger(__name__)

NAME = "discord"
# Per-chat setting: the id of the user whose render is in flight, to mention after a restart.
REQUESTER = "discord_render_requester"
# Per-chat setting: "0" when the interaction's `app_permissions` lacked Send Messages, so a render
# resumed after a restart goes to the requester's DMs instead of failing on the channel.
CAN_SEND = "discord_can_send"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_filename(name: str) -> str:
    """A file name that cannot leave the folder it is written to."""
    cleaned = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._")
    return cleaned[:120] or "upload"


class VoiceoverBot(discord.Client):
    """The Discord client: commands in a `CommandTree`, components as dynamic items."""

    def __init__(
        self,
        engine: Engine,
        *,
        guild_id: int | None = None,
        http: httpx.AsyncClient | None = None,
        intents: discord.Intents | None = None,
        resume: bool = True,
        shard: tuple[int, int] | None = None,
    ) -> None:
        # Default intents exclude message content: slash commands and mentions work without it.
        # `shard` (id, count): this process's one gateway connection gets that shard's guilds.
        super().__init__(
            intents=intents or discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            shard_id=shard[0] if shard else None,
            shard_count=shard[1] if shard else None,
        )
        self.engine = engine
        self.guild_id = guild_id
        self.resume = resume
        self._downloads = http or httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0))
        self._active: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None  # takes over a dead replica's renders
        self.started = 0  # interactions and mentions taken on (tests wait on it)
        self.tree = app_commands.CommandTree(self)
        for command in _commands():
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        """Register persistent components, sync commands, pick up renders a restart interrupted."""
        self.add_dynamic_items(CommandButton, CommandSelect)
        if not self.shard_id:  # commands belong to the application: shard 0 syncs them
            await self._sync_commands()
        if self.resume:
            await self.engine.resume(self.replier_for, platform=NAME)
            self._sweeper = asyncio.create_task(adopt_orphans(self.engine, self.replier_for, NAME))

    async def _sync_commands(self) -> None:
        if self.guild_id is not None:
            guild = discord.Object(id=self.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            await self._clear_global_commands()
        else:
            synced = await self.tree.sync()
        log.info("synced %d slash commands (%s)", len(synced), self.guild_id or "global")

    async def _clear_global_commands(self) -> None:
        """With a guild id the commands live in that guild; global ones left by an earlier global
        sync would show every command twice there, so they are removed (once: only while any)."""
        if not await self.tree.fetch_commands():
            return
        self.tree.clear_commands(guild=None)
        await self.tree.sync()
        log.info("removed the global slash commands (guild %s has its own)", self.guild_id)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await super().close()
        await self._downloads.aclose()

    # inbound

    def inbound(
        self,
        channel_id: int,
        user: discord.abc.User,
        text: str,
        attachments: Sequence[discord.Attachment] = (),
    ) -> Inbound:
        return Inbound(
            chat_id=str(channel_id),
            user_id=str(user.id),
            user_name=user.display_name,
            text=text,
            attachments=tuple(self.attachment(a) for a in attachments),
            platform=NAME,
        )

    def attachment(self, att: discord.Attachment) -> Attachment:
        """A lazy attachment: its declared size is checked by the engine before any byte moves."""
        mime = att.content_type or mimetypes.guess_type(att.filename)[0]
        return Attachment(
            name=att.filename,
            mime=(mime or "application/octet-stream").split(";")[0],
            size=att.size,
            fetch=partial(self._fetch, att.url, att.filename, att.size),
        )

    async def _fetch(self, url: str, name: str, size: int, folder: Path) -> Path:
        """Stream one attachment to disk, refusing more bytes than it declared."""
        dest = folder / safe_filename(name)
        cap = min(size, MAX_INPUT_BYTES)
        got = 0
        async with self._downloads.stream("GET", url) as resp:
            resp.raise_for_status()
            with dest.open("wb") as f:
                async for chunk in resp.aiter_bytes(1 << 16):
                    got += len(chunk)
                    if got > cap:
                        raise ValueError(f"attachment {name!r} is larger than it declared")
                    f.write(chunk)
        return dest

    def channel_of(self, channel_id: int) -> Sendable:
        channel = self.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.get_partial_messageable(channel_id)

    async def replier_for(self, key: str) -> Replier:
        """A channel replier for a stored chat key (renders resumed after a restart), mentioning
        whoever asked for the render when that was stored."""
        channel_id = int(key.split(":", 1)[1])
        channel = self.channel_of(channel_id)
        guild = getattr(channel, "guild", None)
        user_id = await self.engine.store.get_setting(key, REQUESTER)
        requester = discord.Object(id=int(user_id)) if user_id and user_id.isdigit() else None
        can_send = await self.engine.store.get_setting(key, CAN_SEND) != "0"
        late = ChannelReplier(
            channel,
            file_limit=guild.filesize_limit if guild else None,
            requester=requester,
            can_send=can_send,
            open_dm=partial(self.create_dm, requester) if requester is not None else None,
        )
        live = live_interaction(await self.engine.store.get_setting(key, INTERACTION))
        if live is None:
            return late
        app, token, until = live  # the asker's interaction still answers: follow up there
        return FollowupReplier(discord.Webhook.partial(app, token, client=self), until, late)

    def remember_requester(
        self,
        channel_id: int,
        user: discord.abc.User,
        can_send: bool = True,
        interaction: discord.Interaction[Any] | None = None,
    ) -> OnRender:
        """What a replier runs when a render starts: store who asked (whether the bot may post
        in the channel, and the interaction's token while it lasts), for `replier_for`."""

        async def remember() -> None:
            key = f"{NAME}:{channel_id}"
            await self.engine.store.set_setting(key, REQUESTER, str(user.id))
            await self.engine.store.set_setting(key, CAN_SEND, "1" if can_send else "0")
            token = interaction_record(interaction) if interaction is not None else None
            await self.engine.store.set_setting(key, INTERACTION, token)

        return remember

    # interactions

    async def run_interaction(
        self,
        interaction: discord.Interaction[Any],
        text: str,
        attachments: Sequence[discord.Attachment] = (),
        *,
        as_menu: bool = False,
    ) -> None:
        """Defer first (Discord wants an answer within 3 s), then let the engine work."""
        self._track()
        await interaction.response.defer(thinking=True)
        channel_id = interaction.channel_id or interaction.user.id
        replier = InteractionReplier(
            interaction,
            self.channel_of(channel_id),
            as_menu=as_menu,
            on_render=self.remember_requester(
                channel_id, interaction.user, interaction.app_permissions.send_messages, interaction
            ),
        )
        inbound = self.inbound(channel_id, interaction.user, text, attachments)
        try:
            await self.engine.handle(inbound, replier)
        finally:
            await replier.close()

    async def run_command(self, interaction: discord.Interaction[Any], command: str) -> None:
        """A pressed button or a picked option: the engine's command, as if the user typed it."""
        await self.run_interaction(interaction, command)

    # mentions

    def addressed(self, message: discord.Message) -> bool:
        """A message for the bot: in a DM, mentioning it, or replying to one of its messages.
        (A reply with its ping on lists the bot in `mentions` without `<@id>` in the content,
        and Discord delivers its content without the message-content intent.)"""
        me = self.user
        if me is None:
            return False
        direct = message.guild is None and getattr(message.channel, "guild_id", None) is None
        if direct or me.id in message.raw_mentions:
            return True
        if any(user.id == me.id for user in message.mentions):
            return True
        ref = message.reference
        replied = ref.resolved if ref is not None else None
        return isinstance(replied, discord.Message) and replied.author.id == me.id

    async def on_message(self, message: discord.Message) -> None:
        """Messages addressed to the bot (see `addressed`) go to the engine."""
        me = self.user
        if me is None or message.author.bot or not self.addressed(message):
            return
        text = re.sub(rf"<@!?{me.id}>", "", message.content).strip()
        if not text and not message.attachments:
            return
        file_limit = message.guild.filesize_limit if message.guild else None
        replier = ChannelReplier(
            message.channel,
            file_limit=file_limit,
            requester=message.author,
            reference=message,
            on_render=self.remember_requester(message.channel.id, message.author),
        )
        inbound = self.inbound(message.channel.id, message.author, text, message.attachments)
        self._track()
        await self.engine.handle(inbound, replier)

    def _track(self) -> None:
        self.started += 1
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
            task.add_done_callback(self._active.discard)

    async def wait_idle(self) -> None:
        """Wait until every interaction and mention being handled has been answered."""
        while self._active:
            await asyncio.gather(*list(self._active), return_exceptions=True)


# slash commands


def _bot(interaction: discord.Interaction[Any]) -> VoiceoverBot:
    client = interaction.client
    assert isinstance(client, VoiceoverBot)
    return client


@app_commands.command(name="voiceover", description="Make or edit a voiceover video")
@app_commands.describe(
    prompt="What you want, e.g. a natural male voiceover in English",
    script="A script (TXT or DOCX)",
    video="A video (MP4, MOV, AVI, WEBM, MKV)",
    music="Background music",
)
async def voiceover_cmd(
    interaction: discord.Interaction[Any],
    prompt: str,
    script: discord.Attachment | None = None,
    video: discord.Attachment | None = None,
    music: discord.Attachment | None = None,
) -> None:
    files = [a for a in (script, video, music) if a is not None]
    await _bot(interaction).run_interaction(interaction, prompt, files)


def _simple(
    name: str, description: str, as_menu: bool = False
) -> app_commands.Command[Any, Any, Any]:
    async def callback(interaction: discord.Interaction[Any]) -> None:
        await _bot(interaction).run_interaction(interaction, f"/{name}", as_menu=as_menu)

    return app_commands.Command(name=name, description=description, callback=callback)


def _commands() -> list[app_commands.Command[Any, Any, Any]]:
    return [
        voiceover_cmd,
        _simple("export", "Render the project to MP4"),
        _simple("status", "Show the project's timeline"),
        _simple("credits", "Show the credit balance"),
        _simple("new", "Start a new project in this channel"),
        _simple("voice", "Pick a voice", as_menu=True),
        _simple("voices", "Hear every voice, then pick one"),
        _simple("cancel", "Stop the running job"),
        _simple("help", "What the bot can do and how to ask"),
    ]


async def serve(engine: Engine, settings: Settings) -> None:
    """Run the Discord bot until it is stopped (the composition root's hook)."""
    token = settings.discord_bot_token
    if not token:
        raise ValueError("DISCORD_BOT_TOKEN is not set")
    register_secret(token)
    shard_id, count = settings.discord_shard_id, settings.discord_shard_count
    shard = (shard_id, count) if shard_id is not None and count is not None else None
    async with VoiceoverBot(engine, guild_id=settings.discord_guild_id, shard=shard) as bot:
        await bot.start(token)
