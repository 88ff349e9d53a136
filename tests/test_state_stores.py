"""The backend's store on both engines, the same assertions: SQLite (embedded) and PostgreSQL
(cluster, a real server from ``tests/support/services.py``, a fresh database per test).
PostgreSQL-only tests cover what several replicas sharing one database need."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from backend.core.settings import BackendSettings
from backend.core.signing import sign, verify
from backend.state.factory import open_store
from backend.state.interface import Store
from backend.state.model import Script, SessionState
from backend.state.pg_store import MIGRATIONS, SCHEMA, PgBackendStore
from backend.state.records import MediaItem
from backend.state.store import BackendStore
from tests.support.services import Services

DAY = 24 * 3600


@pytest.fixture
def pg_url(services: Services) -> str:
    return services.database("st_" + uuid.uuid4().hex[:10])


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened: Store = await BackendStore.open(tmp_path / "backend.sqlite3")
    else:
        opened = await PgBackendStore.open(request.getfixturevalue("pg_url"))
    try:
        yield opened
    finally:
        await opened.close()


async def test_identity_token_round_trip_and_expiry(store: Store) -> None:
    ident, expires = await store.create_identity("client-a", 100, "tok-a", DAY)
    assert expires > 0
    found = await store.identity_for_token("tok-a")
    assert found is not None and found.id == ident.id and found.credits == 100
    assert await store.identity_for_token("tok-b") is None
    assert await store.last_token_issue("client-a") is not None
    assert await store.last_token_issue("nobody") is None
    await store.expire_tokens(ident.id)
    assert await store.identity_for_token("tok-a") is None
    assert (await store.identity(ident.id)) is not None


async def test_ten_token_requests_at_once_issue_one(store: Store) -> None:
    results = await asyncio.gather(
        *(store.issue_anonymous("client-x", 50, f"t{i}", DAY, every=60) for i in range(10))
    )
    issued = [r for r in results if isinstance(r, tuple)]
    assert len(issued) == 1
    assert all(isinstance(r, float) for r in results if not isinstance(r, tuple))
    again = await store.issue_anonymous("client-x", 50, "late", DAY, every=60)
    assert isinstance(again, float)
    other = await store.issue_anonymous("client-y", 50, "y", DAY, every=60)
    assert isinstance(other, tuple)


async def test_credits_freeze_settle_and_never_below_zero(store: Store) -> None:
    ident, _ = await store.create_identity("c", 10, "t", DAY)
    assert await store.freeze(ident.id, 8)
    assert not await store.freeze(ident.id, 3)  # 2 available
    frozen = await store.identity(ident.id)
    assert frozen is not None and (frozen.frozen, frozen.available) == (8, 2)
    await store.settle(ident.id, 8, 5)
    after = await store.identity(ident.id)
    assert after is not None and (after.credits, after.frozen) == (5, 0)
    assert await store.freeze(ident.id, 5)
    await store.settle(ident.id, 5, 99)
    broke = await store.identity(ident.id)
    assert broke is not None and (broke.credits, broke.frozen) == (0, 0)


async def test_voiced_sentences_are_charged_once(store: Store) -> None:
    ident, _ = await store.create_identity("c", 10, "t", DAY)
    other, _ = await store.create_identity("d", 10, "u", DAY)
    assert await store.claim_voiced(ident.id, ["k1", "k2", "k1"]) == {"k1", "k2"}
    assert await store.claim_voiced(ident.id, ["k2", "k3"]) == {"k3"}
    assert await store.claim_voiced(other.id, ["k1"]) == {"k1"}
    assert await store.claim_voiced(ident.id, []) == set()


async def test_sessions_and_media(store: Store) -> None:
    ident, _ = await store.create_identity("c", 10, "t", DAY)
    state = SessionState.new("Launch 配音")
    sid, task_id = await store.create_session(ident.id, "zh", state)
    assert task_id.startswith("task_")
    state.script = Script(text="你好，世界。", name="s.txt")
    await store.save_state(sid, state)
    got = await store.session(sid)
    assert got is not None
    owner, language, loaded = got
    assert (owner, language) == (ident.id, "zh")
    assert loaded.script is not None and loaded.script.text == "你好，世界。"
    assert await store.session("nope") is None
    for i, kind in enumerate(["script", "video", "script"]):
        await store.add_media(
            MediaItem(f"m{i}", sid, kind, f"f{i}", Path(f"/d/f{i}"), i, "x/y", {"n": i})
        )
    assert [m.id for m in await store.media(sid)] == ["m0", "m1", "m2"]
    assert [m.id for m in await store.media(sid, "script")] == ["m0", "m2"]
    item = await store.media_item(sid, "m1")
    assert item is not None and item.path == Path("/d/f1") and item.info == {"n": 1}
    assert await store.media_item("other", "m1") is None


async def test_render_jobs(store: Store) -> None:
    assert await store.create_job("r1", "s", "i", {"timeline": [1]})
    assert not await store.create_job("r1", "s2", "i2", {})  # the id is taken
    await store.update_job("r1", "rendering", progress=0.5)
    await store.update_job("r1", "rendering")  # progress kept
    job = await store.job("r1")
    assert job is not None and (job.status, job.progress, job.draft) == (
        "rendering",
        0.5,
        {"timeline": [1]},
    )
    assert [j.id for j in await store.unfinished_jobs()] == ["r1"]
    await store.update_job("r1", "completed", progress=1.0, output={"url": "u"})
    done = await store.job("r1")
    assert done is not None and done.output == {"url": "u"} and done.error is None
    assert await store.unfinished_jobs() == []
    assert await store.job("r2") is None


# PostgreSQL only: several replicas on one database ------------------------------------------
async def test_two_replicas_opening_at_once_migrate_once(pg_url: str) -> None:
    a, b = await asyncio.gather(PgBackendStore.open(pg_url), PgBackendStore.open(pg_url))
    try:
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute(f"SELECT version FROM {SCHEMA}.schema_version").fetchall()
        assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    finally:
        await a.close()
        await b.close()


async def test_two_replicas_issue_one_token_per_client_and_share_claims(pg_url: str) -> None:
    a, b = await PgBackendStore.open(pg_url), await PgBackendStore.open(pg_url)
    try:
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).issue_anonymous("client-z", 5, f"t{i}", DAY, every=60)
                for i in range(10)
            )
        )
        issued = [r for r in results if isinstance(r, tuple)]
        assert len(issued) == 1
        ident = issued[0][0]
        keys = [f"k{i}" for i in range(20)]
        got_a, got_b = await asyncio.gather(
            a.claim_voiced(ident.id, keys), b.claim_voiced(ident.id, keys)
        )
        assert not got_a & got_b and got_a | got_b == set(keys)
    finally:
        await a.close()
        await b.close()


async def test_a_starting_replica_releases_only_dead_replicas_freezes(pg_url: str) -> None:
    a = await PgBackendStore.open(pg_url)
    b = await PgBackendStore.open(pg_url)
    try:
        ident, _ = await a.create_identity("c", 10, "t", DAY)
        assert await a.freeze(ident.id, 4)  # A's turn is running
        assert await b.release_all_frozen() == 0  # B starts beside it
        still = await a.identity(ident.id)
        assert still is not None and still.frozen == 4
        await a.close()  # A dies mid-turn
        assert await b.release_all_frozen() == 1  # the next start frees the credits
        released = await b.identity(ident.id)
        assert released is not None and (released.frozen, released.credits) == (0, 10)
        await b.settle(ident.id, 4, 3)  # a late settle charges, releases nothing twice
        late = await b.identity(ident.id)
        assert late is not None and (late.frozen, late.credits) == (0, 7)
        assert await b.freeze(ident.id, 2)  # B's own: kept unless older than any turn
        assert await b.release_all_frozen() == 0
        assert await b.release_all_frozen(older_than=0) == 1
    finally:
        await b.close()


async def test_replicas_share_the_signing_key(pg_url: str, tmp_path: Path) -> None:
    one = BackendSettings(data_dir=tmp_path / "one", database_url=pg_url)
    two = BackendSettings(data_dir=tmp_path / "two", database_url=pg_url)
    s1, s2 = await open_store(one), await open_store(two)
    try:
        assert one.secret() == two.secret() and len(one.secret()) == 32
        link, _ = sign(one.secret(), "/files/r1/out.mp4", 60)
        path, query = link.split("?", 1)
        params = dict(p.split("=", 1) for p in query.split("&"))
        assert verify(two.secret(), path, params["exp"], params["sig"])
        assert not (tmp_path / "one" / "secret.key").exists()
        given = BackendSettings(data_dir=tmp_path / "3", database_url=pg_url, signing_secret="ab")
        s3 = await open_store(given)
        assert given.secret() == b"\xab"
        await s3.close()
    finally:
        await s1.close()
        await s2.close()


async def test_the_pool_survives_a_postgres_restart(pg_url: str, services: Services) -> None:
    store = await PgBackendStore.open(pg_url)
    try:
        ident, _ = await store.create_identity("c", 10, "t", DAY)
        services.stop_postgres()
        services.start_postgres()
        again = await store.identity(ident.id)
        assert again is not None and again.credits == 10
    finally:
        await store.close()
