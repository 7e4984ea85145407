"""Errors on the wire: the distribution spec's `{"errors":[{"code","message","detail"}]}`."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from lamina.errors import ErrorCode, LaminaError

STATUS: dict[ErrorCode, int] = {
    ErrorCode.BLOB_UNKNOWN: 404,
    ErrorCode.BLOB_UPLOAD_INVALID: 400,
    ErrorCode.BLOB_UPLOAD_UNKNOWN: 404,
    ErrorCode.DIGEST_INVALID: 400,
    ErrorCode.MANIFEST_BLOB_UNKNOWN: 400,
    ErrorCode.MANIFEST_INVALID: 400,
    ErrorCode.MANIFEST_UNKNOWN: 404,
    ErrorCode.NAME_INVALID: 400,
    ErrorCode.NAME_UNKNOWN: 404,
    ErrorCode.SIZE_INVALID: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.DENIED: 403,
    ErrorCode.UNSUPPORTED: 405,
    ErrorCode.TOOMANYREQUESTS: 429,
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.INTEGRITY: 400,
    ErrorCode.NOT_FOUND: 404,
}
# Codes that are not in the spec are sent as the nearest spec code.
_WIRE: dict[ErrorCode, ErrorCode] = {
    ErrorCode.INVALID_INPUT: ErrorCode.UNSUPPORTED,
    ErrorCode.INTEGRITY: ErrorCode.DIGEST_INVALID,
    ErrorCode.NOT_FOUND: ErrorCode.NAME_UNKNOWN,
}


class RegistryHTTPError(LaminaError):
    """An error answer with an explicit HTTP status (and extra headers)."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def error_body(code: ErrorCode, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": str(code), "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}, separators=(",", ":")).encode()


def error_response(exc: LaminaError) -> web.Response:
    """The HTTP answer for `exc`: spec status and JSON body."""
    status = exc.status if isinstance(exc, RegistryHTTPError) else STATUS.get(exc.code, 500)
    code = _WIRE.get(exc.code, exc.code)
    detail = exc.detail if isinstance(exc, RegistryHTTPError) else None
    headers = dict(exc.headers) if isinstance(exc, RegistryHTTPError) else {}
    resp = web.Response(
        status=status,
        body=error_body(code, exc.message, detail),
        content_type="application/json",
        headers=headers,
    )
    return resp
