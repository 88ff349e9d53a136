"""The code stays easy to enter: no module of the product over ~400 lines (a little slack, so a fix
does not force a split mid-change), and every backend layer says in its docstring what lives there."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 430
LAYERS = (
    "core",
    "protocol",
    "speech",
    "media",
    "state",
    "intake",
    "objects",
    "runtime",
    "conversation",
    "api",
)


def test_no_module_over_about_400_lines() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for folder in ("backend", "bot", "adapters", "storage")
        for p in (ROOT / folder).rglob("*.py")
    }
    assert len(sizes) > 60  # the walk found the code
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_every_backend_layer_is_a_package_that_says_what_it_holds() -> None:
    for layer in LAYERS:
        init = ROOT / "backend" / layer / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 60, layer
    found = {p.name for p in (ROOT / "backend").iterdir() if (p / "__init__.py").exists()}
    assert found == set(LAYERS)  # a new layer gets a contract in pyproject.toml and a line here
