"""Every message key the code uses exists in English and Chinese, and both catalogues follow one
policy (an unknown key raises, a missing language falls back to English). Real catalogues, real
source files read with ``ast``: a typo in a key or a missing translation fails here, not in a chat."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from backend.core.i18n import CATALOGUE as BACKEND
from backend.protocol.catalogue import Catalogue
from backend.protocol.summary import TEXTS as SUMMARY
from bot.texts import CATALOGUE as BOT

ROOT = Path(__file__).resolve().parents[1]


def _literal_keys(folder: str, calls: dict[str, int]) -> dict[str, list[str]]:
    """String literals passed as the key argument of the named calls, with where they are."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in calls or len(node.args) <= calls[name]:
                continue
            arg = node.args[calls[name]]
            candidates = [arg]
            if isinstance(arg, ast.IfExp):  # t("a" if x else "b", lang)
                candidates = [arg.body, arg.orelse]
            for c in candidates:
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(c.value, []).append(where)
    return found


@pytest.mark.parametrize("catalogue", [BACKEND, BOT, SUMMARY], ids=["backend", "bot", "summary"])
def test_every_key_has_english_and_chinese(catalogue: Catalogue) -> None:
    assert catalogue.messages, "an empty catalogue proves nothing"
    assert catalogue.problems() == []


def test_backend_code_uses_only_known_keys() -> None:
    used = _literal_keys("backend", {"t": 0, "api_error": 1})
    assert len(used) > 40  # the scan really finds the calls
    unknown = {
        k: v for k, v in used.items() if k not in BACKEND.messages and k not in SUMMARY.messages
    }
    assert unknown == {}


@pytest.mark.parametrize("folder", ["bot", "adapters"])
def test_bot_code_uses_only_known_keys(folder: str) -> None:
    used = _literal_keys(folder, {"t": 0})
    if folder == "bot":
        assert len(used) > 40
    unknown = {k: v for k, v in used.items() if k not in BOT.messages}
    assert unknown == {}


def test_one_policy_on_both_sides() -> None:
    for catalogue in (BACKEND, BOT):
        with pytest.raises(KeyError):
            catalogue.t("no_such_key_anywhere", "zh")
    cat = Catalogue({"only_en": {"en": "Hello {name}"}, "both": {"en": "Hi", "zh": "你好"}})
    assert cat.t("only_en", "zh", name="Li") == "Hello Li"  # falls back to English
    assert cat.t("both", "zh") == "你好"
    assert cat.problems() == ["only_en: no zh"]


def test_a_translation_may_not_invent_values() -> None:
    cat = Catalogue({"k": {"en": "{n} file{s}", "zh": "{n} 个文件，{extra}"}})
    assert cat.problems() == ["k: zh uses ['extra'] that en does not"]
