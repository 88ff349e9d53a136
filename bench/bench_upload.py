"""Peak memory of the backend while a 500 MB upload streams in (DESIGN section 5: under 300 MB).

The file is a real MP4 padded with a 'free' box to 500 MB minus a little, sent as multipart with no
Content-Length (chunked), so the backend cannot know the size in advance. VmHWM is the process's
peak resident set, read from /proc.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.backend import Api, BackendProcess
from tests.support.media import make_test_video

MB = 1024 * 1024


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream_upload(api: Api, root: Path) -> float:
    """Send a 500 MB MP4 (chunked, no Content-Length) into the api's session; returns seconds."""
    clip = make_test_video(root / "c.mp4", seconds=2).read_bytes()
    total = 500 * MB - 64 * 1024
    boundary = "benchboundary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        yield clip
        pad = total - len(clip)
        yield pad.to_bytes(4, "big") + b"free"
        pad -= 8
        chunk = b"\0" * MB
        while pad > 0:
            yield chunk[: min(pad, MB)]
            pad -= MB
        yield f"\r\n--{boundary}--\r\n".encode()

    t0 = time.perf_counter()
    r = api.http.post(
        f"/api/upload-video/nemo_agent/me/{api.sid}",
        content=body(),
        timeout=600,
        headers={**api.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    seconds = time.perf_counter() - t0
    assert r.json()["code"] == 0, r.text
    return seconds


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        proc = BackendProcess(root / "backend")
        proc.start()
        try:
            assert proc.proc is not None
            api = Api(proc.url)
            before = _peak_rss_mb(proc.proc.pid)
            seconds = stream_upload(api, root)
            peak = _peak_rss_mb(proc.proc.pid)
            api.close()
        finally:
            proc.stop()
    print(
        f"(d) 500 MB upload streamed in {seconds:.1f} s; backend peak RSS {peak:.0f} MB "
        f"(before the upload {before:.0f} MB)   target < 300 MB"
    )


if __name__ == "__main__":
    run()
