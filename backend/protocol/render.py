"""The render status request's long poll (our extension of the hosted protocol, docs/PROTOCOL.md):
the longest ``?wait=`` the backend holds a request for, which the bot caps what it asks to."""

from __future__ import annotations

MAX_RENDER_WAIT_S = 20.0
