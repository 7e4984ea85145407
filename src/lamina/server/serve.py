"""Run the registry: bind with SO_REUSEPORT, optionally TLS, in one or N worker processes.

With `workers > 1` the parent forks N children before any event loop or database exists;
each binds its own SO_REUSEPORT socket and the kernel spreads connections. The parent only
forwards SIGTERM/SIGINT and waits; it exits when all children are gone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable

import uvloop
from aiohttp import web

from lamina.errors import InvalidInput
from lamina.server.app import create_app
from lamina.server.config import ServerConfig
from lamina.server.connections import (
    ConnectionLimit,
    LoopErrors,
    accept_burst,
    default_limit,
    max_lingering,
    raise_file_limit,
)
from lamina.server.observe import DRAIN, METRICS, http_logger, observer_for
from lamina.server.tokens import load_or_create_key

log = logging.getLogger("lamina.server")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def startup_warnings(config: ServerConfig) -> list[str]:
    """What the operator should know before the server listens."""
    out: list[str] = []
    if not _is_loopback(config.host) and config.htpasswd is None and config.token_access is None:
        out.append(
            f"listening on {config.addr} beyond loopback without authentication: anyone who "
            "can reach it may push and delete (set --htpasswd or --auth-token-access)"
        )
    if not _is_loopback(config.host) and not config.tls:
        out.append(f"listening on {config.addr} without TLS (set --tls-cert and --tls-key)")
    return out


def make_socket(config: ServerConfig) -> socket.socket:
    host, port = config.host, config.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    return ctx


async def _serve_one(config: ServerConfig, sock: socket.socket) -> None:
    app = create_app(config)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(LoopErrors())
    # The Observer feeds /metrics and the JSON access log after each response is sent.
    runner = web.AppRunner(
        app,
        access_log_class=observer_for(app),
        access_log=log,
        # aiohttp's own messages: a malformed request or a client gone is one line
        logger=http_logger(),
        # Closes a connection whose request head has not arrived this long after it
        # opened or its last response (aiohttp's keep-alive timer runs from both).
        keepalive_timeout=config.header_timeout,
        read_bufsize=4 << 20,
        # Bodies are stored as sent, whatever their Content-Encoding (as Distribution
        # does): a digest is of the bytes on the wire, and a body that is not the gzip it
        # claims is not an error of the server's.
        auto_decompress=False,
        shutdown_timeout=config.shutdown_timeout,
    )
    await runner.setup()
    assert runner.server is not None
    files = raise_file_limit()
    limit = config.max_connections or default_limit(files)
    # Listening without an aiohttp site: the factory admits up to `limit` connections to
    # aiohttp's server and refuses the rest, counting those in their TLS handshake (see
    # lamina.server.connections).
    metrics = app[METRICS]
    gate = ConnectionLimit(
        runner.server, limit, lingering=max_lingering(files), on_refuse=metrics.count_refused
    )
    server = runner.server
    metrics.open_connections = lambda: len(server.connections) + gate.handshaking
    tls = _ssl_context(config)
    listener = await loop.create_server(
        gate,
        sock=sock,
        backlog=accept_burst(files),
        ssl=tls,
        ssl_handshake_timeout=config.header_timeout if tls is not None else None,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
        # Graceful stop: no new connections, in-flight requests (uploads still receiving
        # their body included) finish for up to shutdown_timeout, then connections close.
        listener.close()
        if not await app[DRAIN].wait_idle(config.shutdown_timeout):
            log.warning("shutdown: requests still running after %ss", config.shutdown_timeout)
    finally:
        listener.close()
        await runner.cleanup()


LOOP_ENV = "LAMINA_SERVER_LOOP"  # "asyncio" or "uvloop": overrides `loop_factory`'s choice


def loop_factory(config: ServerConfig) -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop a worker runs on: uvloop (its TLS transport serves blobs; asyncio's
    could not keep up), unless `$LAMINA_SERVER_LOOP` says "asyncio", for the benchmarks'
    comparison only (there a client that connects and closes without a TLS handshake counts
    against http.maxconnections until asyncio notices, up to the header timeout)."""
    choice = os.environ.get(LOOP_ENV, "uvloop")
    if choice == "asyncio":
        return asyncio.new_event_loop
    if choice != "uvloop":
        raise InvalidInput(f"${LOOP_ENV}: expected asyncio or uvloop, got {choice!r}")
    return uvloop.new_event_loop


def _worker(config: ServerConfig, new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    sock = make_socket(config)
    with asyncio.Runner(loop_factory=new_loop) as runner:
        runner.run(_serve_one(config, sock))


def run(config: ServerConfig) -> None:
    """Serve until SIGTERM/SIGINT. Blocks."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    limit = config.max_connections or default_limit(raise_file_limit())  # (workers inherit it)
    new_loop = loop_factory(config)
    for w in startup_warnings(config):
        log.warning("warning: %s", w)
    config.storage.mkdir(parents=True, exist_ok=True)
    # Bind once in the parent so a bad address fails here, before forking.
    make_socket(config).close()
    if config.token_access is not None:  # one key for all workers, and a bad one fails here
        load_or_create_key(config.token_key or config.storage / "token-key.pem")
    scheme = "https" if config.tls else "http"
    log.info(
        "lamina registry on %s://%s, storage %s, up to %d connections per worker",
        scheme,
        config.addr,
        config.storage,
        limit,
    )
    if config.workers == 1:
        _worker(config, new_loop)
        return
    children: list[int] = []
    for _ in range(config.workers):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _worker(config, new_loop)
            except BaseException:
                log.exception("worker failed")
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    remaining = set(children)
    while remaining:
        try:
            pid, _ = os.wait()
        except ChildProcessError:
            break
        remaining.discard(pid)
        if remaining:
            forward(signal.SIGTERM, None)
