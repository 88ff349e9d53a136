"""Pydantic models of the protocol's JSON bodies and replies (docs/PROTOCOL.md), for validation and
for ``/openapi.json``.

Request bodies are read by the capped reader (``routes.read_object``: 1 MB, 64 levels) and then
validated with ``Model.model_validate``; a model never makes FastAPI read a body by itself. The
models accept unknown fields: clients of the hosted service send more than this backend reads.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

D = TypeVar("D")


class Body(BaseModel):
    model_config = ConfigDict(extra="allow")


# requests ------------------------------------------------------------------------------------
class SessionCreate(Body):
    task_name: str = Field("project", description="Shown to the user; cut at 80 characters.")
    language: str | None = Field(None, description="`en` or `zh`; else Accept-Language, else `en`.")


class UrlUpload(Body):
    urls: list[str] = Field(
        min_length=1,
        description="http(s) links, at most 10 (4000 for more; 4005 for a bad one).",
        # Documented (and fuzzed) as links; any other string is refused with 4005, not 4000.
        json_schema_extra={"items": {"type": "string", "pattern": "^https?://"}, "maxItems": 10},
    )
    source_type: str | None = Field(None, examples=["url"])


class MessagePart(Body):
    text: str | None = None


class NewMessage(Body):
    role: str | None = Field(None, examples=["user"])
    parts: list[MessagePart]


class RunRequest(Body):
    app_name: str | None = Field(None, examples=["nemo_agent"])
    user_id: str | None = Field(None, examples=["me"])
    session_id: str
    new_message: NewMessage
    state_delta: dict[str, Any] | None = Field(
        None,
        description="ADK state changes sent with the turn. This backend reads "
        "`player_soft_subtitles` (bool): false when the client's video player does not show "
        "subtitle tracks (Telegram, Discord), so captions are burned into the picture unless "
        "the user chose otherwise.",
        examples=[{"player_soft_subtitles": False}],
    )


class RenderStart(Body):
    id: str | None = Field(
        None,
        description="`render_` and up to 72 letters, digits, `_` or `-`; made up when absent.",
        examples=["render_1700000000000"],
    )
    sessionId: str | None = Field(None, description="The session (or `session_id`).")
    session_id: str | None = None
    draft: dict[str, Any] | None = Field(
        None, description="The timeline (docs/PROTOCOL.md, Draft); the session's when absent."
    )
    output: dict[str, Any] | None = Field(None, examples=[{"format": "mp4", "quality": "high"}])


REQUEST_MODELS: tuple[type[BaseModel], ...] = (SessionCreate, UrlUpload, RunRequest, RenderStart)


# replies -------------------------------------------------------------------------------------
class Envelope(BaseModel, Generic[D]):
    """Every JSON reply; the HTTP status mirrors ``code``."""

    code: int = Field(description="0 on success, else a protocol error code.")
    message: str
    data: D


class ErrorReply(Envelope[dict[str, Any]]):
    pass


class Health(BaseModel):
    status: str
    voices: list[str]


class TokenIssued(BaseModel):
    token: str
    client_id: str
    credits: int
    expires_at: int
    bind_id: str


class Balance(BaseModel):
    available: int
    frozen: int
    total: int
    bind_id: str
    registered: bool


class SessionCreated(BaseModel):
    task_id: str
    session_id: str
    bind_id: str
    language: str


class SessionLatest(BaseModel):
    session_id: str
    bind_id: str
    state: dict[str, Any] = Field(
        description="draft, video_infos, generated_media, script, summary, uploads"
    )


class UploadedFile(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    kind: str
    size: int
    mime: str


class Uploaded(BaseModel):
    files: list[UploadedFile]
    video_infos: list[dict[str, Any]]
    script: dict[str, Any] | None = None


class RenderQueued(BaseModel):
    id: str
    status: str


class RenderState(BaseModel):
    id: str
    status: str = Field(description="queued, rendering, completed or failed")
    progress: float
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class UploadLink(BaseModel):
    url: str
    expires_at: int
    max_bytes: int


ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorReply, "description": "A protocol error (docs/PROTOCOL.md)."},
    "5XX": {"model": ErrorReply, "description": "5000: an internal error."},
}


def json_body(model: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON body of an operation that reads its body
    itself (the component is added to the schema by ``app.openapi``)."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": ref(model)}},
        }
    }


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


MULTIPART_FILES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
    "required": ["files"],
}


def components() -> dict[str, Any]:
    """The JSON schemas of the request models (and the models they use), keyed by name."""
    out: dict[str, Any] = {}
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out
