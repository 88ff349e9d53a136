"""Backend configuration: one settings object, read from the environment (prefix ``VOBACKEND_``).

The CLI (``python -m backend``) overrides host, port and data dir.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, Field, PrivateAttr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024
_SECRETS: dict[Path, bytes] = {}  # read once per data dir, not on every signed link


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOBACKEND_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data/backend")
    # Where signed download/upload links point. Empty: http://host:port (fine for local use only).
    public_base_url: str = ""
    # URL uploads may not reach loopback/private/link-local addresses unless this is set (tests need it).
    allow_private_urls: bool = False
    max_upload_bytes: int = 500 * MB
    url_max_redirects: int = 3
    url_timeout_seconds: float = 30.0
    # A URL download as a whole (redirects included); a source trickling bytes is cut off after it.
    url_total_seconds: float = 300.0
    # Uploads: after a grace period, at least this many bytes a second on average, and all of a
    # body within the deadline (500 MB in 2 hours is 70 KB/s); slower uploads are stopped (4000)
    # and their partial files removed. At most this many uploads at once per identity, and in
    # all in this process (429): each holds a descriptor, a .part file and a connection.
    upload_min_bytes_per_second: int = 8 * 1024
    upload_grace_seconds: float = 30.0
    upload_deadline_seconds: float = 2 * 3600.0
    max_uploads_per_identity: int = 3
    max_uploads_total: int = 100
    # A request's line and headers must be in within this long of the connection opening (or
    # of the previous response on a kept-alive one); else it is closed (slowloris).
    header_timeout_seconds: float = 15.0
    token_ttl_seconds: int = 7 * 24 * 3600
    initial_credits: int = 100
    seconds_per_credit: int = 10
    render_workers: int = 2
    # Issue 14: PostgreSQL (postgresql://user:pass@host:port/db) for tokens, credits, sessions,
    # media and renders, shared by every API replica and worker. Empty: SQLite in the data dir.
    database_url: str = Field("", repr=False)  # holds a password
    # The HMAC key of signed links (hex, or any long string), the same on every replica. Empty:
    # kept in the database when it is PostgreSQL (made by the first process), else in the data
    # dir's secret.key.
    signing_secret: str = Field(
        "", repr=False, validation_alias=AliasChoices("VOBACKEND_SECRET", "signing_secret")
    )
    # Issue 14: a PostgreSQL URL for the job queue (SAQ). Unset: the store's URL when it is
    # PostgreSQL, else none (renders and synthesis run in this process). With a queue, the API
    # only enqueues and `python -m backend worker` processes do the work.
    queue_url: str = ""
    # Renders one identity may have running at once; the others wait their turn (round robin
    # across identities), so a heavy user delays only themselves.
    renders_per_identity: int = 1
    signed_url_ttl_seconds: int = 24 * 3600
    upload_link_ttl_seconds: int = 6 * 3600
    heartbeat_seconds: float = 15.0
    max_script_words: int = 20_000
    registration_url: str = "https://nemovideo.ai/register"
    # Extra font folders for scripts DejaVu lacks (CJK), separated by ":". Empty: use the Debian
    # CJK font folders that exist on this machine (fonts-wqy-microhei, fonts-noto-cjk, ...).
    font_dirs: str = ""
    # S3-compatible object storage for uploads, voiceovers and renders (cluster mode). Empty
    # endpoint: local disk only. Links are presigned with s3_public_endpoint when clients reach the
    # storage at another address than the backend does.
    s3_endpoint: str = ""
    s3_bucket: str = "voiceover"
    s3_access_key: str = ""
    s3_secret_key: str = Field("", repr=False)
    s3_region: str = "us-east-1"
    s3_public_endpoint: str = ""
    # With S3, the data dir is each process's cache of objects: kept under this many MB by evicting
    # the least recently used (they stay in the bucket). 0: never evict.
    s3_cache_mb: int = 20_000

    _shared_secret: bytes | None = PrivateAttr(None)

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    def use_secret(self, value: bytes) -> None:
        """The key the store keeps for all replicas (``backend.state.factory.open_store``)."""
        self._shared_secret = value

    def extra_font_dirs(self) -> list[Path] | None:
        """The configured folders, or None to detect them."""
        if not self.font_dirs.strip():
            return None
        return [Path(p).expanduser() for p in self.font_dirs.split(":") if p.strip()]

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Stored media paths are absolute, so ffmpeg finds them from its own scratch folder."""
        return value.expanduser().resolve()

    @property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        return f"http://{self.host}:{self.port}"

    def secret(self) -> bytes:
        """The HMAC key for signed URLs: VOBACKEND_SECRET, else the database's (cluster), else
        generated once and kept in the data dir so links survive restarts."""
        if self.signing_secret.strip():
            try:
                return bytes.fromhex(self.signing_secret.strip())
            except ValueError:
                return self.signing_secret.strip().encode()
        if self._shared_secret is not None:
            return self._shared_secret
        path = self.data_dir / "secret.key"
        cached = _SECRETS.get(path)
        if cached is not None:
            return cached
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        _SECRETS[path] = bytes.fromhex(path.read_text().strip())
        return _SECRETS[path]
