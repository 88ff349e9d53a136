"""Discord components for the engine's buttons: each carries the engine's command in its custom_id
(`vo:cmd:<command>`, or a select menu `vo:pick`) and is registered as a dynamic item at start-up, so
buttons keep working after a restart."""

from __future__ import annotations

from re import Match
from typing import Any, Protocol

import discord
from discord import ui

from bot.messages import Buttons

CMD_PREFIX = "vo:cmd:"
PICK_ID = "vo:pick"
MAX_CUSTOM_ID = 100


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
