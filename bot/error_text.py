"""What people read for a backend error (DESIGN section 4), in the chat's language.

Only the bot's own wording reaches the chat: the backend's raw text ("Bad Gateway" from a proxy,
an English reason in a Chinese chat) is logged instead. The exceptions are 4005 (bad input: a
script no voice can read, a private URL, too many redirects) and 4001 (a file it cannot use: empty,
damaged, a PDF renamed .mp4), whose messages the backend writes for a person in the language the bot
sends with each request; 4001 is followed by the supported formats.
"""

from __future__ import annotations

import logging

from bot.client import BackendClient, BackendError, BackendUnavailable
from bot.identity import Chat, Identities
from bot.settings import Settings
from bot.texts import t

log = logging.getLogger(__name__)

BAD_INPUT = 4005  # the backend's message is written for a person: shown as it is

UNSUPPORTED_FILE = 4001  # the backend says what is wrong with the file; the formats follow

_SIMPLE = {
    4001: "err_formats",
    4002: "err_too_large",
    402: "err_upgrade",
    429: "err_rate_limited",
    1001: "err_auth",
}


def is_server_side(code: int) -> bool:
    """HTTP 5xx (a proxy's 502 included) or the protocol's 5xxx codes."""
    return 500 <= code < 600 or 5000 <= code < 6000


def is_transient(code: int) -> bool:
    """Worth asking again later: rate limited or the server side failing."""
    return code == 429 or is_server_side(code)


async def error_text(
    exc: BackendError, chat: Chat, ids: Identities, client: BackendClient, settings: Settings
) -> str:
    """The person-facing message for a backend error code."""
    lang = chat.language
    code = exc.code
    if code == 2001:
        need, available = _count(exc.data.get("need")), _count(exc.data.get("available"))
        short = need is not None and available is not None and available > 0
        if ids.registered:
            if short:
                return t("err_short_topup", lang, need=need, available=available)
            return t("err_topup", lang)
        bind = exc.data.get("bind_id") or chat.record.bind_id
        if not bind:
            try:
                bind = (
                    await ids.call(chat, lambda a, _s: client.credits(a), needs_session=False)
                ).bind_id
            except (BackendError, BackendUnavailable):
                bind = None
        url = settings.register_url + (f"?bind={bind}" if bind else "")
        if short:
            return t("err_short_register", lang, need=need, available=available, url=url)
        return t("err_register", lang, url=url)
    if code == UNSUPPORTED_FILE and exc.message.strip():
        message = exc.message.strip()
        if "MP4" in message and "DOCX" in message:  # the backend's text already lists them
            return "🚫 " + message
        return t("err_formats_reason", lang, message=message)
    if code in _SIMPLE:
        return t(_SIMPLE[code], lang)
    if code == BAD_INPUT and exc.message:
        return t("err_generic", lang, message=exc.message)
    log.warning("chat %s: backend error %s not shown to the user: %r", chat.key, code, exc.message)
    return t("err_service" if is_server_side(code) else "err_request_failed", lang)


def _count(value: object) -> int | None:
    """A credit count from the error's data (a whole number), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if value >= 0 and float(value).is_integer() else None
