"""The one place that picks the backend's store from the settings: PostgreSQL when
``VOBACKEND_DATABASE_URL`` names one (cluster), else SQLite in the data dir (embedded)."""

from __future__ import annotations

from backend.core.settings import BackendSettings
from backend.state.interface import Store
from backend.state.pg_store import PgBackendStore
from backend.state.store import BackendStore


async def open_store(settings: BackendSettings) -> Store:
    """Open the configured store. With PostgreSQL, the signing key comes from the database too
    (unless VOBACKEND_SECRET gives it), so a link one replica signs verifies on every other."""
    if settings.uses_postgres:
        store = await PgBackendStore.open(settings.database_url)
        if not settings.signing_secret.strip():
            settings.use_secret(await store.shared_secret())
        return store
    return await BackendStore.open(settings.data_dir / "backend.sqlite3")


def _both_are_stores(embedded: BackendStore, cluster: PgBackendStore) -> tuple[Store, Store]:
    """Never called: mypy checks here that both engines satisfy ``Store``."""
    return embedded, cluster
