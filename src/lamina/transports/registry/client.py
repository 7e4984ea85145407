"""One registry's HTTP client: scheme discovery, authentication, retries, error mapping.

`RegistryClient.request` sends one API call and returns the urllib3 response unread
(`preload_content=False`); the caller reads and releases it. A request whose caller says
its answer is small (manifests, tag lists, pings, HEADs) goes through `lean` instead and
comes back read whole; urllib3 is imported only when a request needs it.

It answers 401 challenges once, follows redirects (dropping Authorization when the host
changes), and retries with exponential backoff only what may succeed later: 429 (honouring
Retry-After), 5xx, connection resets and timeouts — never another 4xx, and never a request
whose body is a one-shot stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal, overload
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
from lamina.transports.registry.connections import Connections, SendFailed
from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.tls import cert_dirs_for, is_loopback

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from lamina.transports.registry.connections import Answer
    from lamina.transports.registry.pools import Body

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MAX_REDIRECTS = 5
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
        self._conns = Connections(self.host, options, verify=self._verify)
        self._ping_lock = threading.Lock()
        self._pings_done = 0  # pings ended (counted under the lock)
        self._ping_error: LaminaError | None = None  # how the last one failed
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

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: Body, small: bool, what: str
    ) -> Answer:
        """One request, no retries; a connection failure is a TransportError."""
        try:
            return self._conns.send(method, url, headers, body, small=small, base=self._base)
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
                    small=True,
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
        try:
            self._conns.probe_tls()
        except SendFailed as exc:
            raise self.connection_error(
                exc, "GET", f"https://{self.host}/v2/", f"checking registry {self.registry}"
            ) from None

    # -- requests ----------------------------------------------------------------------

    @overload
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
        small: Literal[False] = False,
    ) -> BaseHTTPResponse: ...

    @overload
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
        small: bool,
    ) -> Answer: ...

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
        small: bool = False,
    ) -> Answer:
        """Send one API call (`path` relative to the base, or an absolute URL).

        Returns the response if its status is in `ok`; raises the mapped LaminaError otherwise.
        `what` names the operation for messages ("pulling manifest r:t"). `small` says the
        caller reads the whole answer and it is small (a manifest, a tag list): it is then
        read before it is returned, on a lean connection (pools.HostPools.send).
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
            resp = self._send_with_retries(
                method, url, hdrs, body, retry=retry, what=what, small=small
            )
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

    def request_all(
        self,
        method: str,
        calls: Sequence[tuple[str, list[str], str]],
        *,
        headers: dict[str, str] | None = None,
        ok: Iterable[int] = (200,),
    ) -> list[Answer | LaminaError]:
        """Many small bodiless calls (path, scopes, what) to this registry, pipelined on one
        kept-alive connection (`lean`); for each, its answer or the LaminaError it ended in.

        An answer whose status is not in `ok` (a challenge, a redirect, an error, 429 or
        5xx), and every call when the pipeline fails, is made again alone through
        `request`, which answers challenges, follows redirects, retries and maps errors."""
        ok_set = frozenset(ok)
        answers: list[Answer | None] = [None] * len(calls)
        try:
            base = self.base  # (the registry is down, or refuses us: every call's answer)
            common = {"User-Agent": self.options.user_agent, **(headers or {})}
            requests = []
            for path, scopes, _ in calls:
                hdrs = dict(common)
                auth = self.auth.header(scopes)
                if auth:
                    hdrs["Authorization"] = auth
                requests.append((method, path, hdrs, base + path))
        except LaminaError as err:
            return [err] * len(calls)
        try:
            answers = list(self._conns.send_all(requests, base=base))
        except (SendFailed, LaminaError):
            pass  # each call is made alone below (with retries), and says what went wrong
        results: list[Answer | LaminaError] = []
        for (path, scopes, what), answer in zip(calls, answers, strict=True):
            if answer is not None and answer.status in ok_set:
                results.append(answer)
                continue
            if answer is not None:
                release(answer)
            try:
                results.append(
                    self.request(
                        method, path, scopes=scopes, what=what, headers=headers, ok=ok, small=True
                    )
                )
            except LaminaError as err:
                results.append(err)
        return results

    def _send_with_retries(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        retry: bool,
        what: str = "",
        small: bool = False,
    ) -> Answer:
        attempts = 1 + (self.options.retry_times if retry and _replayable(body) else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                resp = self._send(method, url, headers, body, small, what)
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
        resp = self._send_with_retries(
            method, url, hdrs, body, retry=True, what="fetching a token", small=True
        )
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

    def _auth_error(self, status: int, what: str, resp: Answer) -> AuthError:
        creds = self.auth.credentials
        used = f"credentials from {creds.origin}" if creds else "no credentials"
        detail = error_detail(resp)
        return AuthError(
            f"{what}: registry {self.registry} refused access ({status}) with {used}"
            + (f": {detail[1]}" if detail[1] else ""),
            code=ErrorCode.UNAUTHORIZED,
            hint=self.hint,
        )

    def error_for(self, resp: Answer, method: str, what: str) -> LaminaError:
        """Map an error response to NotFound / AuthError / RegistryError with its spec code."""
        creds = self.auth.credentials
        used = f"credentials from {creds.origin}" if creds else "no credentials"
        return answer_error(self.registry, resp, what, used=used, hint=self.hint)

    def close(self) -> None:
        self._conns.close()


def _replayable(body: Body) -> bool:
    return body is None or isinstance(body, bytes)
