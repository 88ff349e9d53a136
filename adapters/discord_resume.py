"""Discord renders resumed after a restart (or by another replica) while the interaction that asked
for them still has a live token: the results go on as follow-ups of that interaction, where the
person asked, even in a channel where the bot may not post; only once the token is refused or
about to expire (15 minutes from the interaction) do they go to the channel, or the DMs.

The token is stored with the chat when a render starts (`remember`); nothing else is kept.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import discord

from adapters.discord_reply import (
    INTERACTION_WINDOW,
    NO_MENTIONS,
    TOKEN_MARGIN,
    ChannelReplier,
    Sent,
    delivered,
    render,
    token_refused,
)
from bot.messages import Limits, Outbound

log = logging.getLogger(__name__)

# Per-chat setting: the interaction behind the render in flight, {"app", "token", "until"}.
INTERACTION = "discord_render_interaction"


def interaction_record(interaction: discord.Interaction[Any]) -> str:
    """What `remember` stores: the application, the token and when it stops being usable."""
    until = (interaction.created_at + INTERACTION_WINDOW - TOKEN_MARGIN).timestamp()
    return json.dumps(
        {"app": interaction.application_id, "token": interaction.token, "until": until}
    )


def live_interaction(stored: str | None) -> tuple[int, str, float] | None:
    """(application id, token, usable until) of a stored interaction, if its token still works."""
    try:
        data = json.loads(stored or "")
        app, token, until = int(data["app"]), str(data["token"]), float(data["until"])
    except (ValueError, KeyError, TypeError):
        return None
    return (app, token, until) if time.time() < until else None


class FollowupReplier:
    """Sends as follow-ups of a stored interaction token while it works, then through `late`."""

    def __init__(self, webhook: discord.Webhook, until: float, late: ChannelReplier) -> None:
        self.webhook = webhook
        self.until = until
        self.late = late
        self.limits: Limits = late.limits
        self.token_dead = False

    def expired(self) -> bool:
        return self.token_dead or time.time() >= self.until

    def _refused(self, exc: discord.HTTPException) -> None:
        if not token_refused(exc):
            raise exc
        log.info("Discord refused the stored interaction token (%s/%s)", exc.status, exc.code)
        self.token_dead = True

    async def send(self, out: Outbound) -> object:
        if not self.expired():

            async def followup() -> discord.WebhookMessage:
                r = render(out)
                kwargs: dict[str, Any] = {"content": r.content, "allowed_mentions": NO_MENTIONS}
                if r.files:
                    kwargs["files"] = r.files
                if r.view is not None:
                    kwargs["view"] = r.view
                return await self.webhook.send(wait=True, **kwargs)

            try:
                return Sent(await delivered(out, followup), via_interaction=True)
            except discord.HTTPException as exc:
                self._refused(exc)
        return await self.late.send(out)

    async def edit(self, handle: object, out: Outbound) -> None:
        assert isinstance(handle, Sent) and handle.message is not None
        if handle.via_interaction and not self.expired():
            try:
                await handle.message.edit(content=render(out).content, allowed_mentions=NO_MENTIONS)
                return
            except discord.HTTPException as exc:
                self._refused(exc)
        if not handle.via_interaction:
            await self.late.edit(handle, out)
            return
        fresh = await self.late.send(out)  # the token is gone: the line goes on in the channel
        assert isinstance(fresh, Sent)
        handle.message, handle.via_interaction = fresh.message, False
