"""Runs the REAL backend (``python -m backend``) as a subprocess on 127.0.0.1 for tests.

Nothing here is a stand-in: real HTTP server, real SQLite file, real Piper TTS, real ffmpeg.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ATTRIBUTION = {
    "X-Skill-Source": "ai-voiceover-generator",
    "X-Skill-Version": "test",
    "X-Skill-Platform": "tests",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BackendProcess:
    data_dir: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    relative: bool = (
        False  # pass --data-dir as a relative path (run from its parent), as a user would
    )
    log_level: str = "info"
    extra_args: list[str] = field(default_factory=list)  # more `python -m backend` options

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "VOBACKEND_ALLOW_PRIVATE_URLS": "1", **self.env}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "backend.log").open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                self.data_dir.name if self.relative else str(self.data_dir),
                "--log-level",
                self.log_level,
                *self.extra_args,
            ],
            env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
            cwd=self.data_dir.parent if self.relative else None,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()  # the child keeps its own descriptor
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"backend exited: {(self.data_dir / 'backend.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("backend did not become healthy")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()


class Api:
    """A thin protocol client for tests: one identity and one session by default."""

    def __init__(self, base: str, client_id: str | None = None, lang: str = "en") -> None:
        self.base = base
        self.http = httpx.Client(base_url=base, timeout=120)
        r = self.http.post(
            "/api/auth/anonymous-token", headers={"X-Client-Id": client_id or uuid.uuid4().hex}
        )
        assert r.status_code == 200, r.text
        self.token = r.json()["data"]["token"]
        self.bind_id = r.json()["data"]["bind_id"]
        self.headers = {"Authorization": f"Bearer {self.token}", **ATTRIBUTION}
        r = self.post(
            "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project", "language": lang}
        )
        assert r.status_code == 200, r.text
        self.sid: str = r.json()["data"]["session_id"]

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def upload(self, *files: tuple[str, bytes | Path], sid: str | None = None) -> httpx.Response:
        parts = [
            ("files", (name, data.read_bytes() if isinstance(data, Path) else data))
            for name, data in files
        ]
        return self.post(f"/api/upload-video/nemo_agent/me/{sid or self.sid}", files=parts)

    def say(self, text: str, sid: str | None = None) -> tuple[httpx.Response, list[dict[str, Any]]]:
        """POST /run_sse and collect the ADK events (or the error envelope)."""
        body = {
            "app_name": "nemo_agent",
            "user_id": "me",
            "session_id": sid or self.sid,
            "new_message": {"parts": [{"text": text}]},
        }
        events: list[dict[str, Any]] = []
        with self.http.stream(
            "POST", "/run_sse", json=body, headers={**self.headers, "Accept": "text/event-stream"}
        ) as r:
            if r.headers.get("content-type", "").startswith("text/event-stream"):
                for line in r.iter_lines():
                    if line.startswith("data:") and line[5:].strip():
                        events.append(json.loads(line[5:]))
            else:
                r.read()
        return r, events

    def state(self) -> dict[str, Any]:
        r = self.get(f"/api/state/nemo_agent/me/{self.sid}/latest")
        assert r.status_code == 200, r.text
        return dict(r.json()["data"]["state"])

    def export(self, draft: dict[str, Any] | None = None) -> str:
        job = f"render_{uuid.uuid4().hex[:10]}"
        body: dict[str, Any] = {
            "id": job,
            "sessionId": self.sid,
            "output": {"format": "mp4", "quality": "high"},
        }
        if draft is not None:
            body["draft"] = draft
        r = self.post("/api/render/proxy/lambda", json=body)
        assert r.status_code == 200, r.text
        return job

    def poll(self, job: str, timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data: dict[str, Any] = {}
        while time.monotonic() < deadline:
            # ?wait= holds the request until the render ends (the backend's long poll)
            wait = max(0.0, min(5.0, deadline - time.monotonic()))
            r = self.get(f"/api/render/proxy/lambda/{job}?wait={wait:.1f}")
            assert r.status_code == 200, r.text
            data = dict(r.json()["data"])
            if data["status"] in ("completed", "failed"):
                return data
        raise AssertionError(f"render did not finish: last status {data}")

    def download(self, url: str, dest: Path) -> Path:
        with httpx.stream("GET", url, timeout=60) as r:  # no bearer token: the URL is signed
            assert r.status_code == 200, r.read()
            with dest.open("wb") as fh:
                for chunk in r.iter_bytes():
                    fh.write(chunk)
        return dest

    def close(self) -> None:
        self.http.close()


def texts(events: list[dict[str, Any]]) -> str:
    return " ".join(
        p["text"] for e in events for p in e.get("content", {}).get("parts", []) if "text" in p
    )


def function_names(events: list[dict[str, Any]]) -> list[str]:
    return [
        p["functionCall"]["name"]
        for e in events
        for p in e.get("content", {}).get("parts", [])
        if "functionCall" in p
    ]


def iter_parts(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for e in events:
        yield from e.get("content", {}).get("parts", [])
