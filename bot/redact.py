"""Keep secrets out of logs: bearer tokens, known tokens, and signed URLs' query strings."""

from __future__ import annotations

import logging
import re
import threading

_lock = threading.Lock()
_secrets: set[str] = set()

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_URL_QUERY = re.compile(r"(https?://[^\s?#'\"]+)\?[^\s#'\"]*")
_KV = re.compile(r"(?i)\b(token|access_token|sig|signature|expires|key|hm)=([^&\s'\"]+)")
# A Telegram bot token ("123456789:AAF..."), also where it was never registered (a URL path).
_BOT_TOKEN = re.compile(r"(?<![0-9])\d{6,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}")  # also URL-encoded


def register_secret(secret: str | None) -> None:
    """Remember a secret (a token) so it is masked wherever it shows up later."""
    if secret and len(secret) >= 6:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """`text` with every known secret, bearer token and URL query string masked."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    text = _BOT_TOKEN.sub("***", text)
    text = _BEARER.sub(r"\1***", text)
    text = _URL_QUERY.sub(r"\1?***", text)
    return _KV.sub(r"\1=***", text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record through `redact`: the message, and the formatted
    exception (`log.exception`, `exc_info=`) and stack, which handlers would otherwise print raw."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            message = None
        if message is not None:
            cleaned = redact(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a set exc_text instead of formatting exc_info again.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Wraps a handler's formatter and redacts its whole output (exceptions included), for
    formatters that render `exc_info` themselves instead of reusing `exc_text`."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter and the redacting formatter to every handler of `logger` (the root
    logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))
