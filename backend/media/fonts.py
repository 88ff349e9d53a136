"""Which fonts libass may use: the bundled DejaVu Sans Bold, plus fonts for scripts it lacks.

DejaVu has no Chinese, Japanese or Korean glyphs. Noto Sans CJK Bold (OFL-1.1) installs from PyPI
with the project (``cvttf-notosanscjk-bold``); a CJK font of the machine (Debian: fonts-wqy-microhei,
fonts-noto-cjk) is used as well, found first. Their folders are added to the private fontconfig that
ffmpeg runs with, and libass falls back to them glyph by glyph. Without any, CJK captions would be
empty boxes: `cjk_font_available()` lets the caller say so.
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


def packaged_cjk_dir() -> Path | None:
    """The folder of the Noto Sans CJK Bold installed from PyPI, if it is installed."""
    try:
        import cvttf_NotoSansCJK_Bold as noto
    except ImportError:
        return None
    return Path(noto.__file__).resolve().parent


_configured: tuple[Path, ...] | None = None


def configure(extra_dirs: Sequence[Path] | None) -> None:
    """Use exactly these extra folders (the backend's `font_dirs` setting); None: detect."""
    global _configured
    _configured = tuple(extra_dirs) if extra_dirs is not None else None


def extra_dirs() -> list[Path]:
    if _configured is not None:
        dirs: Sequence[Path] = _configured
    else:
        packaged = packaged_cjk_dir()
        dirs = (*SYSTEM_CJK_DIRS, packaged) if packaged else SYSTEM_CJK_DIRS
    return [d for d in dirs if d.is_dir() and any(_fonts_in(d))]


def font_dirs() -> list[Path]:
    """Every folder the private fontconfig lists, bundled first."""
    return [BUNDLED_DIR, *extra_dirs()]


def cjk_font_available() -> bool:
    return bool(extra_dirs())


def _fonts_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.suffix.lower() in _FONT_SUFFIXES]
