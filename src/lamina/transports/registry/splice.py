"""Forwarding a blob from one registry to another without copying it through Python.

A registry → registry copy on plain HTTP moves each blob from the source's response socket
into the destination's request socket with splice(2), through a pipe: the pages move inside
the kernel (measured on loopback, 1 GB in 5 layers: client system time 0.40 -> 0.12 s, the
two copies to and from user space were 40% of the client's CPU). Nothing is hashed on the
way (the destination registry checks the digest at the closing PUT, see destination.py).

`SplicedBody` is one piece of a request body; the connections of the registry client's
pools (`SplicingHTTPConnection`, `SplicingHTTPSConnection`) send it by asking the source
reader to fill the pipe and splicing the pipe into their socket (a TLS socket gets the bytes
through a buffer instead). Timeouts are the sockets' own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import ssl
from collections.abc import Callable
from typing import Any, Protocol

from urllib3.connection import HTTPConnection, HTTPSConnection

from lamina.errors import IntegrityError

PIPE_SIZE = 1 << 20  # the unprivileged maximum (fs.pipe-max-size); fewer, larger splices
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
AVAILABLE = hasattr(os, "splice")


class PipeFiller(Protocol):
    def splice_into(self, pipe: int, n: int) -> int:
        """Put up to `n` bytes into the pipe `pipe` (an empty pipe's write end); 0 at EOF."""
        ...


class SplicedBody:
    """`size` bytes of a request body, taken from `source` when the connection sends it.
    `moved(n)` is told of each batch sent. A short source raises IntegrityError (`what`)."""

    def __init__(
        self,
        source: PipeFiller,
        size: int,
        what: str,
        moved: Callable[[int], object] | None = None,
    ) -> None:
        self.source, self.size, self.what, self.moved = source, size, what, moved
        self.sent = 0

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def send_to(self, sock: socket.socket) -> None:
        """Send every byte to `sock` (once: the source is a stream)."""
        if self.sent:
            raise RuntimeError("a spliced body cannot be sent twice")
        read_fd, write_fd = os.pipe()
        try:
            with contextlib.suppress(OSError):  # the default 64 KiB pipe works, just slower
                fcntl.fcntl(write_fd, _F_SETPIPE_SZ, PIPE_SIZE)
            plain = not isinstance(sock, ssl.SSLSocket)
            buf = bytearray(0 if plain else PIPE_SIZE)
            while self.sent < self.size:
                want = min(self.size - self.sent, PIPE_SIZE)
                n = self.source.splice_into(write_fd, want)
                if not n:
                    raise IntegrityError(
                        f"{self.what}: stream holds {self.sent} bytes, expected {self.size}"
                    )
                if plain:
                    _drain_into(read_fd, sock, n)
                else:
                    _copy_into(read_fd, sock, n, buf)
                self.sent += n
                if self.moved is not None:
                    self.moved(n)
        finally:
            os.close(read_fd)
            os.close(write_fd)


def _drain_into(pipe: int, sock: socket.socket, n: int) -> None:
    """Splice `n` bytes from the pipe into `sock`, waiting (up to its timeout) when full."""
    fd = sock.fileno()
    timeout = sock.gettimeout()
    while n:
        try:
            k = os.splice(pipe, fd, n)
        except BlockingIOError:
            _wait(fd, select.POLLOUT, timeout)
            continue
        n -= k


def _copy_into(pipe: int, sock: socket.socket, n: int, buf: bytearray) -> None:
    view = memoryview(buf)
    while n:
        k = os.readv(pipe, [view[: min(n, len(view))]])
        sock.sendall(view[:k])
        n -= k


def _wait(fd: int, event: int, timeout: float | None) -> None:
    poller = select.poll()
    poller.register(fd, event)
    if not poller.poll(None if timeout is None else timeout * 1000):
        raise TimeoutError("timed out")


def splice_from_socket(sock: socket.socket, pipe: int, n: int) -> int:
    """Splice up to `n` bytes from `sock` into the empty pipe `pipe`, waiting (up to the
    socket's timeout) for data; 0 at EOF."""
    fd = sock.fileno()
    timeout = sock.gettimeout()
    while True:
        try:
            return os.splice(fd, pipe, n)
        except BlockingIOError:
            _wait(fd, select.POLLIN, timeout)


def write_all(pipe: int, data: bytes | bytearray | memoryview) -> None:
    """Put `data` (at most the pipe's capacity) into the empty pipe `pipe`."""
    view = memoryview(data)
    while view:
        view = view[os.write(pipe, view) :]


class _SplicedSend:
    """`send` for urllib3's connection classes that also takes a SplicedBody piece (mixed
    in before the connection class; `super()` is then that class)."""

    sock: Any

    def send(self, data: object) -> None:
        if isinstance(data, SplicedBody):
            if self.sock is None:
                self.connect()  # type: ignore[attr-defined]
            data.send_to(self.sock)
            return
        super().send(data)  # type: ignore[misc]


class SplicingHTTPConnection(_SplicedSend, HTTPConnection):
    """urllib3's HTTPConnection, which also sends a SplicedBody piece."""


class SplicingHTTPSConnection(_SplicedSend, HTTPSConnection):
    """urllib3's HTTPSConnection, which also sends a SplicedBody piece (through a buffer)."""
