"""One registry client's sockets: lean pools for small requests (`lean`), urllib3's pools
for the rest (made, and urllib3 imported, for the first request that needs them: one with
a body, or an answer read as a stream), and one TLS context for both.

`Connections.send` raises SendFailed for a request that got no answer; the client maps it
to a TransportError and decides whether to retry."""

from __future__ import annotations

import re
import ssl
import sys
import threading
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from lamina.transports.registry.lean import (
    LeanError,
    LeanPools,
    LeanResponse,
    LeanTimeout,
    LeanTLSError,
    Request,
    plain_target,
    probe_tls,
    split_url,
)
from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.tls import probe_context, ssl_context

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from lamina.transports.registry.pools import Body, HostPools

    # What a request returns: urllib3's response, or a small answer already read whole.
    Answer: TypeAlias = BaseHTTPResponse | LeanResponse


class SendFailed(Exception):
    """A request got no answer: `cause` is the lean or urllib3 error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.tls = isinstance(cause, LeanTLSError) or _is_urllib3_tls_error(cause)
        self.timeout = (
            isinstance(cause, LeanTimeout)
            or "timeout" in type(cause).__name__.lower()
            or "timed out" in str(cause)
        )


class Connections:
    """The sockets of a client of `host`."""

    def __init__(self, host: str, options: RegistryOptions, *, verify: bool) -> None:
        self.host, self.options, self.verify = host, options, verify
        self._context: ssl.SSLContext | None = None
        self._pools: HostPools | None = None
        self._lock = threading.Lock()
        self._lean = LeanPools(options.timeout, self.ssl_context)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of every connection, lean and urllib3's alike."""
        if self._context is None:
            self._context = ssl_context(
                self.host, tls_verify=self.verify, cert_dir=self.options.cert_dir
            )
        return self._context

    def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Body,
        *,
        small: bool,
        base: str | None,
    ) -> Answer:
        """One request to `url`; a small one (no body, an answer read whole) on a lean
        connection. `base` (`scheme://host`, when known) saves parsing the URL."""
        split = split_url(url, base) if small and body is None else None
        if split is not None:
            scheme, netloc, target = split
            lean = self._lean.pool_for(scheme, netloc)
            if lean is not None:
                try:
                    return lean.send(method, target, headers, url)
                except LeanError as exc:
                    raise SendFailed(exc) from None
        pools = self._urllib3()
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            return pools.send(method, url, headers, body)
        except Urllib3Error as exc:
            raise SendFailed(exc) from None

    def send_all(self, requests: Sequence[Request], *, base: str) -> Sequence[LeanResponse | None]:
        """Bodiless requests (method, path, headers, URL) to `base`, pipelined on one lean
        connection: their answers in order, or Nones when the paths need urllib3."""
        lean = self._lean.pool_for(base.partition(":")[0], self.host)
        if lean is None or not all(plain_target(path) for _, path, _, _ in requests):
            return [None] * len(requests)
        try:
            return lean.send_all(requests)
        except LeanError as exc:
            raise SendFailed(exc) from None

    def probe_tls(self) -> None:
        """One TLS handshake with the host that checks nothing (SendFailed if it fails)."""
        try:
            probe_tls(self.host, self.options.timeout, probe_context())
        except LeanError as exc:
            raise SendFailed(exc) from None

    def _urllib3(self) -> HostPools:
        with self._lock:
            if self._pools is None:
                import urllib3
                from urllib3.exceptions import InsecureRequestWarning

                from lamina.transports.registry.pools import HostPools

                if not self.verify:
                    # The user chose not to verify this host: do not warn on every request.
                    host_name = re.escape(self.host.rsplit(":", 1)[0].strip("[]"))
                    warnings.filterwarnings(
                        "ignore",
                        message=f"Unverified HTTPS request is being made to host '{host_name}'",
                        category=InsecureRequestWarning,
                    )
                timeout = urllib3.Timeout(connect=self.options.timeout, read=self.options.timeout)
                self._pools = HostPools(
                    self.ssl_context, num_pools=4, maxsize=16, retries=False, timeout=timeout
                )
            return self._pools

    def close(self) -> None:
        self._lean.close()
        if self._pools is not None:
            self._pools.clear()


def _is_urllib3_tls_error(exc: Exception) -> bool:
    module = sys.modules.get("urllib3.exceptions")
    return module is not None and isinstance(exc, module.SSLError)
