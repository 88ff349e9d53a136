"""Shared fixtures. The backend fixture starts the REAL backend process on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from bot import redact
from bot.__main__ import EXAMPLE_SCRIPT
from tests.support import ci, modes
from tests.support import standin as standin_module
from tests.support.backend import Api, BackendProcess
from tests.support.modes import ClusterBackend
from tests.support.services import (
    Services,
    services,  # noqa: F401  (session fixture: PostgreSQL + SeaweedFS)
)
from tests.support.standin import StandIn


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(available, reason): skip without it; on CI (CI=true) fail instead"
    )
    config.addinivalue_line(
        "markers",
        "both_modes: run with the backend embedded and as a cluster (tests/support/modes.py)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_modes`` that uses the backend runs once per mode of issue 14
    (VO_TEST_MODES=cluster or =embedded,cluster: every test that uses the backend, in those)."""
    if "backend" not in metafunc.fixturenames:
        return
    chosen = modes.chosen_modes()
    if chosen:
        metafunc.parametrize("backend", chosen, indirect=True, scope="function")
    elif metafunc.definition.get_closest_marker("both_modes"):
        metafunc.parametrize("backend", modes.MODES, indirect=True, scope="function")


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
def embedded_backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendProcess]:
    if modes.uses_cluster(request.session.items):
        try:  # the cluster starts meanwhile (cluster_starting); its own tests report a failure
            request.getfixturevalue("cluster_starting")
        except (Exception, pytest.skip.Exception, pytest.fail.Exception):
            pass
    proc = modes.embedded_backend(tmp_path_factory.mktemp("backend"))
    try:
        modes.warm_up(proc)
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def cluster_starting(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Future[ClusterBackend]]:
    """The cluster's processes starting in the background (their imports and migrations take
    half a minute on a busy machine), beside the embedded backend's start and warm-up."""
    running: Services = request.getfixturevalue("services")
    base = tmp_path_factory.mktemp("cluster_mode")
    with ThreadPoolExecutor(1) as pool:
        starting = pool.submit(modes.cluster_backend, running, base)
        try:
            yield starting
        finally:
            if starting.exception() is None:
                starting.result().stop()


@pytest.fixture(scope="session")
def cluster_backend(request: pytest.FixtureRequest) -> ClusterBackend:
    """Issue 14's cluster behind a round-robin proxy, started once for the session."""
    starting: Future[ClusterBackend] = request.getfixturevalue("cluster_starting")
    warm: BackendProcess = request.getfixturevalue("embedded_backend")
    found = starting.result()
    modes.share_cache(warm, found)
    return found


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> BackendProcess | ClusterBackend:
    """The embedded backend; for a test marked ``both_modes``, each of the two modes in turn."""
    mode = getattr(request, "param", "embedded")
    found: BackendProcess | ClusterBackend = request.getfixturevalue(f"{mode}_backend")
    return found


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
    caches = modes.tts_caches(request.getfixturevalue("backend"))
    before = modes.cache_contents(caches)
    yield
    modes.restore_caches(caches, before)


@pytest.fixture(autouse=True)
def _both_replicas_answered(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test run against the cluster had requests answered by each API replica (through the
    round-robin proxy), so it really crossed replicas rather than passing on one."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None or callspec.params.get("backend") != "cluster":
        yield
        return
    proxy = request.getfixturevalue("cluster_backend").proxy
    before = proxy.counts()
    yield
    served = [n - b for n, b in zip(proxy.counts(), before, strict=True)]
    if not request.node.stash.get(_CALL_FAILED, True) and min(served) == 0:
        pytest.fail(f"requests per replica {served}: one replica answered none", pytrace=False)


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
