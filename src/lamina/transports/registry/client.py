"""One registry's HTTP client: scheme discovery, authentication, retries, error mapping.

`RegistryClient.request` sends one API call and returns the urllib3 response unread
(`preload_content=False`); the caller reads and releases it. Requests go through one
`Sender` (`connections.Connections`: urllib3's kept-alive pools, through the proxy the
environment names); a test may hand the client another. A client may be shared by threads.

It answers 401 challenges once, follows redirects (dropping Authorization when the host
changes), and retries with exponential backoff only what may succeed later: 429 (honouring
Retry-After), 5xx, connection resets and timeouts — never another 4xx, and never a request
whose body is a one-shot stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from lamina.errors import AuthError, ErrorCode, LaminaError, RegistryError, TransportError
from lamina.transports.registry.answers import (
    answer_error,
    connection_failure,
    error_detail,
    read_limited,
    release,
    retry_after,
)
from lamina.transports.registry.auth import Authenticator
from lamina.transports.registry.authfile import Credentials, credentials_hint, find_credentials
from lamina.transports.registry.connections import Body, Connections, Sender, SendFailed
from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.tls import is_loopback

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def api_host(registry: str) -> str:
    """The host that serves `registry`'s API (Docker Hub's differs from its name)."""
    return DOCKER_HUB_API if registry == DOCKER_HUB else registry


class RegistryClient:
    """HTTP access to one registry, with credentials for `repository` (namespaced auth).
    `sender` replaces the connections requests go through (`Connections` by default)."""

    def __init__(
        self,
        registry: str,
        options: RegistryOptions,
        repository: str | None = None,
        *,
        sender: Sender | None = None,
    ) -> None:
        self.registry = registry
        self.host = api_host(registry)
        self.options = options
        insecure = options.insecure or not options.tls_verify
        self.allow_http = insecure or is_loopback(self.host)
        self._verify = options.tls_verify and not options.insecure
        self._conns = sender or Connections(self.host, options, verify=self._verify)
        self._ping_lock = threading.Lock()
        self._pings_done = 0  # pings ended (counted under the lock)
        self._ping_error: LaminaError | None = None  # how the last one failed
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

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Body, what: str
    ) -> BaseHTTPResponse:
        """One request, no retries; a connection failure is a TransportError."""
        try:
            return self._conns.send(method, url, headers, body)
        except SendFailed as exc:
            raise self.connection_error(exc, method, url, what) from None

    # -- discovery ---------------------------------------------------------------------

    @property
    def base(self) -> str:
        """`https://host` or (for insecure/loopback hosts where TLS fails) `http://host`."""
        if self._base is None:
            done = self._pings_done
            with self._ping_lock:  # threads sharing a client ping once
                if self._base is None:
                    if self._pings_done != done and self._ping_error is not None:
                        # Another thread's ping (with its retries) ended while this one
                        # waited, and failed: its answer is this one's too.
                        raise self._ping_error
                    try:
                        self.ping()
                    except LaminaError as err:
                        self._ping_error = err
                        raise
                    finally:
                        self._pings_done += 1
        assert self._base is not None
        return self._base

    def ping(self) -> int:
        """GET /v2/ to choose the scheme and learn the auth challenge; returns the status."""
        schemes = ["https", "http"] if self.allow_http else ["https"]
        first_error: LaminaError | None = None
        for scheme in schemes:
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
            if scheme == "http" and first_error is not None and resp.status not in (200, 401, 407):
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

        Returns the response (body unread; the caller releases it) if its status is in
        `ok`; raises the mapped LaminaError otherwise. `what` names the operation for
        messages ("pulling manifest r:t").
        """
        base = self.base
        if path.startswith("/") and not path.startswith("//"):
            url, own = base + path, True  # (the common case, without parsing URLs)
        else:
            url = urljoin(base + "/", path)
            own = urlsplit(url).netloc == self.host
        ok_set = frozenset(ok)
        answered_challenge = False
        redirects = 0
        while True:
            hdrs = {"User-Agent": self.options.user_agent, **(headers or {})}
            if own:
                auth = self.auth.header(scopes)
                if auth:
                    hdrs["Authorization"] = auth
            resp = self._send_with_retries(method, url, hdrs, body, retry=retry, what=what)
            status = resp.status
            if status == 401 and not answered_challenge and own:
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
                own = urlsplit(url).netloc == self.host
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
                resp = self._send(method, url, headers, body, what)
            except TransportError as err:
                if last or not err.retryable:
                    raise
                time.sleep(self._backoff(attempt))
                continue
            if (resp.status == 429 or resp.status >= 500) and not last:
                delay = retry_after(resp.headers.get("Retry-After"))
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
        """The one-line error for a request that got no answer (`exc` says why)."""
        return connection_failure(self.registry, exc, method, url, what)

    def _auth_error(self, status: int, what: str, resp: BaseHTTPResponse) -> AuthError:
        creds = self.auth.credentials
        used = f"credentials from {creds.origin}" if creds else "no credentials"
        detail = error_detail(resp)
        return AuthError(
            f"{what}: registry {self.registry} refused access ({status}) with {used}"
            + (f": {detail[1]}" if detail[1] else ""),
            code=ErrorCode.UNAUTHORIZED,
            hint=self.hint,
        )

    def error_for(self, resp: BaseHTTPResponse, method: str, what: str) -> LaminaError:
        """Map an error response to NotFound / AuthError / RegistryError with its spec code."""
        creds = self.auth.credentials
        used = f"credentials from {creds.origin}" if creds else "no credentials"
        return answer_error(self.registry, resp, what, used=used, hint=self.hint)

    def close(self) -> None:
        self._conns.close()


def _replayable(body: Body) -> bool:
    return body is None or isinstance(body, bytes)
