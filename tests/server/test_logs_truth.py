"""The access log, /metrics and the server log tell what happened: a client that aborts
its request is not a 500 (it is recorded as 499, nginx's "client closed request"), and a
malformed request is one log line, not an aiohttp traceback."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.client import Client
from tests.server.servers import Server, start_lamina


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start_lamina(tmp_path / "storage", "--access-log", str(tmp_path / "access.log"))
    yield s
    s.stop()


def _raw(server: Server, data: bytes, *, reset: bool, read: bool = False) -> bytes:
    host, port = server.host.split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    try:
        sock.sendall(data)
        if read:
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            return out
        time.sleep(0.2)  # the server has the head and is waiting for the rest of the body
        if reset:  # an abort: RST, as a killed client's kernel sends
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        sock.close()
    return b""


def _access(tmp: Path, count: int) -> list[dict[str, object]]:
    path = tmp / "access.log"
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def _head(server: Server, method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("reset", [True, False], ids=["reset", "close"])
def test_client_abort_is_not_a_500(server: Server, tmp_path: Path, reset: bool) -> None:
    client = Client(server.url)
    location = client.start_upload("abort/me")
    path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
    aborts = [
        _head(server, "PUT", "/v2/abort/me/manifests/v1", "Content-Length: 1000") + b"{",
        _head(server, "PATCH", path, "Content-Length: 1000") + b"x" * 10,
        _head(server, "PATCH", path, "Transfer-Encoding: chunked") + b"4\r\nabcd\r\n",
        _head(server, "PATCH", path, f"Content-Length: {4 << 20}") + b"y" * (2 << 20),
    ]
    for data in aborts:
        _raw(server, data, reset=reset)
    entries = _access(tmp_path, 2 + len(aborts))  # (and wait_ready's GET, the POST)
    entries = [e for e in entries if e["method"] in ("PUT", "PATCH")]
    assert len(entries) == len(aborts), entries
    statuses = [e["status"] for e in entries]
    assert 500 not in statuses, entries
    assert all(s in (400, 499) for s in statuses), entries
    metrics = client.request("GET", "/metrics").data.decode()
    assert 'status="500"' not in metrics, metrics
    log = server.log.read_text()
    assert "Traceback" not in log and "internal error" not in log, log[-3000:]


def test_malformed_request_is_one_log_line(server: Server) -> None:
    before = server.log.read_text().splitlines()
    bad = [
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Long: " + b"9" * 10_000 + b"\r\n\r\n",
        b"GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ]
    for data in bad:
        answer = _raw(server, data, reset=False, read=True)
        assert answer.split(b"\r\n")[0].endswith(b" 400 Bad Request"), answer[:200]
    time.sleep(0.3)
    new = server.log.read_text().splitlines()[len(before) :]
    assert len(new) == len(bad), new
    assert all("bad request" in line and "127.0.0.1" in line for line in new), new
