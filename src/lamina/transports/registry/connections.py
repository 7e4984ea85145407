"""One registry client's connections: urllib3's kept-alive pools, direct or through the
proxy the environment names (`proxies`), with one TLS context built for the first https
request (a client that only speaks plain HTTP never loads CAs).

`Sender` is the seam the client sends through (tests may give it another); `send` raises
SendFailed for a request that got no answer, and the client maps it to a TransportError
and decides whether to retry.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, cast
from urllib.parse import unquote

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import InsecureRequestWarning, ProxyError, SSLError
from urllib3.response import BaseHTTPResponse
from urllib3.util import make_headers, parse_url

from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.proxies import proxy_for
from lamina.transports.registry.tls import ssl_context

# A request body: bytes (replayable), or pieces sent once (Content-Length set by the caller).
Body = bytes | Iterable[bytes] | Iterable[memoryview] | None
POOL_SIZE = 16  # kept-alive connections per host: a copy's blobs, a sync's checks


class SendFailed(Exception):
    """A request got no answer: `cause` is urllib3's error."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.tls = isinstance(cause, SSLError)
        self.timeout = "timeout" in type(cause).__name__.lower() or "timed out" in str(cause)
        self.proxy = isinstance(cause, ProxyError)  # (the proxy, or the tunnel through it)


class Sender(Protocol):
    """How a RegistryClient sends one request (no retries, no redirects)."""

    def send(self, method: str, url: str, headers: dict[str, str], body: Body) -> BaseHTTPResponse:
        """The answer, its body unread; SendFailed when there is none."""
        ...

    def close(self) -> None: ...


class Connections:
    """A Sender over urllib3 for the client of `host`: one pool manager per (proxy, scheme),
    the proxy chosen per request from `environ` (the process environment by default)."""

    def __init__(
        self,
        host: str,
        options: RegistryOptions,
        *,
        verify: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.host, self.options, self.verify = host, options, verify
        self.environ = os.environ if environ is None else environ
        self._context: ssl.SSLContext | None = None
        self._managers: dict[tuple[str | None, bool], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        if not verify:
            # The user chose not to verify this host: do not warn on every request.
            host_name = re.escape(host.rsplit(":", 1)[0].strip("[]"))
            warnings.filterwarnings(
                "ignore",
                message=f"Unverified HTTPS request is being made to host '{host_name}'",
                category=InsecureRequestWarning,
            )

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of every https connection to this client's hosts."""
        if self._context is None:
            self._context = ssl_context(
                self.host, tls_verify=self.verify, cert_dir=self.options.cert_dir
            )
        return self._context

    def send(self, method: str, url: str, headers: dict[str, str], body: Body) -> BaseHTTPResponse:
        try:
            return self._manager(url).urlopen(
                method,
                url,
                headers=headers,
                # urllib3 sends any bytes-like piece (its annotation says bytes | str).
                body=cast(Any, body),
                preload_content=False,
                redirect=False,
                retries=False,
            )
        except Urllib3Error as exc:
            raise SendFailed(exc) from None

    def _manager(self, url: str) -> urllib3.PoolManager:
        parsed = parse_url(url)
        scheme = parsed.scheme or "http"
        proxy = proxy_for(scheme, parsed.host or "", parsed.port, self.environ)
        key = (proxy, scheme == "https")
        manager = self._managers.get(key)
        if manager is not None:
            return manager
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                manager = self._new_manager(proxy, https=scheme == "https")
                self._managers[key] = manager
            return manager

    def _new_manager(self, proxy: str | None, *, https: bool) -> urllib3.PoolManager:
        kw: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": POOL_SIZE,
            "retries": False,
            "timeout": urllib3.Timeout(connect=self.options.timeout, read=self.options.timeout),
        }
        if https:
            kw["ssl_context"] = self.ssl_context()
        if proxy is None:
            return urllib3.PoolManager(**kw)
        # https:// goes through a CONNECT tunnel (TLS end to end), http:// is forwarded;
        # credentials in the proxy's URL are sent to the proxy alone.
        auth = parse_url(proxy).auth
        headers = make_headers(proxy_basic_auth=unquote(auth)) if auth else None
        return urllib3.ProxyManager(proxy, proxy_headers=headers, **kw)

    def close(self) -> None:
        with self._lock:
            managers, self._managers = list(self._managers.values()), {}
        for manager in managers:
            manager.clear()
