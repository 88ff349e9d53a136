"""The session's timeline for people, in the chat's language, and what the session holds.

The hosted service sends no summary, so the bot reads the draft itself with the protocol's own
summary (``backend.protocol.summary``, the same words the self-hosted backend uses). The backend's
text is used only when the reply has no draft at all.
"""

from __future__ import annotations

from backend.protocol.draft import VIDEO, VOICEOVER, has_role, tracks
from backend.protocol.summary import timeline_summary
from bot.models import SessionState


def has_voiceover(state: SessionState) -> bool:
    """The session has a voiceover: on the draft's timeline, else (no draft) generated media."""
    if not state.has_draft:
        return bool(state.generated_media)
    return has_role(state.draft, VOICEOVER)


def has_content(state: SessionState) -> bool:
    """Something worth exporting: a video or a voiceover (music or a title alone is not)."""
    if state.video_infos or has_voiceover(state):
        return True
    return any(track.get("tt") == VIDEO for track, _ in tracks(state.draft))


def state_summary(state: SessionState, lang: str) -> str:
    """The session's timeline for people ("" when empty): from the draft, else the backend's text."""
    if state.has_draft:
        return timeline_summary(state.draft, lang)
    return state.summary
