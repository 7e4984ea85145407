"""The registry client's connections: a urllib3 PoolManager that builds its TLS context
only for the first https pool, and sends each request straight to its host's pool."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterable
from typing import Any, cast

import urllib3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.response import BaseHTTPResponse

from lamina.transports.registry.lean import host_port, split_url
from lamina.transports.registry.splice import (
    SplicedBody,
    SplicingHTTPConnection,
    SplicingHTTPSConnection,
)

Body = bytes | Iterable[bytes] | Iterable[memoryview] | Iterable[SplicedBody] | None


class HostPools(urllib3.PoolManager):
    """A PoolManager that builds its SSL context on the first https pool (a client that only
    ever speaks plain HTTP never loads CAs), whose `send` goes straight to the pool of the
    URL's host, and whose connections also send SplicedBody pieces."""

    def __init__(self, make_context: Callable[[], ssl.SSLContext], **kw: Any) -> None:
        super().__init__(**kw)
        self._make_context = make_context
        self._context: ssl.SSLContext | None = None
        self._pools: dict[tuple[str, str], HTTPConnectionPool] = {}

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        if scheme == "https":
            if self._context is None:
                self._context = self._make_context()
            if request_context is None:
                request_context = self.connection_pool_kw.copy()
            request_context["ssl_context"] = self._context
        pool = super()._new_pool(scheme, host, port, request_context)
        https = scheme == "https"
        pool.ConnectionCls = SplicingHTTPSConnection if https else SplicingHTTPConnection
        return pool

    def send(self, method: str, url: str, headers: dict[str, str], body: Body) -> BaseHTTPResponse:
        """One request, through the host's connection pool found once (a PoolManager
        request parses and normalises the URL and the pool key on every call: a third
        of its cost for a small request). Unusual URLs take the PoolManager's path."""
        split = split_url(url)
        pool = self._pool_for(split[0], split[1]) if split is not None else None
        if pool is None or split is None:
            return self.request(
                method,
                url,
                headers=headers,
                # urllib3 sends any bytes-like piece (its annotation says bytes | str).
                body=cast(Any, body),
                preload_content=False,
                redirect=False,
                retries=False,
            )
        return pool.urlopen(
            method,
            split[2],
            headers=headers,
            body=cast(Any, body),
            preload_content=False,
            redirect=False,
            retries=False,
            assert_same_host=False,
        )

    def _pool_for(self, scheme: str, netloc: str) -> HTTPConnectionPool | None:
        pool = self._pools.get((scheme, netloc))
        if pool is not None and pool.pool is not None:  # (None: the manager closed it)
            return pool
        host, port = host_port(scheme, netloc)
        if not host:
            return None
        host = f"[{host}]" if ":" in host else host
        pool = self.connection_from_host(host, port=port, scheme=scheme)
        self._pools[(scheme, netloc)] = pool
        return pool

    def clear(self) -> None:
        self._pools.clear()
        super().clear()
