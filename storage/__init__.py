"""Bot persistence: chats and their backend sessions, identities, per-chat settings, in-flight renders."""

from storage.db import ChatRecord, JobRecord, Store

__all__ = ["ChatRecord", "JobRecord", "Store"]
