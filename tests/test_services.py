"""``ops.services`` (``./dev services``): real PostgreSQL and SeaweedFS on 127.0.0.1, with passwords,
restartable with their data, stopped by PID with nothing left behind."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from ops import services as ops_services
from ops.procs import alive
from ops.s3probe import s3_request
from tests.support.services import Services


def test_postgres_takes_its_password_and_only_it(services: Services) -> None:
    url = services.database("svc_auth")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("svc_auth",)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    wrong = url.replace(services.state["postgres"]["password"], "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()


def test_a_fresh_database_is_empty(services: Services) -> None:
    url = services.database("svc_fresh")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leftover (x int)")
    url = services.database("svc_fresh")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass('leftover')").fetchone()
    assert row == (None,)


def test_postgres_restarts_on_its_port_with_its_data(services: Services) -> None:
    url = services.database("svc_restart")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    old_pid = services.state["postgres"]["pid"]
    services.stop_postgres()
    assert not alive(old_pid, "postgres")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    services.start_postgres()
    assert services.state["postgres"]["pid"] != old_pid
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]


def test_the_bucket_takes_signed_writes_and_refuses_a_wrong_key(services: Services) -> None:
    s3 = services.s3
    body = "配音 voiceover".encode()
    assert s3_request(s3, "PUT", f"/{s3['bucket']}/probe/a.txt", body)[0] == 200
    assert s3_request(s3, "GET", f"/{s3['bucket']}/probe/a.txt") == (200, body)
    forged = {**s3, "secret_key": "x" * 40}
    status, _ = s3_request(forged, "GET", f"/{s3['bucket']}/probe/a.txt")
    assert status == 403
    assert s3_request(s3, "DELETE", f"/{s3['bucket']}/probe/a.txt")[0] == 204
    assert s3_request(s3, "GET", f"/{s3['bucket']}/probe/a.txt")[0] == 404


def test_env_names_every_setting(services: Services) -> None:
    env = services.env("svc_env")
    assert env["VOBACKEND_DATABASE_URL"].endswith("/svc_env")
    assert env["BOT_DATABASE_URL"] == env["VOBACKEND_DATABASE_URL"]
    assert env["VOBACKEND_S3_ENDPOINT"].startswith("http://127.0.0.1:")
    assert {k for k in env if k.startswith("VOBACKEND_S3_")} == {
        "VOBACKEND_S3_ENDPOINT",
        "VOBACKEND_S3_BUCKET",
        "VOBACKEND_S3_ACCESS_KEY",
        "VOBACKEND_S3_SECRET_KEY",
        "VOBACKEND_S3_REGION",
    }


def test_stop_by_pid_leaves_no_process_socket_or_data(tmp_path: Path) -> None:
    """A second SeaweedFS of its own (about a second), stopped and purged through the CLI."""
    base = tmp_path / "svc"
    assert ops_services.main(["start", "--dir", str(base), "--only", "seaweedfs"]) == 0
    info = ops_services.read_state(base)["seaweedfs"]
    assert alive(info["pid"], "weed")
    assert ops_services.main(["status", "--dir", str(base), "--only", "seaweedfs"]) == 0
    assert ops_services.main(["purge", "--dir", str(base)]) == 0
    assert not alive(info["pid"], "weed")
    assert not Path(info["dir"]).exists()
    assert not (base / ops_services.STATE).exists()
    for port in info["ports"].values():
        assert not list(Path("/tmp").glob(f"seaweedfs-*-{port}.sock"))
    assert ops_services.main(["status", "--dir", str(base), "--only", "seaweedfs"]) == 1
