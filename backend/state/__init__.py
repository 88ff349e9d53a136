"""What the backend remembers: the SQLite store (identities, credits, sessions, media, render jobs), the
typed session state, and the draft (timeline) built from it.
"""
