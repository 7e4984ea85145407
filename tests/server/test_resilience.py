"""Upload sessions across restarts, kill -9 and several workers; expiry; storage units."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import IntegrityError
from lamina.server.storage import SQLiteMetadata, UploadFiles
from tests.server.client import Client, sha256
from tests.server.servers import restart, start_lamina


def _patch(client: Client, location: str, data: bytes, start: int) -> str:
    r = client.request(
        "PATCH",
        location,
        data,
        {"Content-Range": f"{start}-{start + len(data) - 1}", "Content-Length": str(len(data))},
    )
    assert r.status == 202, r.data
    return str(r.headers["Location"])


def _blob_files(storage: Path) -> set[str]:
    return {p.name for p in (storage / "blobs").rglob("*") if p.is_file()}


@pytest.mark.slow
def test_kill_9_during_upload_then_resume_after_restart(tmp_path: Path) -> None:
    """kill -9 in the middle of a 200 MB push, 20 times (LAMINA_KILL9_ROUNDS/_MB to change)."""
    storage = tmp_path / "storage"
    rounds = int(os.environ.get("LAMINA_KILL9_ROUNDS", "20"))
    size = int(os.environ.get("LAMINA_KILL9_MB", "200")) << 20
    base = bytearray(os.urandom(size))
    server = start_lamina(storage)
    try:
        for iteration in range(rounds):
            base[:8] = iteration.to_bytes(8, "big")  # a different blob every round
            data = bytes(base)
            half = len(data) // 2
            client = Client(server.url)
            location = _patch(client, client.start_upload(f"fault/r{iteration}"), data[:half], 0)
            # Send part of the second chunk on a raw socket, then kill the server mid-body.
            host, port = server.host.split(":")
            with socket.create_connection((host, int(port))) as sock:
                path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
                sock.sendall(
                    f"PATCH {path} HTTP/1.1\r\nHost: {server.host}\r\n"
                    f"Content-Range: {half}-{len(data) - 1}\r\n"
                    f"Content-Length: {len(data) - half}\r\n\r\n".encode()
                )
                sock.sendall(data[half : half + (5 << 20)])
                time.sleep(0.2)
                server.stop(signal.SIGKILL)
            assert Digest.parse(sha256(data)).hex not in _blob_files(storage)
            server = restart(server)
            client = Client(server.url)
            status = client.request("GET", location)
            assert status.status == 204
            assert status.headers["Range"] == f"0-{half - 1}"
            location = _patch(client, location, data[half:], half)
            r = client.request("PUT", location, digest=sha256(data))
            assert r.status == 201, r.data
            got = client.request("GET", f"/v2/fault/r{iteration}/blobs/{sha256(data)}")
            assert hashlib.sha256(got.data).hexdigest() == Digest.parse(sha256(data)).hex
    finally:
        server.stop()


def test_upload_sessions_expire(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage", "--upload-expiry", "0.5")
    try:
        client = Client(server.url)
        location = client.start_upload("expire/me")
        assert client.request("GET", location).status == 204
        time.sleep(0.8)
        r = client.request("GET", location)
        assert r.status == 404
        assert not any((tmp_path / "storage" / "uploads").iterdir())
    finally:
        server.stop()


@pytest.mark.slow
def test_chunks_spread_over_workers(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage", "--workers", "3")
    try:
        data = os.urandom(4 << 20)
        step = 128 << 10
        client = Client(server.url)
        location = client.start_upload("workers/r")
        for start in range(0, len(data), step):
            client = Client(server.url)  # a new connection: the kernel picks a worker
            location = _patch(client, location, data[start : start + step], start)
        r = client.request("PUT", location, digest=sha256(data))
        assert r.status == 201, r.data
        assert client.request("GET", f"/v2/workers/r/blobs/{sha256(data)}").data == data
    finally:
        server.stop()


def test_resumable_hash_is_correct_when_another_process_continues(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    meta = SQLiteMetadata(tmp_path / "metadata.db")
    worker_a, worker_b = UploadFiles(blobs, tmp_path), UploadFiles(blobs, tmp_path)
    meta.create_upload("u1", "r", time.time())
    worker_a.create("u1")
    parts = [os.urandom(300_000) for _ in range(4)]
    offset = 0
    for i, part in enumerate(parts):
        files = worker_a if i % 2 == 0 else worker_b
        appender = files.open_append("u1", offset)
        appender.write(part)
        appender.close()
        assert meta.advance_upload("u1", offset, appender.offset, time.time())
        files.committed("u1", appender)
        offset = appender.offset
    # A tail written by a killed worker (not committed) is cut off on the next append.
    with open(worker_a.path("u1"), "ab") as f:
        f.write(b"garbage")
    whole = b"".join(parts)
    with pytest.raises(IntegrityError):
        worker_b.finish("u1", offset, Digest.of_bytes(whole + b"garbage"))
    worker_a.finish("u1", offset, Digest.of_bytes(whole))
    assert blobs.read_bytes(Digest.of_bytes(whole)) == whole
    assert not worker_a.path("u1").exists()
    meta.close()


def test_sqlite_metadata_iterates_for_gc(tmp_path: Path) -> None:
    meta = SQLiteMetadata(tmp_path / "m.db")
    d = Digest.of_bytes(b"x")
    meta.link_blob("a/b", d)
    meta.link_blob("c", d)
    assert list(meta.iter_blob_links()) == [("a/b", d), ("c", d)]
    assert meta.repositories() == ["a/b", "c"]
    assert meta.repositories("a/b", 5) == ["c"]
    assert meta.unlink_blob("c", d) and not meta.is_linked("c", d)
    meta.close()


def _open_metadata(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    try:
        SQLiteMetadata(path).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which shows it
        results.put(repr(exc))


def test_workers_opening_a_new_database_at_once(tmp_path: Path) -> None:
    """`--workers N` on fresh storage: every worker switches the new database to WAL at the
    same moment; none may fail with "database is locked" (it did, now and then)."""
    ctx = multiprocessing.get_context("fork")
    for trial in range(30):
        path = str(tmp_path / f"m{trial}.db")
        barrier, results = ctx.Barrier(6), ctx.Queue()
        procs = [
            ctx.Process(target=_open_metadata, args=(path, barrier, results)) for _ in range(6)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [results.get(timeout=5) for _ in procs] == ["ok"] * 6
