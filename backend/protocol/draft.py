"""The draft (DESIGN section 4): ``{"w", "h", "fps", "t": [track]}``; a track has ``tt`` (its type) and
``sg`` (segments); a segment has ``id``, ``src`` (a media id) or ``text``, ``s`` (start ms), ``d``
(duration ms), ``name`` and ``m`` (metadata: ``role``, ``volume``, ``voice``...).

Readers here are tolerant: a draft from the hosted service may lack fields or carry ones we do not
know, and a client-sent draft is untrusted. Strict validation for rendering is in ``backend.media``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# Track types (``tt``).
VIDEO: Final = 0
AUDIO: Final = 1
TEXT: Final = 7

# Segment roles (``m.role``): an audio track is a voiceover or music, a text track captions or a title.
VOICEOVER: Final = "voiceover"
MUSIC: Final = "music"
CAPTION: Final = "caption"
TITLE: Final = "title"


def ms(value: Any) -> int:
    """A time field as non-negative integer milliseconds (0 when missing or not a number)."""
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return 0


def meta(segment: Mapping[str, Any]) -> Mapping[str, Any]:
    """A segment's ``m`` (empty when missing or not an object)."""
    m = segment.get("m")
    return m if isinstance(m, Mapping) else {}


def tracks(draft: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """(track, its segments) for every well-formed track that has segments, in draft order."""
    found = draft.get("t") if isinstance(draft, Mapping) else None
    kept: list[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = []
    for track in found if isinstance(found, list) else []:
        if not isinstance(track, Mapping) or not isinstance(track.get("sg"), list):
            continue
        segments = [s for s in track["sg"] if isinstance(s, Mapping)]
        if segments:
            kept.append((track, segments))
    return kept


def role(track: Mapping[str, Any], segments: list[Mapping[str, Any]]) -> str:
    """What a track is for: video, voiceover, music, caption or title."""
    kind = track.get("tt")
    m = meta(segments[0]) if segments else {}
    if kind == VIDEO:
        return "video"
    if kind == AUDIO:
        return VOICEOVER if m.get("role") == VOICEOVER else MUSIC
    return CAPTION if m.get("role") == CAPTION else TITLE


def has_role(draft: Mapping[str, Any], wanted: str) -> bool:
    """The draft has a track of that role (``video``, ``voiceover``, ``music``, ...)."""
    return any(role(tr, sg) == wanted for tr, sg in tracks(draft))
