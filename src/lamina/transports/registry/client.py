"""One registry's HTTP client: scheme discovery, authentication, retries, error mapping.

`RegistryClient.request` sends one API call and returns the urllib3 response unread
(`preload_content=False`); the caller reads and releases it. It answers 401 challenges once,
follows redirects (dropping Authorization when the host changes), and retries with
exponential backoff only what may succeed later: 429 (honouring Retry-After), 5xx,
connection resets and timeouts — never another 4xx, and never a request whose body is a
one-shot stream.
"""

from __future__ import annotations

import email.utils
import json
import re
import threading
import time
import warnings
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InsecureRequestWarning, SSLError
from urllib3.response import BaseHTTPResponse

from lamina.errors import AuthError, ErrorCode, LaminaError, NotFound, RegistryError, TransportError
from lamina.transports.registry.auth import Authenticator
from lamina.transports.registry.authfile import Credentials, credentials_hint, find_credentials
from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.pools import Body, HostPools
from lamina.transports.registry.tls import (
    cert_dirs_for,
    is_loopback,
    probe_context,
    ssl_context,
)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MAX_ERROR_BODY = 64 << 10
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def api_host(registry: str) -> str:
    """The host that serves `registry`'s API (Docker Hub's differs from its name)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


class RegistryClient:
    """HTTP access to one registry, with credentials for `repository` (namespaced auth)."""

    def __init__(
        self, registry: str, options: RegistryOptions, repository: str | None = None
    ) -> None:
        self.registry = registry
        self.host = api_host(registry)
        self.options = options
        insecure = options.insecure or not options.tls_verify
        self.allow_http = insecure or is_loopback(self.host)
        self._verify = options.tls_verify and not options.insecure
        if not self._verify:
            # The user chose not to verify this host: do not warn on every request.
            host_name = re.escape(self.host.rsplit(":", 1)[0].strip("[]"))
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{host_name}'",
                category=InsecureRequestWarning,
            )
        timeout = urllib3.Timeout(connect=options.timeout, read=options.timeout)
        self._pool = HostPools(
            lambda: ssl_context(self.host, tls_verify=self._verify, cert_dir=options.cert_dir),
            num_pools=4,
            maxsize=16,
            retries=False,
            timeout=timeout,
        )
        self._ping_lock = threading.Lock()
        self._cert_dirs = bool(cert_dirs_for(self.host, options.cert_dir))
        if options.creds is not None:
            creds: Credentials | None = Credentials.parse(options.creds)
        else:
            creds = find_credentials(registry, repository, options.authfile)
        self.hint = credentials_hint(registry, options.authfile)
        self.auth = Authenticator(registry, creds, self._fetch_token, hint=self.hint)
        self._base: str | None = None
        self.supports_signatures = False  # X-Registry-Supports-Signatures, learnt by ping()
        # Whether `POST ?digest=` with the body stores a blob (None: not tried yet).
        self.single_post_uploads: bool | None = None

    # -- discovery ---------------------------------------------------------------------

    @property
    def base(self) -> str:
        """`https://host` or (for insecure/loopback hosts where TLS fails) `http://host`."""
        if self._base is None:
            with self._ping_lock:  # threads sharing a client ping once
                if self._base is None:
                    self.ping()
        assert self._base is not None
        return self._base

    def ping(self) -> int:
        """GET /v2/ to choose the scheme and learn the auth challenge; returns the status."""
        schemes = ["https", "http"] if self.allow_http else ["https"]
        first_error: LaminaError | None = None
        for scheme in schemes:
            if scheme == "https" and self.allow_http and self._verify and not self._cert_dirs:
                # Ask whether the host speaks TLS at all before building a verifying
                # context (loading the system CAs costs ~100 ms); plain-HTTP loopback
                # registries then never need one.
                try:
                    self._probe_tls()
                except TransportError as exc:
                    first_error = exc
                    continue
            try:
                # With a plain-HTTP fallback, a failed TLS attempt is not worth retrying.
                resp = self._send_with_retries(
                    "GET",
                    f"{scheme}://{self.host}/v2/",
                    {"User-Agent": self.options.user_agent},
                    None,
                    retry=not (scheme == "https" and self.allow_http),
                    what=f"checking registry {self.registry}",
                )
            except TransportError as exc:
                first_error = first_error or exc
                continue
            if scheme == "http" and first_error is not None and resp.status not in (200, 401):
                release(resp)
                raise first_error  # not a plain-HTTP registry either: the TLS error is the news
            try:
                if resp.status == 401:
                    self.auth.learn(resp.headers.get("WWW-Authenticate", ""))
                elif resp.status not in (200,):
                    raise self.error_for(resp, "GET", "checking the API version")
            finally:
                resp.drain_conn()
                resp.release_conn()
            self._base = f"{scheme}://{self.host}"
            self.supports_signatures = resp.headers.get("X-Registry-Supports-Signatures") == "1"
            return resp.status
        assert first_error is not None
        raise first_error

    def _probe_tls(self) -> None:
        """One TLS handshake that checks nothing (TransportError if it fails)."""
        probe = urllib3.PoolManager(
            num_pools=1,
            ssl_context=probe_context(),
            retries=False,
            timeout=urllib3.Timeout(connect=self.options.timeout, read=self.options.timeout),
        )
        url = f"https://{self.host}/v2/"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InsecureRequestWarning)
                resp = probe.request("GET", url, preload_content=False, redirect=False)
            release(resp)
        except Urllib3Error as exc:
            raise self.connection_error(
                exc, "GET", url, f"checking registry {self.registry}"
            ) from None
        finally:
            probe.clear()

    # -- requests ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        scopes: list[str],
        what: str,
        headers: dict[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        retry: bool = True,
    ) -> BaseHTTPResponse:
        """Send one API call (`path` relative to the base, or an absolute URL).

        Returns the response if its status is in `ok`; raises the mapped LaminaError otherwise.
        `what` names the operation for messages ("pulling manifest r:t").
        """
        url = urljoin(self.base + "/", path)
        ok_set = frozenset(ok)
        answered_challenge = False
        redirects = 0
        while True:
            hdrs = {"User-Agent": self.options.user_agent, **(headers or {})}
            if urlsplit(url).netloc == self.host:
                auth = self.auth.header(scopes)
                if auth:
                    hdrs["Authorization"] = auth
            resp = self._send_with_retries(method, url, hdrs, body, retry=retry, what=what)
            status = resp.status
            if status == 401 and not answered_challenge and urlsplit(url).netloc == self.host:
                challenge = resp.headers.get("WWW-Authenticate", "")
                release(resp)
                answered_challenge = True
                ch = self.auth.learn(challenge)
                if ch is not None and retry:
                    self.auth.invalidate(scopes)
                    scopes = sorted(set(scopes) | set(ch.scopes))
                    if self.auth.header(scopes):
                        continue
                raise self._auth_error(status, what, resp)
            if status in _REDIRECTS and status not in ok_set and redirects < MAX_REDIRECTS:
                location = resp.headers.get("Location")
                release(resp)
                if not location:
                    raise RegistryError(f"{what}: registry {self.registry} redirected nowhere")
                url = urljoin(url, location)
                redirects += 1
                if status == 303:
                    method, body = "GET", None
                continue
            if status in ok_set:
                return resp
            raise self.error_for(resp, method, what)

    def _send_with_retries(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        retry: bool,
        what: str = "",
    ) -> BaseHTTPResponse:
        attempts = 1 + (self.options.retry_times if retry and _replayable(body) else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self._pool.send(method, url, headers, body)
            except Urllib3Error as exc:
                err = self.connection_error(exc, method, url, what)
                if last or not err.retryable:
                    raise err from None
                time.sleep(self._backoff(attempt))
                continue
            if (resp.status == 429 or resp.status >= 500) and not last:
                delay = _retry_after(resp.headers.get("Retry-After"))
                release(resp)
                time.sleep(delay if delay is not None else self._backoff(attempt))
                continue
            return resp
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return float(min(self.options.retry_delay * (2**attempt), 30.0))

    def _fetch_token(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes]:
        hdrs = {"User-Agent": self.options.user_agent, **headers}
        resp = self._send_with_retries(method, url, hdrs, body, retry=True, what="fetching a token")
        try:
            return resp.status, read_limited(resp, 1 << 20)
        finally:
            release(resp)

    # -- errors ------------------------------------------------------------------------

    def connection_error(
        self, exc: Exception, method: str, url: str, what: str = ""
    ) -> TransportError:
        kind = (
            "timed out"
            if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc)
            else "failed"
        )
        if isinstance(exc, SSLError):
            return TransportError(
                f"{what or method}: TLS with registry {self.registry} failed: {_short(exc)}",
                hint="trust its CA in /etc/containers/certs.d/HOST:PORT/ca.crt (or --cert-dir), "
                "or use --tls-verify=false",
            )
        return TransportError(
            f"{what or method}: connection to registry {self.registry} ({urlsplit(url).netloc}) "
            f"{kind}: {_short(exc)}",
            retryable=True,
            hint="check that the registry is up and reachable, or retry later",
        )

    def _auth_error(self, status: int, what: str, resp: BaseHTTPResponse) -> AuthError:
        creds = self.auth.credentials
        used = f"credentials from {creds.origin}" if creds else "no credentials"
        detail = _error_detail(resp)
        return AuthError(
            f"{what}: registry {self.registry} refused access ({status}) with {used}"
            + (f": {detail[1]}" if detail[1] else ""),
            code=ErrorCode.UNAUTHORIZED,
            hint=self.hint,
        )

    def error_for(self, resp: BaseHTTPResponse, method: str, what: str) -> LaminaError:
        """Map an error response to NotFound / AuthError / RegistryError with its spec code."""
        status = resp.status
        code_text, message = _error_detail(resp)
        release(resp)
        code = ErrorCode(code_text) if code_text in ErrorCode.__members__ else None
        text = f"{what}: registry {self.registry} answered {status}"
        if code_text:
            text += f" {code_text}"
        if message:
            text += f": {message}"
        if status in (401, 403):
            creds = self.auth.credentials
            text += f" (using {f'credentials from {creds.origin}' if creds else 'no credentials'})"
            default = ErrorCode.UNAUTHORIZED if status == 401 else ErrorCode.DENIED
            return AuthError(text, code=code or default, hint=self.hint)
        if status == 404:
            return NotFound(text, code=code or ErrorCode.NOT_FOUND)
        if status == 429:
            return RegistryError(text, code=ErrorCode.TOOMANYREQUESTS, retryable=True)
        if status >= 500:
            return RegistryError(text, code=code, retryable=True, hint="retry later")
        return RegistryError(text, code=code or ErrorCode.TRANSPORT)

    def close(self) -> None:
        self._pool.clear()


def _replayable(body: Body) -> bool:
    return body is None or isinstance(body, bytes)


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


def _error_detail(resp: BaseHTTPResponse) -> tuple[str, str]:
    """(code, message) of a distribution-spec error body, or ("", "") if there is none."""
    try:
        data = resp.read(MAX_ERROR_BODY)
        obj = json.loads(data)
        first = obj["errors"][0]
        return str(first.get("code", "")), str(first.get("message", ""))[:300]
    except Exception:
        return "", ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # neither seconds nor an HTTP date: fall back to our own backoff
        seconds = parsed.timestamp() - time.time()
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"
