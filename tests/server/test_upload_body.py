"""Upload bodies through aiohttp's request stream (`lamina.server.body`), with a length and
with chunked transfer encoding: right bytes, digest checked, nothing partial visible, the
connection reused, the byte counters right."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.errors import IntegrityError
from lamina.server.storage.appender import READBACK, Appender, HashState, hash_prefix
from tests.server.client import Client, sha256
from tests.server.servers import Server, start_lamina

# More than aiohttp buffers ahead (2 x read_bufsize = 8 MiB) and than a hashing batch, not a
# whole number of either.
SIZE = (10 << 20) + 12345


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = start_lamina(tmp_path_factory.mktemp("body") / "storage")
    yield s
    s.stop()


def _blob_files(storage: Path) -> set[str]:
    return {p.name for p in (storage / "blobs").rglob("*") if p.is_file()}


def _raw(server: Server, head: str, body: bytes, *, shut: bool = False) -> bytes:
    """Send a request on its own connection; return everything the server answers."""
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        if shut:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_put_stores_the_blob_and_keeps_the_connection(server: Server) -> None:
    data = os.urandom(SIZE)
    client = Client(server.url)
    location = client.start_upload("body/put")
    r = client.request("PUT", location, data, digest=sha256(data))
    assert r.status == 201, r.data
    assert r.headers.get("Connection", "").lower() != "close"
    r = client.request("GET", f"/v2/body/put/blobs/{sha256(data)}")
    assert r.status == 200 and r.data == data


def test_patch_then_put_continues_the_hash(server: Server) -> None:
    data = os.urandom(2 * SIZE)
    client = Client(server.url)
    location = client.start_upload("body/patch")
    r = client.request("PATCH", location, data[:SIZE], {"Content-Range": f"0-{SIZE - 1}"})
    assert r.status == 202 and r.headers["Range"] == f"0-{SIZE - 1}"
    r = client.request("PUT", str(r.headers["Location"]), data[SIZE:], digest=sha256(data))
    assert r.status == 201, r.data
    assert client.request("GET", f"/v2/body/patch/blobs/{sha256(data)}").data == data


def test_body_cut_short_commits_nothing(server: Server) -> None:
    data = os.urandom(SIZE)
    client = Client(server.url)
    location = client.start_upload("body/short")
    answer = _raw(
        server,
        f"PATCH {location} HTTP/1.1\r\nHost: {server.host}\r\nContent-Length: {SIZE}\r\n\r\n",
        data[: SIZE // 2],
        shut=True,
    )
    # (the client closed its side: the event loop closes the connection, no answer)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:300]
    r = client.request("GET", location)
    assert r.status == 204 and r.headers["Range"] == "0-0"  # nothing committed
    r = client.request("PUT", location, data, digest=sha256(data))  # the session still works
    assert r.status == 201, r.data


def test_monolithic_post_checks_the_digest_and_leaves_nothing(server: Server) -> None:
    data = os.urandom(SIZE)
    client = Client(server.url)
    wrong = sha256(data[:-1])
    r = client.request("POST", "/v2/body/mono/blobs/uploads/", data, digest=wrong)
    assert r.status == 400 and b"DIGEST_INVALID" in r.data
    assert Digest.parse(wrong).hex not in _blob_files(server.storage)
    assert not list((server.storage / "ingest").iterdir())
    r = client.request("POST", "/v2/body/mono/blobs/uploads/", data, digest=sha256(data))
    assert r.status == 201, r.data
    assert client.request("GET", f"/v2/body/mono/blobs/{sha256(data)}").data == data
    assert not list((server.storage / "ingest").iterdir())


def test_chunked_transfer_encoding_is_streamed(server: Server) -> None:
    data = os.urandom(SIZE)
    client = Client(server.url)
    location = client.start_upload("body/chunked")
    parts = (data[i : i + 100_000] for i in range(0, SIZE, 100_000))
    r = client.pool.request(
        "PUT",
        client.url(location) + f"&digest={sha256(data)}".replace("&", "?", "?" not in location),
        body=parts,
        chunked=True,
        redirect=False,
    )
    assert r.status == 201, r.data
    assert r.headers.get("Connection", "").lower() != "close"  # parsed by aiohttp: reusable
    assert client.request("GET", f"/v2/body/chunked/blobs/{sha256(data)}").data == data


def test_metrics_count_body_bytes(server: Server) -> None:
    def received() -> int:
        text = Client(server.url).request("GET", "/metrics").data.decode()
        for line in text.splitlines():
            if line.startswith('lamina_registry_received_bytes_total{route="uploads"}'):
                return int(line.split()[-1])
        return 0

    before = received()
    data = os.urandom(SIZE)
    client = Client(server.url)
    r = client.request("PUT", client.start_upload("body/metrics"), data, digest=sha256(data))
    assert r.status == 201
    assert received() - before == SIZE


def test_many_chunks_then_put_at_once(server: Server) -> None:
    """Each PATCH is answered before its hash is done; the PUT right after must still see
    every byte hashed exactly once, in order (a wrong digest first, then the right one)."""
    data = os.urandom(5 * SIZE)
    client = Client(server.url)
    location = client.start_upload("body/many")
    for start in range(0, len(data), SIZE):
        part = data[start : start + SIZE]
        r = client.request(
            "PATCH", location, part, {"Content-Range": f"{start}-{start + len(part) - 1}"}
        )
        assert r.status == 202, r.data
        location = str(r.headers["Location"])
    r = client.request("PUT", location, digest=sha256(data[:-1]))
    assert r.status == 400 and b"DIGEST_INVALID" in r.data
    r = client.request("PUT", location, digest=sha256(data))
    assert r.status == 201, r.data
    assert client.request("GET", f"/v2/body/many/blobs/{sha256(data)}").data == data


def test_bodies_hash_in_offset_order_whatever_thread_comes_first(tmp_path: Path) -> None:
    """The second body's hashing, started first, waits for the first body's."""
    path = tmp_path / "upload"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        state = HashState(hashlib.sha256(), 0)
        first, second = Appender(fd, 0, state), Appender(fd, 3, state)
        first.store(b"abc")
        second.store(b"defg")

        def hash_second() -> None:
            second.hash(b"defg")
            second.hashed(True)

        later = threading.Thread(target=hash_second)
        later.start()
        later.join(0.2)
        assert later.is_alive() and state.hashed == 0  # waiting for the first body
        first.hash(b"abc")
        first.hashed(True)
        later.join(5)
        assert (
            state.wait_for(7) and state.hasher.hexdigest() == hashlib.sha256(b"abcdefg").hexdigest()
        )
    finally:
        os.close(fd)


def test_a_failed_body_breaks_the_state_for_the_bodies_after_it(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "upload", os.O_RDWR | os.O_CREAT)
    try:
        state = HashState(hashlib.sha256(), 0)
        first, second = Appender(fd, 0, state), Appender(fd, 3, state)
        first.hashed(False)
        second.write(b"xyz")
        assert state.broken and not state.wait_for(6) and not second.hashing_over()
    finally:
        os.close(fd)


def test_hash_prefix_reads_back_the_first_bytes_only(tmp_path: Path) -> None:
    """Re-hashing an upload from its file (no cached hash): the first `length` bytes, read
    in pieces (`READBACK`), with a clear error if the file is shorter."""
    data = os.urandom(2 * READBACK + 123)
    fd = os.open(tmp_path / "upload", os.O_RDWR | os.O_CREAT)
    try:
        os.write(fd, data)
        for length in (0, 1, READBACK, len(data) - 1):
            got = hash_prefix(fd, length, "sha512").hexdigest()
            assert got == hashlib.sha512(data[:length]).hexdigest(), length
        with pytest.raises(IntegrityError, match="ends at"):
            hash_prefix(fd, len(data) + 1, "sha256")
    finally:
        os.close(fd)
