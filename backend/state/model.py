"""The session state: one typed, versioned model, and the migration of older stored documents to it.

Stored as JSON in the ``sessions`` table and migrated on read (:func:`load_state`), so a data directory
written by an older backend keeps working. Versions:

* 0 (no ``"version"`` key): the untyped dict of the backend before this model. ``settings``,
  ``titles``, ``draft`` and ``script`` could be ``null`` or absent, and an undo snapshot held
  ``None`` for a key the state lacked when it was taken.
* 1: :class:`SessionState`. ``null`` containers became empty ones; every value is kept.

Settings are a record of what the user *chose*: a setting is "set" only once something assigns it (or
a stored document had it), and only set settings are dumped. That keeps the ``settings`` object clients
see the same as before, and keeps meaning the draft relies on ("a caption place was chosen, so burn the
captions in"). Settings this model does not know are kept (``extra="allow"``) rather than dropped.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

CURRENT_VERSION = 1

EMPTY_DRAFT: dict[str, Any] = {"w": 1920, "h": 1080, "fps": 30, "t": []}


class _Model(BaseModel):
    model_config = ConfigDict(validate_assignment=True)


class Script(_Model):
    text: str
    name: str
    media_id: str | None = None  # None: typed into the chat, not uploaded


class CaptionLine(_Model):
    """One spoken sentence of the voiceover with its word timings ``(text, start_ms, end_ms)``."""

    text: str
    start_ms: int
    end_ms: int
    words: list[tuple[str, int, int]] = Field(default_factory=list)


class Voiceover(_Model):
    media_id: str
    voice: str
    voice_name: str
    language: str = ""
    speed: float
    duration_ms: int
    sentences: list[CaptionLine] = Field(default_factory=list)


class Title(_Model):
    text: str
    start_ms: int
    end_ms: int
    position: str = "center"
    size: str = "large"


class SessionSettings(_Model):
    """What the user chose. Defaults are what applies when nothing was chosen; see :meth:`chosen`."""

    model_config = ConfigDict(validate_assignment=True, extra="allow")

    voice: str | None = None
    speed: float = 1.0
    aspect: str | None = None  # "16:9" | "9:16" | "1:1"; None: the video's own
    captions: bool = True
    burn_captions: bool | None = None  # None: decided from the draft (burned when re-encoding)
    caption_position: str = "bottom"
    caption_size: str = "medium"
    music_volume: float = 0.3
    trim_ms: int | None = None
    resolution: int | None = None  # the short side, 720 or 1080
    fit: str | None = None  # "pad" | "blur" | "crop"; None: blur for a chosen aspect, else pad
    sidecars: bool = False
    soft_hint_given: bool = False
    pronunciations: dict[str, str] = Field(default_factory=dict)

    def chosen(self, name: str) -> bool:
        """Whether setting ``name`` was set (by the user or a stored document), default or not."""
        return name in self.model_fields_set

    @model_serializer(mode="wrap")
    def _only_chosen(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        extra = self.__pydantic_extra__ or {}
        return {k: v for k, v in data.items() if k in self.model_fields_set or k in extra}


class Editable(_Model):
    """The part of the state one ``undo`` restores."""

    script: Script | None = None
    settings: SessionSettings = Field(default_factory=SessionSettings)
    video_id: str | None = None
    music_id: str | None = None
    titles: list[Title] = Field(default_factory=list)
    voiceover: Voiceover | None = None


EDITABLE = tuple(Editable.model_fields)


class UndoPoint(Editable):
    label: str | None = None  # what the turn that followed told the user


class SessionState(Editable):
    """Everything the backend keeps about a session. Top-level keys it does not know are kept too."""

    model_config = ConfigDict(validate_assignment=True, extra="allow")

    version: int = CURRENT_VERSION
    task_name: str | None = None
    draft: dict[str, Any] = Field(default_factory=dict)  # the protocol's timeline JSON, as sent
    history: list[UndoPoint] = Field(default_factory=list)
    # Whether the client's video player shows soft subtitle tracks (ADK ``state_delta`` of run_sse;
    # None: not told). False (Telegram, Discord): captions are burned in unless the user chose
    # otherwise. Not part of undo: it describes the client, not an edit.
    player_soft_subtitles: bool | None = None
    player_burn_told: bool = False  # the client was told once why captions are in the picture

    @model_serializer(mode="wrap")
    def _client_facts_when_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The player fields are stored only once set: other documents stay as they were."""
        data: dict[str, Any] = handler(self)
        for name in ("player_soft_subtitles", "player_burn_told"):
            if name not in self.model_fields_set:
                data.pop(name, None)
        return data

    @classmethod
    def new(cls, task_name: str) -> SessionState:
        """A new session's state: the settings a client sees before anything was chosen."""
        return cls(
            task_name=task_name,
            settings=SessionSettings(voice=None, speed=1.0, aspect=None, captions=True),
            draft=dict(EMPTY_DRAFT, t=[]),
        )

    def snapshot(self) -> UndoPoint:
        """A deep copy of the editable part."""
        return UndoPoint(**{name: getattr(self, name) for name in EDITABLE}).model_copy(deep=True)

    def restore(self, point: UndoPoint) -> None:
        for name in EDITABLE:
            setattr(self, name, getattr(point, name))

    def same_edits(self, point: UndoPoint) -> bool:
        """Whether ``point`` holds exactly the editable part of this state (chosen settings included)."""
        keys = set(EDITABLE)
        return self.model_dump(include=keys) == point.model_dump(include=keys)


def _v0_to_v1(doc: dict[str, Any]) -> dict[str, Any]:
    """Today's untyped dict to version 1: ``null`` containers become empty ones, nothing else changes."""
    out = dict(doc)
    for key, empty in (("settings", {}), ("titles", []), ("history", [])):
        if out.get(key) is None:
            out[key] = empty
    if out.get("draft") is None:
        out["draft"] = {}
    out["history"] = [_point_v0(p) for p in out["history"] if isinstance(p, dict)]
    out["version"] = 1
    return out


def _point_v0(point: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in point.items() if v is not None}
    out.setdefault("settings", {})
    out.setdefault("titles", [])
    return out


MIGRATIONS = {0: _v0_to_v1}


def load_state(raw: dict[str, Any] | str | bytes) -> SessionState:
    """A stored state of any version, migrated to the current one."""
    doc = json.loads(raw) if isinstance(raw, str | bytes) else raw
    if not isinstance(doc, dict):
        raise ValueError("a session state must be a JSON object")
    version = doc.get("version", 0)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"bad session state version {version!r}")
    if version > CURRENT_VERSION:
        raise ValueError(
            f"session state version {version} is newer than this backend's ({CURRENT_VERSION})"
        )
    while version < CURRENT_VERSION:
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    return SessionState.model_validate(doc)


def dump_state(state: SessionState) -> str:
    return state.model_dump_json()
