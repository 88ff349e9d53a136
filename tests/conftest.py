"""Shared fixtures. The backend fixture starts the REAL backend process on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.backend import Api, BackendProcess
from tests.support.standin import StandIn


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    proc = BackendProcess(tmp_path_factory.mktemp("backend"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def api(backend: BackendProcess) -> Iterator[Api]:
    client = Api(backend.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def lumen_script() -> str:
    return (Path(__file__).parent.parent / "bot" / "examples" / "lumen_script.txt").read_text()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in backend (tests/support/standin.py): scripted replies and faults for engine tests."""
    server = StandIn().start()
    yield server
    server.stop()
