"""What the chat is told when a job fails the expected ways: the job ceiling, a failed render,
the backend out of reach or an error code. Shared by new messages and renders resumed after a
restart, so both say the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot.client import BackendError, BackendUnavailable
from bot.export import ExportFailed
from bot.identity import Chat
from bot.messages import Replier, Text
from bot.settings import Settings
from bot.texts import t
from bot.turn import JobCeiling

log = logging.getLogger(__name__)

Describe = Callable[[BackendError, Chat], Awaitable[str]]


@asynccontextmanager
async def reported(
    chat: Chat, replier: Replier, settings: Settings, describe: Describe
) -> AsyncIterator[None]:
    """Run the body; an expected failure becomes its message to the chat (others propagate)."""
    try:
        yield
    except JobCeiling:
        minutes = round(settings.job_ceiling_seconds / 60)
        await replier.send(Text(t("ceiling", chat.language, minutes=minutes)))
    except ExportFailed:
        pass  # the progress message already says why
    except BackendUnavailable:
        log.warning("chat %s: backend unreachable", chat.key)
        await replier.send(Text(t("err_backend_down", chat.language)))
    except BackendError as exc:
        log.info("chat %s: backend error %s", chat.key, exc.code)
        await replier.send(Text(await describe(exc, chat)))
