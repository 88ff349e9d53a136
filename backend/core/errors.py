"""Protocol error codes and the JSON envelope.

The body ``code`` is authoritative; the HTTP status mirrors it (DESIGN section 4).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from backend.core.i18n import t

OK = 0
BAD_TOKEN = 1001
NO_SESSION = 1002
NO_CREDITS = 2001
UNSUPPORTED_FILE = 4001
TOO_LARGE = 4002
MISSING_CLIENT_ID = 400
EXPORT_BLOCKED = 402
RATE_LIMITED = 429
BAD_REQUEST = 4000
FORBIDDEN = 4003
NOT_FOUND = 4004
BAD_INPUT = 4005
INTERNAL = 5000

HTTP_STATUS = {
    OK: 200,
    BAD_TOKEN: 401,
    NO_SESSION: 404,
    NO_CREDITS: 402,
    UNSUPPORTED_FILE: 415,
    TOO_LARGE: 413,
    MISSING_CLIENT_ID: 400,
    EXPORT_BLOCKED: 402,
    RATE_LIMITED: 429,
    BAD_REQUEST: 400,
    FORBIDDEN: 403,
    NOT_FOUND: 404,
    BAD_INPUT: 422,
    INTERNAL: 500,
}


class ApiError(Exception):
    """An error with a protocol code and a message written for a person."""

    def __init__(self, code: int, message: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data or {}


def api_error(
    code: int, key: str, lang: str = "en", data: dict[str, Any] | None = None, **fmt: Any
) -> ApiError:
    return ApiError(code, t(key, lang, **fmt), data)


def envelope(
    data: dict[str, Any] | None = None, code: int = OK, message: str = "ok"
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "data": data or {}},
        status_code=HTTP_STATUS.get(code, 400),
    )


def error_response(err: ApiError) -> JSONResponse:
    return envelope(err.data, err.code, err.message)
