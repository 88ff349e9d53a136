"""Ports and processes for ops.services: a free port on 127.0.0.1, whether a PID is still the
program we started, and stopping it by PID."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from pathlib import Path


def port_free(port: int) -> bool:
    with socket.socket() as s:
        # As the servers bind: a port whose last connections are in TIME_WAIT is free to them.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(taken: set[int] | None = None, grpc: bool = False) -> int:
    """A free port on 127.0.0.1 (and, with ``grpc``, port + 10000 free too: SeaweedFS's gRPC)."""
    taken = taken if taken is not None else set()
    for _ in range(500):
        # Below the ephemeral range (32768+), where outgoing connections could take it first.
        port = secrets.randbelow(12000) + 10000
        if port in taken or (grpc and port + 10000 in taken):
            continue
        if port_free(port) and (not grpc or port_free(port + 10000)):
            taken.update({port, port + 10000} if grpc else {port})
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def alive(pid: int | None, name: str) -> bool:
    """The process exists and is the program we started (a PID can be reused)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return name.encode() in cmdline and stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pid(pid: int, name: str, sig: int = signal.SIGTERM, wait: float = 30.0) -> None:
    """Signal the process, wait for it to go, and kill it if it will not."""
    if not alive(pid, name):
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + wait
    while alive(pid, name) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid, name):
        os.kill(pid, signal.SIGKILL)
        while alive(pid, name):
            time.sleep(0.05)
