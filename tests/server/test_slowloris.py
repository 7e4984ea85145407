"""Slow and silent clients (loopback only, bounded: a few hundred sockets, a few seconds,
with the server's timeouts set short by its flags). Every silent connection is answered
or closed within its timeout, the server answers a normal request within 2 s afterwards,
and a connection limit answers 503 with Retry-After and one log line when full."""

from __future__ import annotations

import http.client
import os
import selectors
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import urllib3

from tests.server.client import Client
from tests.server.servers import Server, free_port, start_lamina, wait_ready

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
SLACK = 1.0  # scheduling on a loaded 2-core machine; the body check's slice is timeout/8


@dataclass
class Slow:
    kind: str
    sock: socket.socket
    quiet_since: float  # when it sent its last byte
    limit: float  # the timeout that applies
    ended: float | None = None
    answer: bytes = b""


def _connect(server: Server) -> socket.socket:
    host, port = server.host.split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _head(server: Server, method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _location(server: Server, repo: str) -> str:
    location = Client(server.url).start_upload(repo)
    return location if location.startswith("/") else "/" + location.split("/", 3)[3]


def _open(server: Server, kind: str) -> Slow:
    """One slow client of `kind`, having sent all it will send."""
    sock = _connect(server)
    limit = BODY_TIMEOUT
    if kind == "nothing":
        limit = HEADER_TIMEOUT
    elif kind == "partial-head":
        sock.sendall(f"GET /v2/ HTTP/1.1\r\nHost: {server.host}\r\nX-Slow: ".encode())
        limit = HEADER_TIMEOUT
    elif kind == "manifest-body":
        head = _head(
            server,
            "PUT",
            "/v2/slow/m/manifests/v1",
            "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "Content-Length: 500",
        )
        sock.sendall(head + b'{"schemaVersion": 2')
    elif kind == "small-body":
        path = _location(server, "slow/small")
        sock.sendall(_head(server, "PATCH", path, "Content-Length: 1000") + b"x" * 100)
    elif kind == "large-body":  # more than aiohttp buffers ahead
        path = _location(server, "slow/large")
        head = _head(server, "PATCH", path, f"Content-Length: {8 << 20}")
        sock.sendall(head + b"y" * (2 << 20))
    elif kind == "chunked-body":
        path = _location(server, "slow/chunked")
        head = _head(server, "PATCH", path, "Transfer-Encoding: chunked")
        sock.sendall(head + b"10\r\n" + b"z" * 16 + b"\r\n")
    else:
        raise AssertionError(kind)
    return Slow(kind=kind, sock=sock, quiet_since=time.monotonic(), limit=limit)


def _wait_all(slow: list[Slow], deadline: float) -> None:
    """Read each socket until the server closes it (or the deadline)."""
    sel = selectors.DefaultSelector()
    for s in slow:
        s.sock.setblocking(False)
        sel.register(s.sock, selectors.EVENT_READ, s)
    open_ = len(slow)
    while open_ and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.05):
            one: Slow = key.data
            try:
                data = one.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            if data:
                one.answer += data
                continue
            one.ended = time.monotonic()
            sel.unregister(one.sock)
            open_ -= 1
    sel.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _normal_request_within(server: Server, seconds: float) -> float:
    start = time.monotonic()
    r = urllib3.PoolManager(retries=False, timeout=seconds).request("GET", f"{server.url}/v2/")
    took = time.monotonic() - start
    assert r.status == 200, r.data
    return took


KINDS = ["nothing", "partial-head", "manifest-body", "small-body", "large-body", "chunked-body"]


def test_silent_clients_are_answered_or_closed_within_their_timeout(tmp_path: Path) -> None:
    server = start_lamina(
        tmp_path / "storage",
        "--header-timeout",
        str(HEADER_TIMEOUT),
        "--body-timeout",
        str(BODY_TIMEOUT),
    )
    slow: list[Slow] = []
    try:
        counts = {"nothing": 80, "partial-head": 80, "manifest-body": 20, "small-body": 20,
                  "large-body": 10, "chunked-body": 20}  # fmt: skip
        for kind in KINDS:
            slow += [_open(server, kind) for _ in range(counts[kind])]
        # The server still answers while they hang.
        assert _normal_request_within(server, 2.0) < 2.0
        _wait_all(slow, time.monotonic() + max(HEADER_TIMEOUT, BODY_TIMEOUT) + 5.0)
        late = [
            (s.kind, None if s.ended is None else round(s.ended - s.quiet_since, 2))
            for s in slow
            if s.ended is None or s.ended - s.quiet_since > s.limit + SLACK
        ]
        assert not late, late
        for s in slow:
            if s.kind in ("small-body", "large-body", "chunked-body"):
                assert _status(s.answer) == 400, (s.kind, s.answer[:300])
                assert b"BLOB_UPLOAD_INVALID" in s.answer, (s.kind, s.answer[:300])
            elif s.kind == "manifest-body":
                assert _status(s.answer) == 400, (s.kind, s.answer[:300])
            else:
                assert s.answer == b"", (s.kind, s.answer[:300])  # closed, nothing to say
        assert _normal_request_within(server, 2.0) < 2.0
    finally:
        for s in slow:
            s.sock.close()
        server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]


