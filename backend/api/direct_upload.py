"""The web upload page straight to object storage (cluster mode): the browser posts the file to a
presigned S3 form, then tells the backend, which fetches it once and ingests it like any upload.

The backend never carries the upload's bytes over a long-lived request (a load balancer's timeout or
a replica restart does not cut a 500 MB upload), and the storage enforces the size limit and the key
(the presigned policy). The same signed page link authorizes both calls. Embedded mode answers 4000:
the page posts to ``/upload/<sid>/files`` there.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from backend.api import schemas as s
from backend.api.deps import backend_of
from backend.api.limits import upload_slot
from backend.api.routes import read_model
from backend.api.webupload import _checked as checked_link
from backend.api.webupload import _secured as secured
from backend.core.errors import BAD_REQUEST, api_error, envelope
from backend.core.i18n import t
from backend.core.types import Received
from backend.intake.receive import discard, too_large
from backend.objects import ObjectError
from backend.runtime.accept import accept

router = APIRouter(tags=["web upload"])
Signed = Annotated[str | None, Query(description="from the signed link")]
KEY = re.compile(r"incoming/(?P<sid>[A-Za-z0-9_-]{1,80})/[0-9a-f]{32}")


class DirectStart(BaseModel):
    """The file the browser is about to send."""

    name: str = Field(max_length=1024)
    size: int = Field(ge=0)


class DirectDone(BaseModel):
    """The object the browser sent (``key`` from the form) and the file's own name."""

    key: str = Field(max_length=200)
    name: str = Field(max_length=1024)


class DirectForm(BaseModel):
    url: str
    fields: dict[str, str]
    key: str
    expires_at: int
    max_bytes: int


def _body(model: type[BaseModel]) -> dict[str, object]:
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _refused() -> Response:
    return secured(envelope({}, 4003, t("link_expired")))


@router.post(
    "/upload/{sid}/direct",
    response_model=s.Envelope[DirectForm],
    responses=s.ERRORS,
    openapi_extra=_body(DirectStart),
)
async def direct_form(
    request: Request, sid: str, exp: Signed = None, sig: Signed = None
) -> Response:
    """A presigned form for one file of at most the upload limit, under this session's prefix."""
    checked = await checked_link(request)
    if isinstance(checked, Response):
        return _refused()
    sid, lang, _owner = checked
    backend = backend_of(request)
    settings = backend.settings
    body = await read_model(request, DirectStart, lang)
    if body.size > settings.max_upload_bytes:
        raise too_large(lang, settings.max_upload_bytes)
    key = f"incoming/{sid}/{uuid.uuid4().hex}"
    form = await backend.objects.upload_form(
        key, settings.max_upload_bytes, int(settings.upload_deadline_seconds)
    )
    if form is None:
        raise api_error(BAD_REQUEST, "bad_request", lang, reason="direct uploads need S3 storage")
    data = {
        "url": form.url,
        "fields": form.fields,
        "key": form.key,
        "expires_at": form.expires_at,
        "max_bytes": settings.max_upload_bytes,
    }
    return secured(envelope(data))


@router.post(
    "/upload/{sid}/direct/done",
    response_model=s.Envelope[s.Uploaded],
    responses=s.ERRORS,
    openapi_extra=_body(DirectDone),
)
async def direct_done(
    request: Request, sid: str, exp: Signed = None, sig: Signed = None
) -> Response:
    """Fetch the object the browser sent, check and add it to the session, delete the object."""
    checked = await checked_link(request)
    if isinstance(checked, Response):
        return _refused()
    sid, lang, owner = checked
    backend = backend_of(request)
    settings = backend.settings
    body = await read_model(request, DirectDone, lang)
    found = KEY.fullmatch(body.key)
    if found is None or found["sid"] != sid:
        raise api_error(BAD_REQUEST, "bad_request", lang, reason="not an upload of this session")
    folder = settings.data_dir / "sessions" / sid / "media"
    folder.mkdir(parents=True, exist_ok=True)
    received = Received(name=body.name, path=folder / f"{uuid.uuid4().hex}.part")
    async with upload_slot(request, owner, settings.max_uploads_per_identity, lang):
        try:
            received.size = await backend.objects.fetch(
                body.key, received.path, settings.max_upload_bytes
            )
        except ObjectError as exc:
            discard([received])
            raise api_error(
                BAD_REQUEST, "bad_request", lang, reason="the upload did not arrive"
            ) from exc
        finally:
            if backend.objects.remote:
                await backend.objects.forget(body.key)  # one use: the cache copy is the upload
        data = await accept(backend, sid, lang, [received])
    return secured(envelope(data))
