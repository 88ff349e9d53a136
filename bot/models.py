"""Typed views of the backend's replies, so a typo in a field name fails in one place.

Every parser reads fields tolerantly (inside `data` or at the top level), as PROTOCOL.md asks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Envelope:
    """A JSON reply: fields are looked up in `data` first, then at the top level."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        data = body.get("data")
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.data:
            return self.data[name]
        return self.body.get(name, default)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value)


@dataclass(frozen=True)
class TokenInfo:
    token: str
    client_id: str
    expires_at: float | None
    bind_id: str | None
    credits: int | None

    @classmethod
    def parse(cls, env: Envelope, client_id: str) -> TokenInfo:
        exp = env.get("expires_at")
        return cls(
            token=str(env.get("token") or ""),
            client_id=str(env.get("client_id") or client_id),
            expires_at=float(exp) if exp is not None else None,
            bind_id=env.get("bind_id"),
            credits=_opt_int(env.get("credits")),
        )


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    task_id: str | None
    bind_id: str | None

    @classmethod
    def parse(cls, env: Envelope) -> SessionInfo:
        return cls(str(env.get("session_id") or ""), env.get("task_id"), env.get("bind_id"))


@dataclass(frozen=True)
class Credits:
    available: int
    frozen: int
    total: int
    bind_id: str | None = None
    registered: bool | None = None

    @classmethod
    def parse(cls, env: Envelope) -> Credits:
        reg = env.get("registered")
        return cls(
            _int(env.get("available")),
            _int(env.get("frozen")),
            _int(env.get("total")),
            env.get("bind_id"),
            None if reg is None else bool(reg),
        )


@dataclass(frozen=True)
class SessionState:
    summary: str
    draft: Mapping[str, Any]
    video_infos: list[Any]
    generated_media: list[Any]
    bind_id: str | None = None
    uploads: tuple[Mapping[str, Any], ...] = ()
    has_draft: bool = False  # the reply carried a draft (an empty one included)

    @classmethod
    def parse(cls, env: Envelope) -> SessionState:
        state = env.get("state") or {}
        if not isinstance(state, Mapping):
            state = {}
        raw_draft = state.get("draft")
        draft = raw_draft if isinstance(raw_draft, Mapping) else {}
        return cls(
            summary=str(state.get("summary") or ""),
            draft=draft,
            video_infos=list(state.get("video_infos") or []),
            generated_media=list(state.get("generated_media") or []),
            bind_id=env.get("bind_id"),
            uploads=tuple(u for u in state.get("uploads") or [] if isinstance(u, Mapping)),
            has_draft=isinstance(raw_draft, Mapping),
        )

    @property
    def track_count(self) -> int:
        tracks = self.draft.get("t")
        return len(tracks) if isinstance(tracks, list) else 0


@dataclass(frozen=True)
class UploadLink:
    url: str
    expires_at: float | None = None
    max_bytes: int | None = None

    @classmethod
    def parse(cls, env: Envelope) -> UploadLink:
        expires = env.get("expires_at")
        return cls(
            str(env.get("url") or ""),
            float(expires) if isinstance(expires, (int, float)) else None,
            _opt_int(env.get("max_bytes")),
        )


@dataclass(frozen=True)
class UploadedFile:
    id: str
    name: str
    kind: str
    size: int | None = None
    duration_ms: int | None = None
    words: int | None = None


@dataclass(frozen=True)
class UploadResult:
    files: tuple[UploadedFile, ...]

    @classmethod
    def parse(cls, env: Envelope) -> UploadResult:
        script = env.get("script") or {}
        words = _opt_int(script.get("words")) if isinstance(script, Mapping) else None
        files = []
        for f in env.get("files") or []:
            if not isinstance(f, Mapping):
                continue
            kind = str(f.get("kind") or "")
            files.append(
                UploadedFile(
                    id=str(f.get("id") or ""),
                    name=str(f.get("name") or ""),
                    kind=kind,
                    size=_opt_int(f.get("size")),
                    duration_ms=_opt_int(f.get("duration_ms")),
                    words=_opt_int(f.get("words")) or (words if kind == "script" else None),
                )
            )
        return cls(tuple(files))


