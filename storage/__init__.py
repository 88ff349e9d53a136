"""Bot persistence: chats and their backend sessions, identities, per-chat settings, in-flight renders
and web-upload links waiting for their file."""

from storage.db import ChatRecord, ChatStore, JobRecord, UploadWatch

__all__ = ["ChatRecord", "ChatStore", "JobRecord", "UploadWatch"]
