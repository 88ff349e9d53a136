"""Bot persistence: chats and their backend sessions, identities, per-chat settings, in-flight renders
and web-upload links waiting for their file."""

from storage.db import ChatRecord, JobRecord, Store, UploadWatch

__all__ = ["ChatRecord", "JobRecord", "Store", "UploadWatch"]
