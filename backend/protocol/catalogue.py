"""One policy for every en/zh message table, on both sides of the protocol.

A key that is not in the table is a bug, so it raises ``KeyError`` (a test checks that every key
the code uses exists, in English and Chinese); a language with no text for a key falls back to English.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping

LANGUAGES = ("en", "zh")


class Catalogue:
    """Messages by key, then language. ``defaults`` are format values every message may use."""

    def __init__(self, messages: Mapping[str, Mapping[str, str]], **defaults: object) -> None:
        self.messages = messages
        self.defaults = defaults

    def t(self, key: str, lang: str = "en", **fmt: object) -> str:
        """The text for ``key`` in ``lang`` (English if that language has none), formatted."""
        entry = self.messages[key]
        template = entry.get(lang) or entry["en"]
        values = {**self.defaults, **fmt}
        return template.format(**values) if values else template

    def problems(self, languages: Iterable[str] = LANGUAGES) -> list[str]:
        """Keys missing a language, or a translation using a value the English text does not get
        (English may use more: plural endings have no Chinese counterpart). For a test."""
        found = []
        for key, entry in self.messages.items():
            missing = [lang for lang in languages if not entry.get(lang)]
            if missing:
                found.append(f"{key}: no {'/'.join(missing)}")
                continue
            english = _fields(entry["en"])
            for lang in languages:
                extra = _fields(entry[lang]) - english - set(self.defaults)
                if extra:
                    found.append(f"{key}: {lang} uses {sorted(extra)} that en does not")
        return found


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
