"""One settings object read from the environment, so every part of the bot agrees on its knobs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

SKILL_SOURCE = "ai-voiceover-generator"


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _int_opt(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise ValueError(f"{name} must be a numeric id, got {raw!r}")
    return int(raw)


def _opt(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    return raw or None


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Every knob of the bot. Tests build one directly; `from_env` is for the real process."""

    nemo_token: str | None = None
    api_base: str | None = None  # None: start the embedded backend on 127.0.0.1
    data_dir: Path = Path("data")
    output_dir: Path = Path("output")
    still_working_seconds: float = 120.0
    job_ceiling_seconds: float = 900.0
    public_base_url: str | None = None
    register_url: str = "https://nemovideo.ai/register"
    rate_limit_retry_seconds: float = 30.0
    render_poll_initial_seconds: float = 1.0
    render_poll_max_seconds: float = 30.0
    request_timeout_seconds: float = 60.0
    sse_read_timeout_seconds: float = 120.0
    telegram_bot_token: str | None = field(default=None, repr=False)
    discord_bot_token: str | None = field(default=None, repr=False)
    discord_guild_id: int | None = None  # set: slash commands sync to this guild only (instant)
    # Telegram: a local Bot API server (`--local`) raises the file limits to 2000 MB.
    telegram_api_base_url: str | None = None  # e.g. http://127.0.0.1:8081/bot
    telegram_file_base_url: str | None = None  # e.g. http://127.0.0.1:8081/file/bot
    telegram_local_mode: bool = False
    telegram_max_download_mb: float | None = None  # None: 20 hosted, 2000 local
    telegram_max_upload_mb: float | None = None  # None: 50 hosted, 2000 local
    telegram_webhook_url: str | None = None  # set: webhook mode instead of long polling
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: float = 8443
    telegram_webhook_secret: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    # Loopback links (http://127.0.0.1/...) are useless to people on a real platform; only local
    # trials and tests turn this on.
    allow_loopback_links: bool = False
    upload_watch_seconds: float = 3600.0  # how long to wait for a file sent through the upload link
    upload_watch_interval_seconds: float = 3.0

    def __repr__(self) -> str:  # never print tokens, even by accident
        token = "set" if self.nemo_token else "unset"
        return (
            f"Settings(api_base={self.api_base!r}, data_dir={str(self.data_dir)!r}, "
            f"output_dir={str(self.output_dir)!r}, nemo_token={token})"
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the composition root)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        return cls(
            nemo_token=_opt(e, "NEMO_TOKEN"),
            api_base=_opt(e, "NEMO_API_BASE"),
            data_dir=Path(e.get("BOT_DATA_DIR", "").strip() or "data"),
            output_dir=Path(e.get("BOT_OUTPUT_DIR", "").strip() or "output"),
            still_working_seconds=_float(e, "STILL_WORKING_SECONDS", 120.0),
            job_ceiling_seconds=_float(e, "JOB_CEILING_SECONDS", 900.0),
            public_base_url=_opt(e, "PUBLIC_BASE_URL"),
            register_url=_opt(e, "BOT_REGISTER_URL") or "https://nemovideo.ai/register",
            rate_limit_retry_seconds=_float(e, "BOT_RATE_LIMIT_RETRY_SECONDS", 30.0),
            render_poll_initial_seconds=_float(e, "BOT_RENDER_POLL_INITIAL_SECONDS", 1.0),
            render_poll_max_seconds=_float(e, "BOT_RENDER_POLL_MAX_SECONDS", 30.0),
            request_timeout_seconds=_float(e, "BOT_REQUEST_TIMEOUT_SECONDS", 60.0),
            sse_read_timeout_seconds=_float(e, "BOT_SSE_READ_TIMEOUT_SECONDS", 120.0),
            telegram_bot_token=_opt(e, "TELEGRAM_BOT_TOKEN"),
            discord_bot_token=_opt(e, "DISCORD_BOT_TOKEN"),
            discord_guild_id=_int_opt(e, "DISCORD_GUILD_ID"),
            telegram_api_base_url=_opt(e, "TELEGRAM_API_BASE_URL"),
            telegram_file_base_url=_opt(e, "TELEGRAM_FILE_BASE_URL"),
            telegram_local_mode=_flag(e, "TELEGRAM_LOCAL_MODE"),
            telegram_max_download_mb=_float(e, "TELEGRAM_MAX_DOWNLOAD_MB", 0.0) or None,
            telegram_max_upload_mb=_float(e, "TELEGRAM_MAX_UPLOAD_MB", 0.0) or None,
            telegram_webhook_url=_opt(e, "TELEGRAM_WEBHOOK_URL"),
            telegram_webhook_listen=_opt(e, "TELEGRAM_WEBHOOK_LISTEN") or "0.0.0.0",
            telegram_webhook_port=_float(e, "TELEGRAM_WEBHOOK_PORT", 8443),
            telegram_webhook_secret=_opt(e, "TELEGRAM_WEBHOOK_SECRET"),
            log_level=(e.get("BOT_LOG_LEVEL", "").strip() or "INFO").upper(),
            allow_loopback_links=e.get("BOT_ALLOW_LOOPBACK_LINKS", "").strip()
            in ("1", "true", "yes"),
            upload_watch_seconds=_float(e, "BOT_UPLOAD_WATCH_SECONDS", 3600.0),
            upload_watch_interval_seconds=_float(e, "BOT_UPLOAD_WATCH_INTERVAL_SECONDS", 3.0),
        )
