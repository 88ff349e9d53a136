"""Shared fixtures. The backend fixture starts the REAL backend process on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import redact
from bot.__main__ import EXAMPLE_SCRIPT
from tests.support import ci
from tests.support import standin as standin_module
from tests.support.backend import Api, BackendProcess
from tests.support.services import services  # noqa: F401  (session fixture: PostgreSQL + SeaweedFS)
from tests.support.standin import StandIn


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(available, reason): skip without it; on CI (CI=true) fail instead"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    ci.check(item)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    proc = BackendProcess(tmp_path_factory.mktemp("backend"))
    proc.start()
    # The speech of the example script is in the sentence cache before any test runs, so every
    # test sees the same cache (_restore_tts_cache removes whatever a test adds to it).
    warm = Api(proc.url)
    assert warm.upload(("lumen_script.txt", EXAMPLE_SCRIPT.read_bytes())).status_code == 200
    r, _ = warm.say("generate a natural male voiceover in English for my script")
    assert r.status_code == 200
    warm.close()
    yield proc
    proc.stop()


@pytest.fixture
def api(backend: BackendProcess) -> Iterator[Api]:
    client = Api(backend.url)
    yield client
    client.close()


@pytest.fixture(scope="session")
def lumen_script() -> str:
    return EXAMPLE_SCRIPT.read_text()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    """A stand-in backend (tests/support/standin.py): scripted replies and faults for engine tests."""
    server = StandIn().start()
    yield server
    server.stop()


# Global state that would otherwise leak from one test into the next.


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Logger levels (tests raise httpx to DEBUG) and the root handlers' filters and formatters
    (install_redaction) come back as they were."""
    manager = logging.Logger.manager
    levels = {
        name: lg.level for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)
    }
    root = logging.getLogger()
    root_level = root.level
    handlers = {h: (list(h.filters), h.formatter) for h in root.handlers}
    yield
    for name, lg in list(manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))
    root.setLevel(root_level)
    for handler, (filters, formatter) in handlers.items():
        handler.filters[:] = filters
        handler.setFormatter(formatter)


@pytest.fixture(autouse=True)
def _restore_redaction_secrets() -> Iterator[None]:
    """The process-wide set of secrets bot/redact.py masks: a test's tokens leave with it."""
    with redact._lock:
        before = set(redact._secrets)
    yield
    with redact._lock:
        redact._secrets.clear()
        redact._secrets.update(before)


@pytest.fixture(autouse=True)
def _restore_tts_cache(request: pytest.FixtureRequest) -> Iterator[None]:
    """The session backend's sentence cache is shared by every test that uses it: what a test
    synthesizes is removed afterwards, so no test's credits or cache counts depend on the order."""
    if "backend" not in request.fixturenames:
        yield
        return
    cache = request.getfixturevalue("backend").data_dir / "tts-cache"
    before = set(cache.iterdir()) if cache.is_dir() else set()
    yield
    for path in set(cache.iterdir()) - before if cache.is_dir() else ():
        path.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _console_replies_are_read(request: pytest.FixtureRequest) -> Iterator[None]:
    """Like Errbot's test backend: a test that leaves a reply of the programmatic console unread
    fails (at teardown), so no reply goes out unchecked."""
    standin_module.CONSOLES.clear()
    yield
    consoles = list(standin_module.CONSOLES)
    standin_module.CONSOLES.clear()
    if request.node.stash.get(_CALL_FAILED, True):
        return  # the test failed (or never ran): its own report says more
    unread = [line for console in consoles for line in console.unread()]
    if unread:
        pytest.fail(
            "replies the test never read:\n  " + "\n  ".join(u[:300] for u in unread),
            pytrace=False,
        )
