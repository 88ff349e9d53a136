"""One settings object read from the environment, so every part of the bot agrees on its knobs.

Same style as the backend's (pydantic-settings): a field reads the environment variable of its own
name (``NEMO_TOKEN``, ``TELEGRAM_BOT_TOKEN``...) or the ``BOT_`` name given beside it; empty values
count as unset. ``.env.example`` lists them all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SKILL_SOURCE = "ai-voiceover-generator"


def _env(field: str, name: str) -> Any:
    """Read ``name`` from the environment; keyword arguments still use the field's own name."""
    return AliasChoices(field, name)


class Settings(BaseSettings):
    """Every knob of the bot. Tests build one directly; the process calls `from_env`."""

    model_config = SettingsConfigDict(
        env_file=None, env_ignore_empty=True, extra="ignore", frozen=True, populate_by_name=True
    )

    nemo_token: str | None = Field(default=None, repr=False)
    api_base: str | None = Field(default=None, validation_alias=_env("api_base", "NEMO_API_BASE"))
    # None above: start the embedded backend on 127.0.0.1
    data_dir: Path = Field(Path("data"), validation_alias=_env("data_dir", "BOT_DATA_DIR"))
    output_dir: Path = Field(Path("output"), validation_alias=_env("output_dir", "BOT_OUTPUT_DIR"))
    # PostgreSQL shared by bot replicas (postgresql://...). None: SQLite in data_dir.
    database_url: str | None = Field(
        default=None, repr=False, validation_alias=_env("database_url", "BOT_DATABASE_URL")
    )
    # bot replicas on PostgreSQL: how often each looks for a dead replica's renders to take over
    orphan_sweep_seconds: float = Field(
        10.0, validation_alias=_env("orphan_sweep_seconds", "BOT_ORPHAN_SWEEP_SECONDS")
    )
    still_working_seconds: float = 120.0
    job_ceiling_seconds: float = 900.0
    public_base_url: str | None = None
    register_url: str = Field(
        "https://nemovideo.ai/register", validation_alias=_env("register_url", "BOT_REGISTER_URL")
    )
    rate_limit_retry_seconds: float = Field(
        30.0, validation_alias=_env("rate_limit_retry_seconds", "BOT_RATE_LIMIT_RETRY_SECONDS")
    )
    render_poll_initial_seconds: float = Field(
        0.5,
        validation_alias=_env("render_poll_initial_seconds", "BOT_RENDER_POLL_INITIAL_SECONDS"),
    )
    render_poll_max_seconds: float = Field(
        30.0, validation_alias=_env("render_poll_max_seconds", "BOT_RENDER_POLL_MAX_SECONDS")
    )
    # ask the backend to hold each status request until the render ends (?wait=): the video is
    # seen as soon as it is ready, not at the next poll; off for a backend that rejects the parameter
    render_wait: bool = Field(True, validation_alias=_env("render_wait", "BOT_RENDER_WAIT"))
    request_timeout_seconds: float = Field(
        60.0, validation_alias=_env("request_timeout_seconds", "BOT_REQUEST_TIMEOUT_SECONDS")
    )
    sse_read_timeout_seconds: float = Field(
        120.0, validation_alias=_env("sse_read_timeout_seconds", "BOT_SSE_READ_TIMEOUT_SECONDS")
    )
    telegram_bot_token: str | None = Field(default=None, repr=False)
    discord_bot_token: str | None = Field(default=None, repr=False)
    discord_guild_id: int | None = None  # set: slash commands sync to this guild only (instant)
    # one gateway connection per process: this process's shard of DISCORD_SHARD_COUNT (both or none)
    discord_shard_id: int | None = None
    discord_shard_count: int | None = None
    # Telegram: a local Bot API server (`--local`) raises the file limits to 2000 MB.
    telegram_api_base_url: str | None = None  # e.g. http://127.0.0.1:8081/bot
    telegram_file_base_url: str | None = None  # e.g. http://127.0.0.1:8081/file/bot
    telegram_local_mode: bool = False
    telegram_max_download_mb: float | None = None  # None: 20 hosted, 2000 local
    telegram_max_upload_mb: float | None = None  # None: 50 hosted, 2000 local
    telegram_webhook_url: str | None = None  # set: webhook mode instead of long polling
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: float = 8443
    telegram_webhook_secret: str | None = Field(default=None, repr=False)
    log_level: str = Field("INFO", validation_alias=_env("log_level", "BOT_LOG_LEVEL"))
    # Loopback links (http://127.0.0.1/...) are useless to people on a real platform; only local
    # trials and tests turn this on.
    allow_loopback_links: bool = Field(
        False, validation_alias=_env("allow_loopback_links", "BOT_ALLOW_LOOPBACK_LINKS")
    )
    # how long to wait for a file sent through the upload link, and how often to look
    upload_watch_seconds: float = Field(
        3600.0, validation_alias=_env("upload_watch_seconds", "BOT_UPLOAD_WATCH_SECONDS")
    )
    upload_watch_interval_seconds: float = Field(
        3.0,
        validation_alias=_env("upload_watch_interval_seconds", "BOT_UPLOAD_WATCH_INTERVAL_SECONDS"),
    )

    @field_validator("telegram_max_download_mb", "telegram_max_upload_mb")
    @classmethod
    def _zero_is_unset(cls, value: float | None) -> float | None:
        return value or None

    @model_validator(mode="after")
    def _shards(self) -> Settings:
        shard, count = self.discord_shard_id, self.discord_shard_count
        if (shard is None) != (count is None):
            raise ValueError("set DISCORD_SHARD_ID and DISCORD_SHARD_COUNT together")
        if shard is not None and count is not None and not 0 <= shard < count:
            raise ValueError("DISCORD_SHARD_ID must be from 0 to DISCORD_SHARD_COUNT - 1")
        return self

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper() or "INFO"

    def __repr__(self) -> str:  # never print tokens, even by accident
        token = "set" if self.nemo_token else "unset"
        return (
            f"Settings(api_base={self.api_base!r}, data_dir={str(self.data_dir)!r}, "
            f"output_dir={str(self.output_dir)!r}, nemo_token={token})"
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    @property
    def store_target(self) -> str | Path:
        """Where the chat store lives: BOT_DATABASE_URL, else the SQLite file."""
        return self.database_url or self.db_path

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the composition root), checked again."""
        return type(self).model_validate({**self.model_dump(), **changes})

    @classmethod
    def from_env(cls) -> Settings:
        """The process's settings, from its environment."""
        return cls()
