"""Which fonts libass may use: the bundled DejaVu Sans Bold, plus fonts for scripts it lacks.

DejaVu has no Chinese, Japanese or Korean glyphs, and no such font installs from PyPI. When the
machine has one (Debian: fonts-wqy-microhei, fonts-noto-cjk), its folder is added to the private
fontconfig that ffmpeg runs with, and libass falls back to it glyph by glyph. Without one, CJK
captions would be empty boxes: `cjk_font_available()` lets the caller say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "assets" / "fonts"

# Where Debian/Ubuntu packages put CJK fonts (fonts-wqy-microhei, -zenhei, fonts-noto-cjk, ...).
SYSTEM_CJK_DIRS = (
    Path("/usr/share/fonts/truetype/wqy"),
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/truetype/droid"),
    Path("/usr/share/fonts/truetype/arphic"),
    Path("/usr/share/fonts/opentype/source-han-sans"),
)
_FONT_SUFFIXES = (".ttf", ".ttc", ".otf", ".otc")

_configured: tuple[Path, ...] | None = None


def configure(extra_dirs: Sequence[Path] | None) -> None:
    """Use exactly these extra folders (the backend's `font_dirs` setting); None: detect."""
    global _configured
    _configured = tuple(extra_dirs) if extra_dirs is not None else None


def extra_dirs() -> list[Path]:
    dirs = _configured if _configured is not None else SYSTEM_CJK_DIRS
    return [d for d in dirs if d.is_dir() and any(_fonts_in(d))]


def font_dirs() -> list[Path]:
    """Every folder the private fontconfig lists, bundled first."""
    return [BUNDLED_DIR, *extra_dirs()]


def cjk_font_available() -> bool:
    return bool(extra_dirs())


def _fonts_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in _FONT_SUFFIXES]