@dataclass(frozen=True)
class RenderOutput:
    url: str
    expires_at: float | None = None
    size: int | None = None
    duration_ms: int | None = None
    width: int | None = None
    height: int | None = None
    captions: tuple[tuple[str, str], ...] = ()  # (ext, url) of SRT/VTT files, when asked for


@dataclass(frozen=True)
class RenderStatus:
    id: str
    status: str  # queued | rendering | completed | failed
    progress: int = 0
    output: RenderOutput | None = None
    error_message: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed")

    @classmethod
    def parse(cls, env: Envelope, render_id: str) -> RenderStatus:
        out = env.get("output")
        output = None
        if isinstance(out, Mapping) and out.get("url"):
            exp = out.get("expires_at")
            output = RenderOutput(
                url=str(out["url"]),
                expires_at=float(exp) if exp is not None else None,
                size=_opt_int(out.get("size")),
                duration_ms=_opt_int(out.get("duration_ms")),
                width=_opt_int(out.get("width")),
                height=_opt_int(out.get("height")),
                captions=tuple(
                    (str(k), str(v))
                    for k, v in (out.get("captions") or {}).items()
                    if isinstance(v, str) and k in ("srt", "vtt")
                )
                if isinstance(out.get("captions"), Mapping)
                else (),
            )
        err = env.get("error")
        message = None
        if isinstance(err, Mapping):
            message = str(err.get("message") or err.get("code") or "")
        elif err:
            message = str(err)
        return cls(
            id=str(env.get("id") or render_id),
            status=str(env.get("status") or "queued").lower(),
            progress=_int(env.get("progress")),
            output=output,
            error_message=message,
        )


@dataclass(frozen=True)
class FunctionCall:
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class FunctionResponse:
    name: str
    response: Any = None
    id: str | None = None


@dataclass(frozen=True)
class AdkEvent:
    """One Google ADK `Event` from /run_sse, reduced to what the engine acts on."""

    texts: tuple[str, ...] = ()
    calls: tuple[FunctionCall, ...] = ()
    responses: tuple[FunctionResponse, ...] = ()
    author: str | None = None
    partial: bool = False
    turn_complete: bool = False
    error_code: str | None = None
    error_message: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.texts)

    @classmethod
    def from_json(cls, raw: str) -> AdkEvent:
        obj = json.loads(raw)
        if not isinstance(obj, Mapping):
            raise ValueError("event is not an object")
        content = obj.get("content") or {}
        parts = content.get("parts") if isinstance(content, Mapping) else None
        texts: list[str] = []
        calls: list[FunctionCall] = []
        responses: list[FunctionResponse] = []
        for part in parts or []:
            if not isinstance(part, Mapping):
                continue
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
            fc = part.get("functionCall") or part.get("function_call")
            if isinstance(fc, Mapping):
                args = fc.get("args")
                calls.append(
                    FunctionCall(
                        str(fc.get("name") or ""),
                        args if isinstance(args, Mapping) else {},
                        fc.get("id"),
                    )
                )
            fr = part.get("functionResponse") or part.get("function_response")
            if isinstance(fr, Mapping):
                responses.append(
                    FunctionResponse(str(fr.get("name") or ""), fr.get("response"), fr.get("id"))
                )
        code = obj.get("errorCode", obj.get("error_code"))
        return cls(
            texts=tuple(texts),
            calls=tuple(calls),
            responses=tuple(responses),
            author=obj.get("author"),
            partial=bool(obj.get("partial")),
            turn_complete=bool(obj.get("turnComplete", obj.get("turn_complete"))),
            error_code=None if code is None else str(code),
            error_message=obj.get("errorMessage", obj.get("error_message")),
        )