def test_connection_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage", "--max-connections", "20", "--header-timeout", "30")
    held: list[http.client.HTTPConnection] = []
    try:
        host, port = server.host.split(":")
        for _ in range(20):  # each admitted (answered) before the next: the limit is full
            conn = http.client.HTTPConnection(host, int(port), timeout=5)
            conn.request("GET", "/v2/")
            conn.getresponse().read()  # (kept alive: it stays one of the 20)
            held.append(conn)
        over = [_connect(server) for _ in range(30)]
        for sock in over:
            sock.sendall(_head(server, "GET", "/v2/"))
        for sock in over:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            assert _status(data) == 503, data[:300]
            head, _, body = data.partition(b"\r\n\r\n")
            assert b"\r\nRetry-After: " in head, head
            assert b'"code":"TOOMANYREQUESTS"' in body, body
        for conn in held:
            conn.close()
        held = []
        deadline = time.monotonic() + 2.0
        while True:  # the closed ones are noticed at once
            try:
                _normal_request_within(server, 2.0)
                break
            except AssertionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        metrics = Client(server.url).request("GET", "/metrics").data.decode()
        refused = [x for x in metrics.splitlines() if x.startswith("lamina_registry_connections_")]
        assert refused and int(refused[0].split()[-1]) >= 30, metrics
        assert "\nlamina_registry_connections " in metrics
    finally:
        for conn in held:
            conn.close()
        server.stop()
    log = server.log.read_text()
    assert log.count("connection limit") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_few_file_descriptors_give_503_not_an_accept_storm(tmp_path: Path) -> None:
    """With 256 file descriptors and no configured limit, 400 idle connections are not the
    end of the server: the default limit stays below the descriptor limit."""
    port = free_port()
    storage = tmp_path / "storage"
    log = tmp_path / "server.log"
    args = ["prlimit", "--nofile=256:256", sys.executable, "-m", "lamina.server", "serve",
            "--storage", str(storage), "--addr", f"127.0.0.1:{port}",
            "--header-timeout", "30"]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = Server(kind="lamina", host=f"127.0.0.1:{port}", proc=proc, storage=storage, log=log)
    wait_ready(server)
    held: list[socket.socket] = []
    try:
        for _ in range(400):
            held.append(_connect(server))
        time.sleep(0.5)
        r = urllib3.PoolManager(retries=False, timeout=2.0).request("GET", f"{server.url}/v2/")
        assert r.status == 503 and "Retry-After" in r.headers, (r.status, r.data)
        for sock in held:
            sock.close()
        held = []
        time.sleep(0.3)
        assert _normal_request_within(server, 2.0) < 2.0
    finally:
        for sock in held:
            sock.close()
        server.stop()
    text = log.read_text()
    assert "Traceback" not in text and len(text) < 10_000, text[-3000:]


def test_a_blob_reader_that_takes_nothing_is_given_up(tmp_path: Path) -> None:
    """A whole-blob GET is sent by a thread (sendfile); a client that stops reading is
    dropped after the body timeout, not after 120 s (or two of them)."""
    server = start_lamina(tmp_path / "storage", "--body-timeout", str(BODY_TIMEOUT))
    try:
        blob = os.urandom(1 << 20) * 64  # 64 MiB: far more than the socket buffers hold
        digest = Client(server.url).push_blob("slow/reader", blob)
        sock = _connect(server)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        sock.sendall(_head(server, "GET", f"/v2/slow/reader/blobs/{digest}"))
        time.sleep(BODY_TIMEOUT + SLACK + 1.0)  # reading nothing
        got = 0
        sock.settimeout(5.0)
        try:
            while chunk := sock.recv(1 << 20):
                got += len(chunk)
        except ConnectionResetError:
            pass
        sock.close()
        assert got < len(blob), got  # the server gave up before the end
        assert _normal_request_within(server, 2.0) < 2.0
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


def test_connection_limit_over_tls(tmp_path: Path) -> None:
    """Over TLS the refusal comes after the handshake, so the client can read it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = start_lamina(
        tmp_path / "storage", "--tls-cert", str(cert), "--tls-key", str(key),
        "--max-connections", "3", "--header-timeout", "30", ca=cert,
    )  # fmt: skip
    held: list[socket.socket] = []
    try:
        held = [_connect(server) for _ in range(3)]
        time.sleep(0.3)
        pool = urllib3.PoolManager(
            retries=False, timeout=5.0, ssl_context=ssl.create_default_context(cafile=str(cert))
        )
        r = pool.request("GET", f"{server.url}/v2/")
        assert r.status == 503, r.data
        assert r.headers["Retry-After"] == "1"
        assert b"TOOMANYREQUESTS" in r.data
        for sock in held:
            sock.close()
        held = []
        deadline = time.monotonic() + 2.0
        while (r := pool.request("GET", f"{server.url}/v2/")).status != 200:
            assert time.monotonic() < deadline, r.status
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
        server.stop()
