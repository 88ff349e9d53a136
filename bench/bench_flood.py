"""Honest users under a bounded flood (issue 11, "Done when"): the real backend on 127.0.0.1.

Two honest users run the normal flow (upload a ~75-word script, "generate a natural male voiceover
in English for my script", export, poll until done) for a few rounds quietly, then the same rounds
again while ~20 abusive clients, each with its own client id and token, send the hostile requests of
tests/test_hostile_uploads.py and tests/test_fair_use.py in a loop, one request at a time each
(trickling uploads, lying and 400k-paragraph DOCX, turns of newlines / quotes / a 6,000-letter word,
3840x3840 and 6-hour drafts, anonymous-token bursts, gzip-bomb and unreachable URLs, 11 links,
11 files, cut-off multipart bodies). Printed: the honest users' p50/p95 per step, quiet vs flood, with
their ratio beside the target (flood p95 within 2x of quiet), the backend's peak RSS (VmHWM, and
the sampled backend + children) beside 1 GB, what the flood got back, and what is left in the data
dir besides what should be there once the flood has stopped.

The backend runs with the hostile tests' low limits (8 MB uploads, 2,000 B/s after 2 s, URL fetches
4 s in all), so every abusive request is answered within seconds and the flood keeps cycling.
Every honest round voices fresh sentences, so the sentence cache does not flatter either phase.
The rounds run in blocks, quiet and flooded in turn (``--blocks``), so other load on the machine
falls on both phases alike.
Run: ``python -m bench.bench_flood [--rounds 10] [--abusers 20] [--blocks 5]`` (about 3 minutes on
2 cores).
"""

from __future__ import annotations

import argparse
import functools
import gzip
import itertools
import math
import os
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.bench_scaling import script_of
from tests.support import hostile as H
from tests.support.backend import Api, BackendProcess

LIMITS = {
    "VOBACKEND_MAX_UPLOAD_BYTES": str(8 * 1024 * 1024),
    "VOBACKEND_UPLOAD_MIN_BYTES_PER_SECOND": "2000",
    "VOBACKEND_UPLOAD_GRACE_SECONDS": "2",
    "VOBACKEND_UPLOAD_DEADLINE_SECONDS": "30",
    "VOBACKEND_URL_TOTAL_SECONDS": "4",
    "VOBACKEND_URL_TIMEOUT_SECONDS": "3",
}
RATIO_TARGET = 2.0
RSS_TARGET_MB = 1024
REQUEST = "generate a natural male voiceover in English for my script"
RENDER = "/api/render/proxy/lambda"
STEPS = ("upload", "turn", "export+render", "round")


