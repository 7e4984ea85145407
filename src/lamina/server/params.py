"""Numbers from the wire (query parameters, headers): decimal ASCII digits up to 2**63 - 1,
as Distribution's Go integers; anything else is a 400 with the caller's spec code, never
a Python `int()` error (which refuses more than 4300 digits) turning into a 500."""

from __future__ import annotations

from lamina.errors import ErrorCode
from lamina.server.errors import RegistryHTTPError

MAX_NUMBER = (1 << 63) - 1
_MAX_DIGITS = len(str(MAX_NUMBER))


def number(text: str, what: str, code: ErrorCode, status: int = 400) -> int:
    """`text` as a non-negative integer; RegistryHTTPError(status, code) naming `what` when
    it is not ASCII digits or is larger than MAX_NUMBER."""
    if not (text.isascii() and text.isdigit()):  # '²'.isdigit(), and int() takes '٣'
        raise RegistryHTTPError(status, code, f"{what}: {text[:40]!r} is not a number")
    digits = text.lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS or int(digits) > MAX_NUMBER:
        raise RegistryHTTPError(
            status, code, f"{what}: {text[:40]!r}… is too large (at most {MAX_NUMBER})"
        )
    return int(digits)


def range_bound(text: str) -> int:
    """A Content-Range number (a PATCH's chunk bounds)."""
    return number(text, "Content-Range", ErrorCode.BLOB_UPLOAD_INVALID)
