"""Reading a registry's answers: releasing and bounded reading, distribution-spec error
bodies mapped to lamina's errors, Retry-After, and the one-line error for a request that
got no answer."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lamina.errors import AuthError, ErrorCode, LaminaError, NotFound, RegistryError, TransportError
from lamina.transports.registry.connections import SendFailed

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

MAX_ERROR_BODY = 64 << 10
MAX_RETRY_AFTER = 60.0


def release(resp: BaseHTTPResponse) -> None:
    try:
        resp.drain_conn()
    except Exception:
        pass
    resp.release_conn()


def read_limited(resp: BaseHTTPResponse, limit: int) -> bytes:
    """Read a response body of at most `limit` bytes (more is an error)."""
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.stream(1 << 16):
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"response from {resp.geturl()} is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_detail(resp: BaseHTTPResponse) -> tuple[str, str]:
    """(code, message) of a distribution-spec error body, or ("", "") if there is none."""
    try:
        data = resp.read(MAX_ERROR_BODY)
        obj = json.loads(data)
        first = obj["errors"][0]
        return str(first.get("code", "")), str(first.get("message", ""))[:300]
    except Exception:
        return "", ""


def retry_after(value: str | None) -> float | None:
    """A Retry-After value (seconds or an HTTP date) as seconds, capped; None if unusable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import email.utils

        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # neither seconds nor an HTTP date: fall back to our own backoff
        seconds = parsed.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


def answer_error(
    registry: str, resp: BaseHTTPResponse, what: str, *, used: str, hint: str | None
) -> LaminaError:
    """An error answer as NotFound / AuthError / RegistryError with its spec code (`used`
    names the credentials sent, for 401 and 403)."""
    status = resp.status
    code_text, message = error_detail(resp)
    release(resp)
    code = ErrorCode(code_text) if code_text in ErrorCode.__members__ else None
    text = f"{what}: registry {registry} answered {status}"
    if code_text:
        text += f" {code_text}"
    if message:
        text += f": {message}"
    if status in (401, 403):
        text += f" (using {used})"
        default = ErrorCode.UNAUTHORIZED if status == 401 else ErrorCode.DENIED
        return AuthError(text, code=code or default, hint=hint)
    if status == 407:
        return AuthError(
            text,
            code=ErrorCode.UNAUTHORIZED,
            hint="the proxy (HTTP_PROXY / HTTPS_PROXY) wants credentials: give them in its "
            "URL, http://USER:PASSWORD@HOST:PORT",
        )
    if status == 404:
        return NotFound(text, code=code or ErrorCode.NOT_FOUND)
    if status == 429:
        return RegistryError(text, code=ErrorCode.TOOMANYREQUESTS, retryable=True)
    if status >= 500:
        return RegistryError(text, code=code, retryable=True, hint="retry later")
    return RegistryError(text, code=code or ErrorCode.TRANSPORT)


def connection_failure(
    registry: str, exc: Exception, method: str, url: str, what: str = ""
) -> TransportError:
    """The one-line error for a request to `registry` that got no answer."""
    failed = exc if isinstance(exc, SendFailed) else SendFailed(exc)
    kind = "timed out" if failed.timeout else "failed"
    if failed.tls:
        return TransportError(
            f"{what or method}: TLS with registry {registry} failed: {_short(failed.cause)}",
            hint="trust its CA in /etc/containers/certs.d/HOST:PORT/ca.crt (or --cert-dir), "
            "or use --tls-verify=false",
        )
    if failed.proxy:
        return TransportError(
            f"{what or method}: the proxy to registry {registry} ({urlsplit(url).netloc}) "
            f"{kind}: {_short(failed.cause)}",
            retryable=True,
            hint="check HTTPS_PROXY / HTTP_PROXY, or name the registry in NO_PROXY to reach "
            "it directly",
        )
    return TransportError(
        f"{what or method}: connection to registry {registry} ({urlsplit(url).netloc}) "
        f"{kind}: {_short(failed.cause)}",
        retryable=True,
        hint="check that the registry is up and reachable, or retry later",
    )