# -- memory ----------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, float]:
    found: dict[str, float] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (ffmpeg, a voice-patching child, ...)."""
    out: list[int] = []
    try:
        tids = [p.name for p in Path(f"/proc/{pid}/task").iterdir()]
    except OSError:
        return out
    for tid in tids:
        try:
            kids = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            out.append(kid)
            out.extend(_children(kid))
    return out


def _describe(pid: int) -> str:
    """A child's command line, paths cut to their file names."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [Path(a.decode(errors="replace")).name if b"/" in a else a.decode() for a in args if a]
    text = " ".join(words)
    return text if len(text) < 140 else text[:137] + "..."


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has waited for (utime+stime+cutime+cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass
class MemorySampler:
    """Samples the backend and its children every 0.2 s, per phase. The kernel's VmHWM is the
    exact peak of the backend itself; children are seen only while they live (their own VmHWM at
    each sample), and summing RSS counts pages they share with the backend twice (an upper bound).
    A child still running the backend's own command line is a fork on its way to exec'ing ffmpeg:
    it shows the backend's pages, so it is left out."""

    pid: int
    phase: str = "setup"
    combined: dict[str, float] = field(default_factory=dict)  # backend RSS + children RSS
    child: dict[str, tuple[float, str]] = field(default_factory=dict)  # largest child VmHWM
    children_seen: set[int] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        total = _status(self.pid).get("VmRSS", 0.0)
        own = _describe(self.pid)
        for kid in _children(self.pid):
            if _describe(kid) == own:  # forked (vfork) for a subprocess and not yet exec'd:
                continue  # the backend's own pages, not memory of its own
            st = _status(kid)
            self.children_seen.add(kid)
            total += st.get("VmRSS", 0.0)
            hwm = st.get("VmHWM", 0.0)
            if hwm > self.child.get(self.phase, (0.0, ""))[0]:
                self.child[self.phase] = (hwm, _describe(kid))
        self.combined[self.phase] = max(self.combined.get(self.phase, 0.0), total)

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.sample()

    def backend_peak(self) -> float:
        return _status(self.pid).get("VmHWM", float("nan"))


# -- honest users ----------------------------------------------------------------------------


def honest_round(api: Api, tag: str, out: Path) -> dict[str, float]:
    """One normal flow; seconds per step. Raises if the voiceover or the render does not finish."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    r = api.upload(("script.txt", script_of(75, tag).encode()))
    assert r.json()["code"] == 0, r.text
    t1 = time.perf_counter()
    r, _ = api.say(REQUEST)
    assert r.status_code == 200, r.text
    assert any(tr["tt"] == 1 for tr in api.state()["draft"]["t"]), "no voiceover track"
    t2 = time.perf_counter()
    result = api.poll(api.export(), timeout=240)
    assert result["status"] == "completed", result
    t3 = time.perf_counter()
    api.download(result["output"]["url"], out)
    times.update(upload=t1 - t0, turn=t2 - t1, **{"export+render": t3 - t2})
    times["round"] = time.perf_counter() - t0
    return times


def run_honest(
    users: list[Api], rounds: int, phase: str, root: Path
) -> tuple[list[dict[str, float]], list[str]]:
    """Both users at once, ``rounds`` rounds each, back to back: (timings, failures)."""
    failures: list[str] = []

    def user(i: int) -> list[dict[str, float]]:
        out = []
        for k in range(rounds):
            try:
                out.append(
                    honest_round(users[i], f"{phase} u{i} r{k}", root / f"{phase}-{i}-{k}.mp4")
                )
            except (AssertionError, httpx.HTTPError) as exc:
                failures.append(f"{phase} user {i} round {k}: {str(exc)[:200]}")
        return out

    with ThreadPoolExecutor(len(users)) as pool:
        results = list(pool.map(user, range(len(users))))
    return [s for per_user in results for s in per_user], failures


# -- abusive clients -------------------------------------------------------------------------


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b" " * (64 * 1024 * 1024), 9)  # 64 MB of spaces in ~64 KB


def cached_gzip_bomb(sock: socket.socket, path: str) -> None:
    """tests/support/hostile.gzip_bomb without compressing 64 MB in this process per request."""
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(_bomb())}\r\n\r\n"
    )
    sock.sendall(head.encode() + _bomb())


H.BEHAVIOURS["/bomb-once.txt"] = cached_gzip_bomb


@dataclass
class Payloads:
    lying_docx: bytes
    paragraphs_docx: bytes
    hostile_base: str
    closed_port: int


class Abuser:
    """One abusive client: its own client id, token and session; one request at a time."""

    def __init__(self, n: int, proc: BackendProcess, payloads: Payloads) -> None:
        self.n = n
        self.proc = proc
        self.p = payloads
        self.client_id = f"flood-{n}-{uuid.uuid4().hex[:8]}"
        self.api = Api(proc.url, client_id=self.client_id)
        self.api.http.timeout = httpx.Timeout(60)
        r, _ = self.api.say(f"voiceover please\nscript: Client {n} reads one short line.")
        assert r.status_code == 200, r.text
        self.draft: dict[str, Any] = self.api.state()["draft"]
        self.path = f"/api/upload-video/nemo_agent/me/{self.api.sid}"
        self.n_url = n  # which unreachable URL comes next
        self.message = ""  # the last JSON reply's message

    # each returns a short outcome ("422", "reply 400", "timeout", ...)

    def _raw(self, body: bytes, ctype: str, timeout: float = 20) -> str:
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.api.token}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        reply = H.raw_request(self.proc.port, head.encode() + body, timeout=timeout)
        return reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "no reply"

    def trickle_upload(self) -> str:
        """A multipart upload sent one byte every 0.2 s until the server answers (or 15 s)."""
        took, reply = H.trickle_upload(
            self.proc.port, self.path, self.api.token, b"Lumen is a lamp. " * 60, limit=15
        )
        if not reply.startswith(b"HTTP/"):
            return "still open after 15 s" if took > 15 else "no reply"
        return reply.split(b" ", 2)[1].decode()

    def lying_docx(self) -> str:
        return self._code(self.api.upload(("lie.docx", self.p.lying_docx)))

    def paragraphs_docx(self) -> str:
        return self._code(self.api.upload(("p.docx", self.p.paragraphs_docx)))

    def newlines_turn(self) -> str:
        return str(self.api.say("\n" * 58_000 + "voiceover")[0].status_code)

    def quotes_turn(self) -> str:
        return str(self.api.say("“" * 30_000)[0].status_code)

    def long_word_turn(self) -> str:
        return str(
            self.api.say("voiceover please\nscript: Hello " + "a" * 6_000 + " there.")[
                0
            ].status_code
        )

    def _draft(self, change: Callable[[dict[str, Any]], None]) -> str:
        draft = {**self.draft, "t": [dict(tr) for tr in self.draft["t"]]}
        change(draft)
        body = {"id": f"render_{uuid.uuid4().hex[:10]}", "sessionId": self.api.sid, "draft": draft}
        return self._code(self.api.post(RENDER, json=body))

    def huge_draft(self) -> str:
        return self._draft(lambda d: d.update(w=3840, h=3840, fps=60))

    def six_hour_draft(self) -> str:
        def change(d: dict[str, Any]) -> None:
            track = d["t"][0]
            track["sg"] = [{**track["sg"][0], "d": 6 * 3600 * 1000}, *track["sg"][1:]]

        return self._draft(change)

    def token_burst(self) -> str:
        codes: Counter[int] = Counter()
        with httpx.Client(base_url=self.proc.url, timeout=30) as http:
            for _ in range(10):
                r = http.post("/api/auth/anonymous-token", headers={"X-Client-Id": self.client_id})
                codes[r.status_code] += 1
        return " ".join(f"{c}x{k}" for k, c in sorted(codes.items()))

    def _urls(self, urls: list[str]) -> str:
        return self._code(self.api.post(self.path, json={"urls": urls}))

    def _code(self, r: httpx.Response) -> str:
        """The status, keeping the message so the report can say what a status meant."""
        try:
            self.message = str(r.json().get("message", ""))
        except ValueError:
            self.message = ""
        return str(r.status_code)

    def gzip_bomb(self) -> str:
        return self._urls([self.p.hostile_base + "/bomb-once.txt"])

    def eleven_links(self) -> str:
        return self._urls([f"http://127.0.0.1:{self.p.closed_port}/{i}.txt" for i in range(11)])

    def unreachable(self) -> str:
        base = self.p.hostile_base
        choices = [
            f"http://127.0.0.1:{self.p.closed_port}/x.txt",
            base + "/redirect-closed",
            base + "/trickle.txt",
            base + "/short.txt",
            base + "/absurd.txt",
            "http://127.0.0.1:99999/x",
            "http://[::1/x",
        ]
        self.n_url += 1
        return self._urls([choices[self.n_url % len(choices)]])

    def eleven_files(self) -> str:
        files = [(f"{i}.txt", b"Lumen is a lamp.") for i in range(11)]
        return self._code(self.api.upload(*files))

    def cut_off_multipart(self) -> str:
        body = H.multipart(b"BND", [("cut.txt", b"Lumen is a lamp.")], closed=False)
        return self._raw(body, "multipart/form-data; boundary=BND")

    def long_boundary(self) -> str:
        boundary = b"b" * 300
        body = H.multipart(boundary, [("a.txt", b"Lumen is a lamp.")])
        return self._raw(body, f"multipart/form-data; boundary={boundary.decode()}")

    def actions(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("trickling upload", self.trickle_upload),
            ("lying DOCX (1.5 GB inflated)", self.lying_docx),
            ("DOCX of 400k paragraphs", self.paragraphs_docx),
            ("turn of 58k newlines", self.newlines_turn),
            ("turn of 30k quotes", self.quotes_turn),
            ("script of a 6,000-letter word", self.long_word_turn),
            ("3840x3840 60 fps draft", self.huge_draft),
            ("6-hour segment draft", self.six_hour_draft),
            ("10 token requests, one client id", self.token_burst),
            ("gzip-bomb URL", self.gzip_bomb),
            ("11 links", self.eleven_links),
            ("unreachable/broken URL", self.unreachable),
            ("11 files", self.eleven_files),
            ("multipart cut off", self.cut_off_multipart),
            ("300-char boundary", self.long_boundary),
        ]

    def loop(self, flood: Flood) -> None:
        acts = self.actions()
        for name, act in itertools.islice(itertools.cycle(acts), self.n, None):
            if not flood.enter():
                return
            self.message = ""
            try:
                outcome = act()
            except (httpx.HTTPError, OSError) as exc:
                outcome = type(exc).__name__
            flood.leave(name, outcome, self.message)

    def close(self) -> None:
        self.api.close()


class Flood:
    """The abusers' loops, switched on and off between blocks of honest rounds: a block runs
    quietly, the next under the flood, and so on, so that the machine's other load (a shared
    2-core machine) falls on both phases alike instead of on whichever ran when it peaked."""

    def __init__(self, clients: list[Abuser]) -> None:
        self.go, self.stopped = threading.Event(), threading.Event()
        self.lock = threading.Condition()
        self.busy = 0
        self.tally: Counter[tuple[str, str]] = Counter()
        self.said: dict[tuple[str, str], str] = {}
        self.threads = [threading.Thread(target=c.loop, args=(self,), daemon=True) for c in clients]
        for th in self.threads:
            th.start()

    def enter(self) -> bool:
        """Wait until the flood is on; False once it has stopped."""
        while not self.go.wait(0.2):
            if self.stopped.is_set():
                return False
        with self.lock:
            if self.stopped.is_set():
                return False
            self.busy += 1
        return True

    def leave(self, name: str, outcome: str, message: str) -> None:
        with self.lock:
            self.busy -= 1
            self.tally[(name, outcome)] += 1
            if message:
                self.said.setdefault((name, outcome), message)
            self.lock.notify_all()

    def on(self) -> None:
        self.go.set()
        time.sleep(3)  # every abuser is in its loop before the honest users start

    def off(self, timeout: float = 30) -> int:
        """Stop sending and wait for the requests in flight: how many were still busy after it."""
        self.go.clear()
        with self.lock:
            self.lock.wait_for(lambda: self.busy == 0, timeout)
            return self.busy

    def stop(self) -> int:
        busy = self.off()
        self.stopped.set()
        for th in self.threads:
            th.join(5)
        return busy


# -- the data dir ----------------------------------------------------------------------------


def leftovers(data: Path) -> tuple[list[str], Counter[str]]:
    """(what should not be there, a count of what should) in the data dir.

    Expected: the log, lock, secret, SQLite files, tts-cache and render-cache entries, tmp/.ses, renders of
    completed jobs (with their caption files), media files the media table lists, empty folders.
    """
    con = sqlite3.connect(f"file:{data / 'backend.sqlite3'}?mode=ro", uri=True)
    try:
        media = {Path(p).resolve() for (p,) in con.execute("SELECT path FROM media")}
        done = {j for (j,) in con.execute("SELECT id FROM jobs WHERE status='completed'")}
    finally:
        con.close()
    bad: list[str] = []
    good: Counter[str] = Counter()
    top_files = {"backend.log", "backend.lock", "secret.key", "backend.sqlite3"}
    for path in sorted(data.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(data)
        top = rel.parts[0]
        name = path.name
        if name.endswith((".part", ".tmp")):
            bad.append(f"{rel} (partial file)")
        elif len(rel.parts) == 1 and (name in top_files or name.startswith("backend.sqlite3-")):
            good["top-level"] += 1
        elif top in ("tts-cache", "render-cache"):  # content-addressed caches, pruned by age
            good[top] += 1
        elif rel == Path("tmp/.ses"):
            good["tmp/.ses"] += 1
        elif top == "renders" and path.stem in done:
            good["renders"] += 1
        elif top == "sessions" and path.resolve() in media:
            good["session media"] += 1
        elif top == "sessions":
            bad.append(f"{rel} (not in the media table)")
        elif top == "renders":
            bad.append(f"{rel} (no completed job)")
        else:
            bad.append(f"{rel}")
    return bad, good


# -- the bench -------------------------------------------------------------------------------


def _p95(xs: list[float]) -> float:
    """Nearest rank: with fewer than 20 samples this is the slowest one."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def measure(rounds: int, abusers: int, blocks: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp, H.hostile_server() as hostile_base:
        root = Path(tmp)
        t_start = time.perf_counter()
        payloads = Payloads(
            lying_docx=H.lying_docx(),
            paragraphs_docx=H.empty_paragraphs_docx(400_000),
            hostile_base=hostile_base,
            closed_port=H.closed_port(),
        )
        _bomb()
        proc = BackendProcess(root / "data", env=LIMITS)
        proc.start()
        assert proc.proc is not None
        sampler = MemorySampler(proc.proc.pid)
        sampler_thread = threading.Thread(target=sampler.run, daemon=True)
        sampler_thread.start()
        clients: list[Abuser] = []
        honest: list[Api] = []
        flood: Flood | None = None
        try:
            honest = [
                Api(proc.url, client_id=f"honest-{i}-{uuid.uuid4().hex[:6]}") for i in range(2)
            ]
            # one untimed round each loads the voice, as on a running server
            _warm, warm_failures = run_honest(honest, 1, "warm", root)
            with ThreadPoolExecutor(4) as pool:
                clients = list(pool.map(lambda n: Abuser(n, proc, payloads), range(abusers)))
            setup_s = time.perf_counter() - t_start

            flood = Flood(clients)
            quiet: list[dict[str, float]] = []
            flooded: list[dict[str, float]] = []
            quiet_failures, flood_failures = [], []
            quiet_s = flood_s = 0.0
            cpu = {"quiet": [0.0, 0.0], "flood": [0.0, 0.0]}  # backend, this process
            still_running = 0
            per_block = [rounds // blocks + (b < rounds % blocks) for b in range(blocks)]
            for b, n_rounds in enumerate(per_block):
                for phase in ("quiet", "flood"):
                    sampler.phase = phase
                    c0 = (cpu_seconds(proc.proc.pid), sum(os.times()[:2]))
                    t0 = time.perf_counter()
                    if phase == "flood":
                        flood.on()
                    samples, failed = run_honest(honest, n_rounds, f"{phase}{b}", root)
                    if phase == "flood":
                        still_running = max(still_running, flood.off())
                        flooded += samples
                        flood_failures += failed
                        flood_s += time.perf_counter() - t0
                    else:
                        quiet += samples
                        quiet_failures += failed
                        quiet_s += time.perf_counter() - t0
                    cpu[phase][0] += cpu_seconds(proc.proc.pid) - c0[0]
                    cpu[phase][1] += sum(os.times()[:2]) - c0[1]
                    if b == 0 and phase == "quiet":
                        rss_quiet = sampler.backend_peak()
            flood.stop()
            tally, said = flood.tally, flood.said
            sampler.phase = "after"
            time.sleep(1)
            sampler.sample()
            bad_running, good = leftovers(proc.data_dir)
            rss_flood = sampler.backend_peak()
            log = (proc.data_dir / "backend.log").read_text(errors="replace")
        finally:
            sampler.stop.set()
            if flood is not None:
                flood.stop()  # idempotent: the threads are gone after a normal run
            for c in clients:
                c.close()
            for api in honest:
                api.close()
            proc.stop()
        bad_stopped, _ = leftovers(proc.data_dir)
    total_s = time.perf_counter() - t_start

    failures = warm_failures + quiet_failures + flood_failures
    if not quiet or not flooded:
        print("no honest round completed in a phase:\n   " + "\n   ".join(failures))
        return
    n = len(quiet)
    print(
        f"2 honest users x {rounds} rounds each ({n} samples a phase; p95 by nearest rank, "
        f"so with {n} samples it is the slowest); flood: {abusers} abusive clients"
    )
    print(
        f"{'step':<15}{'quiet p50':>10}{'p95':>8}{'flood p50':>11}{'p95':>8}{'p95 ratio':>11}   target"
    )
    for step in STEPS:
        q = [s[step] for s in quiet]
        f = [s[step] for s in flooded]
        ratio = _p95(f) / _p95(q)
        if step in ("turn", "export+render"):
            target = f"< {RATIO_TARGET:.0f}x: {'meets' if ratio < RATIO_TARGET else 'MISSES'}"
        else:
            target = ""
        print(
            f"{step:<15}{statistics.median(q):>9.2f}s{_p95(q):>7.2f}s"
            f"{statistics.median(f):>10.2f}s{_p95(f):>7.2f}s{ratio:>10.2f}x   {target}"
        )
    trees = {ph: sampler.combined.get(ph, 0.0) for ph in ("setup", "quiet", "flood", "after")}
    print(
        f"backend peak RSS (VmHWM, the process itself): {rss_quiet:.0f} MB after the quiet rounds, "
        f"{rss_flood:.0f} MB after the flood   target < {RSS_TARGET_MB} MB: "
        f"{'meets' if rss_flood < RSS_TARGET_MB else 'MISSES'}"
    )
    print(
        f"backend + children (RSS summed, sampled every 0.2 s; {len(sampler.children_seen)} "
        f"children seen): "
        + ", ".join(f"{ph} {mb:.0f} MB" for ph, mb in trees.items())
        + f"   target < {RSS_TARGET_MB} MB: "
        + ("meets" if max(trees.values()) < RSS_TARGET_MB else "MISSES")
    )
    for phase in ("setup", "quiet", "flood"):
        if phase in sampler.child:
            mb, what = sampler.child[phase]
            print(f"   largest child ({phase}): {mb:.0f} MB  {what}")
    print(
        f"CPU seconds (2 cores): quiet {quiet_s:.0f} s wall, backend {cpu['quiet'][0]:.0f} s, "
        f"bench clients {cpu['quiet'][1]:.0f} s; flood {flood_s:.0f} s wall, backend "
        f"{cpu['flood'][0]:.0f} s, bench clients + flood {cpu['flood'][1]:.0f} s"
    )
    requests = sum(tally.values())
    print(
        f"flood: {requests} abusive requests in {flood_s:.0f} s "
        f"({still_running} clients still busy 30 s after the stop)"
    )
    by_kind: dict[str, Counter[str]] = {}
    for (name, outcome), count in tally.items():
        by_kind.setdefault(name, Counter())[outcome] += count
    for name, outcomes in by_kind.items():
        shown = ", ".join(f"{o} x{c}" for o, c in outcomes.most_common())
        print(f"   {name:<34} {shown}")
        if len(outcomes) > 1:  # say what each status meant
            for outcome in outcomes:
                if (name, outcome) in said:
                    print(f"      {outcome}: {said[(name, outcome)][:150]}")
    print(
        f"backend log: {log.count('unhandled error')} unhandled errors, "
        f"{log.count('Traceback')} tracebacks"
    )
    print(
        "data dir after the flood: "
        + ", ".join(f"{k} {v}" for k, v in sorted(good.items()))
        + "; unexpected: "
        + ("none" if not bad_running else "; ".join(bad_running))
    )
    if bad_stopped != bad_running:
        print(
            "after the backend stopped, unexpected: "
            + ("none" if not bad_stopped else "; ".join(bad_stopped))
        )
    print(
        f"time: setup {setup_s:.0f} s, quiet {quiet_s:.0f} s, flood {flood_s:.0f} s, "
        f"all {total_s:.0f} s"
    )
    print(
        f"honest flows completed: quiet {len(quiet)}/{len(honest) * rounds}, "
        f"flood {len(flooded)}/{len(honest) * rounds}"
        + "".join(f"\n   FAILED {f}" for f in failures)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--abusers", type=int, default=20)
    parser.add_argument(
        "--blocks", type=int, default=5, help="quiet/flood alternations the rounds are split into"
    )
    args = parser.parse_args(argv)
    measure(args.rounds, args.abusers, args.blocks)


def run() -> None:
    """Entry point used by `python -m bench`."""
    main([])


if __name__ == "__main__":
    main()
