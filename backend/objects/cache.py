"""Keeping S3 mode's local cache within a budget, so a long-lived replica or worker does not fill its
disk with every upload, voiceover and render it ever touched.

Only durable files are evicted (what is under ``sessions/`` and ``renders/``: each was published
before anything pointed at it, so the bucket has it and ``ensure_local`` brings it back), oldest use
first (``ensure_local`` refreshes a cached file's mtime), never one used in the last 15 minutes (a
render about to open its inputs), never a partial file (``.part``, hidden ``.*.tmp``). Linux keeps an
unlinked file readable for whoever has it open, so a running ffmpeg is not disturbed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)
DURABLE = ("sessions", "renders")
IDLE_SECONDS = 15 * 60
DOWN_TO = 0.8  # once over budget, evict down to 80% of it, so the next sweeps have room


def evict(
    data_dir: Path, budget: int, idle: float = IDLE_SECONDS, now: float | None = None
) -> tuple[int, int]:
    """Remove least recently used durable files until their total is at most ``DOWN_TO`` of
    ``budget`` bytes (nothing when under budget); the files and bytes removed."""
    now = time.time() if now is None else now
    files: list[tuple[float, int, Path]] = []
    for top in DURABLE:
        root = data_dir / top
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if path.name.startswith(".") or path.suffix == ".part" or not path.is_file():
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    if total <= budget:
        return 0, 0
    removed = freed = 0
    for mtime, size, path in sorted(files):
        if total <= budget * DOWN_TO or now - mtime < idle:
            break  # sorted by last use: everything after is newer still
        path.unlink(missing_ok=True)
        total -= size
        removed += 1
        freed += size
    if removed:
        log.info("cache: evicted %d file(s), %.0f MB (in the bucket still)", removed, freed / 2**20)
    return removed, freed
