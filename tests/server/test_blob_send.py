"""Blob GETs sent by a blocking sendfile in a thread (`lamina.server.sendfile`): the right
bytes and headers, the connection still usable afterwards, a client that stops reading or
hangs up mid-body does not hurt the next request, conditional and range GETs still answered
by FileResponse."""

from __future__ import annotations

import os
import socket

import pytest

from tests.server.client import Client, sha256
from tests.server.servers import Server

SIZE = (24 << 20) + 4321  # more than the socket buffers hold, not a whole number of pages


@pytest.fixture(scope="module")
def server(lamina_server: Server) -> Server:
    return lamina_server  # the session's registry (conftest); repository send/blob is this module's


@pytest.fixture(scope="module")
def blob(server: Server) -> tuple[bytes, str]:
    data = os.urandom(SIZE)
    client = Client(server.url)
    r = client.request("POST", "/v2/send/blob/blobs/uploads/", data, digest=sha256(data))
    assert r.status == 201, r.data
    return data, sha256(data)


def _read_response(sock: socket.socket, rest: bytes = b"") -> tuple[bytes, bytes, bytes]:
    """One response with a Content-Length body: (head, body, bytes after it)."""
    while b"\r\n\r\n" not in rest:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the headers"
        rest += chunk
    head, rest = rest.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(rest) < length:
        chunk = sock.recv(1 << 20)
        assert chunk, f"connection closed after {len(rest)} of {length} body bytes"
        rest += chunk
    return head, rest[:length], rest[length:]


def test_get_sends_the_blob_with_the_head_validators(
    server: Server, blob: tuple[bytes, str]
) -> None:
    data, digest = blob
    client = Client(server.url)
    # HEAD first: it vouches for the blob (a fresh mtime, so a fresh ETag); GET does not.
    head = client.request("HEAD", f"/v2/send/blob/blobs/{digest}")
    got = client.request("GET", f"/v2/send/blob/blobs/{digest}")
    assert got.status == 200 and got.data == data
    for name in ("Content-Length", "Docker-Content-Digest", "ETag", "Last-Modified"):
        assert got.headers[name] == head.headers[name], name
    assert got.headers["Accept-Ranges"] == "bytes"
    assert got.headers["Content-Type"] == "application/octet-stream"


def test_connection_is_reused_after_a_sent_blob(server: Server, blob: tuple[bytes, str]) -> None:
    """Two GETs pipelined on one connection, then a third: all answered in order."""
    data, digest = blob
    host, port = server.host.split(":")
    request = f"GET /v2/send/blob/blobs/{digest} HTTP/1.1\r\nHost: {server.host}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode() * 2)
        head, body, rest = _read_response(sock)
        assert head.startswith(b"HTTP/1.1 200") and body == data
        head, body, rest = _read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 200") and body == data
        sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        head, _, _ = _read_response(sock, rest)
        assert head.startswith(b"HTTP/1.1 200")


def test_client_hanging_up_mid_body_leaves_the_server_well(
    server: Server, blob: tuple[bytes, str]
) -> None:
    data, digest = blob
    host, port = server.host.split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(f"GET /v2/send/blob/blobs/{digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert sock.recv(1 << 16)  # some of it, then hang up with the rest unread
    got = Client(server.url).request("GET", f"/v2/send/blob/blobs/{digest}")
    assert got.status == 200 and got.data == data


def test_range_and_conditional_gets_still_work(server: Server, blob: tuple[bytes, str]) -> None:
    data, digest = blob
    client = Client(server.url)
    url = f"/v2/send/blob/blobs/{digest}"
    part = client.request("GET", url, headers={"Range": f"bytes={SIZE - 10}-"})
    assert part.status == 206 and part.data == data[-10:]
    etag = client.request("HEAD", url).headers["ETag"]
    again = client.request("GET", url, headers={"If-None-Match": etag})
    assert again.status == 304 and again.data == b""
