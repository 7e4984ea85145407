"""Requests racing on one upload session (issue 12, defects 1 and 2), against live servers:
one worker, two workers, HTTP Basic auth and token auth.

- Overwrite attempt: in a repository of their own, an attacker holds a chunked PATCH open
  (its last chunk not sent), PATCHes the real bytes of a victim's blob on a second
  connection, finishes the first and completes with the victim's digest. Whatever the
  answers, the victim's blob must still verify in the victim's repository.
- A storm of concurrent PATCHes and PUTs on shared sessions: never a 5xx, every stored blob
  file re-hashes to its name, every 201 serves its digest's bytes.
- A stored blob is never replaced by another upload of the same digest.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3

from tests.server.client import Client, sha256
from tests.server.servers import Server, start_lamina
from tests.server.test_token_auth import get_token

KINDS = ["1-worker", "2-workers", "basic-auth", "token-auth"]
TARGET_SIZE = 3 << 20  # over the direct-body threshold: the PATCH is read off the socket


class HeaderClient(Client):
    """A Client sending fixed headers (credentials) with every request."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        super().__init__(base)
        self.headers = headers

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, **kw: Any,
    ) -> urllib3.BaseHTTPResponse:  # fmt: skip
        return super().request(method, path, body, {**(headers or {}), **self.headers}, **kw)


@dataclass
class Setup:
    server: Server
    victim: HeaderClient  # may push and pull private/**
    attacker: HeaderClient  # may push and pull team/** only (token auth)
    attacker_headers: dict[str, str]


def _htpasswd(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        subprocess.run(
            ["htpasswd", "-Bbn", user, pw], capture_output=True, text=True, check=True
        ).stdout.strip()
        for user, pw in (("admin", "adminpw"), ("mallory", "malpw"))
    ]
    path = root / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return path


def _basic(user: str, pw: str) -> dict[str, str]:
    return dict(urllib3.make_headers(basic_auth=f"{user}:{pw}"))


@pytest.fixture(scope="module", params=KINDS)
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    kind: str = request.param
    root = tmp_path_factory.mktemp(kind)
    extra: list[str] = []
    if kind == "2-workers":
        extra = ["--workers", "2"]
    elif kind == "basic-auth":
        extra = ["--htpasswd", str(_htpasswd(root))]
    elif kind == "token-auth":
        _htpasswd(root)
        (root / "access.yml").write_text(
            "htpasswd: htpasswd\n"
            "rules:\n"
            '  - repositories: ["**"]\n    users: [admin]\n    actions: ["*"]\n'
            '  - repositories: ["team/**"]\n    users: [mallory]\n    actions: ["*"]\n'
        )
        extra = ["--auth-token-access", str(root / "access.yml")]
    server = start_lamina(root / "storage", *extra)
    try:
        victim_h: dict[str, str] = {}
        attacker_h: dict[str, str] = {}
        if kind == "basic-auth":
            victim_h, attacker_h = _basic("admin", "adminpw"), _basic("mallory", "malpw")
        elif kind == "token-auth":
            scopes = [f"repository:private/x{i}:pull,push" for i in range(4)]
            tok = get_token(server, *scopes, creds=("admin", "adminpw"))["token"]
            victim_h = {"Authorization": f"Bearer {tok}"}
            evil = get_token(
                server,
                "repository:team/evil:pull,push",
                "repository:private/x0:pull,push",
                creds=("mallory", "malpw"),
            )["token"]
            attacker_h = {"Authorization": f"Bearer {evil}"}
        yield Setup(
            server=server,
            victim=HeaderClient(server.url, victim_h),
            attacker=HeaderClient(server.url, attacker_h),
            attacker_headers=attacker_h,
        )
    finally:
        server.stop()


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        if not more:
            raise AssertionError(f"connection closed after {data!r}")
        data += more
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(fields.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        if not more:
            break
        body += more
    return int(lines[0].split(" ", 2)[1]), body


def _path(location: str) -> str:
    return urllib.parse.urlsplit(location).path


def _verify_store(storage: Path) -> None:
    """Every file in the blob store re-hashes to its own name."""
    for algo_dir in (storage / "blobs").iterdir():
        for f in algo_dir.iterdir():
            h = hashlib.new(algo_dir.name)
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            assert h.hexdigest() == f.name, f"stored blob {algo_dir.name}:{f.name} is corrupt"


def _wait_for_lock(path: Path, timeout: float = 5.0) -> None:
    """Until the server is inside connection A's PATCH: its flock on the session's file
    shows in /proc/locks (read, not probed, so the test never contends for the lock).
    Servers that take no lock get the same 0.5 s head start on every run."""
    ino = f":{path.stat().st_ino} "
    deadline = time.monotonic() + timeout
    time.sleep(0.5)
    while time.monotonic() < deadline:
        if any(ino in line for line in Path("/proc/locks").read_text().splitlines()):
            return
        time.sleep(0.05)


def _overwrite_attempt(s: Setup, victim_repo: str) -> dict[str, Any]:
    target = os.urandom(TARGET_SIZE)
    digest = s.victim.push_blob(victim_repo, target)
    fake = os.urandom(TARGET_SIZE)
    location = _path(s.attacker.start_upload("team/evil"))
    host, port = s.server.host.split(":")
    statuses: dict[str, Any] = {}
    with socket.create_connection((host, int(port)), timeout=30) as a:
        auth = "".join(f"{k}: {v}\r\n" for k, v in s.attacker_headers.items())
        a.sendall(
            f"PATCH {location} HTTP/1.1\r\nHost: {s.server.host}\r\n{auth}"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        head = fake[:-1]
        a.sendall(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        _wait_for_lock(s.server.storage / "uploads" / location.rsplit("/", 1)[1])
        b = Client(s.server.url).request(
            "PATCH", location, target,
            {**s.attacker_headers, "Content-Type": "application/octet-stream"},
        )  # fmt: skip
        statuses["B"] = b.status
        a.sendall(b"1\r\n" + fake[-1:] + b"\r\n0\r\n\r\n")
        statuses["A"] = _read_response(a)[0]
    puts = []
    for _ in range(6):  # an attacker retries until a worker holding the right hash answers
        r = Client(s.server.url).request("PUT", location, headers=s.attacker_headers, digest=digest)
        puts.append(r.status)
        if r.status in {201, 404}:
            break
    statuses["PUT"] = puts
    got = s.victim.request("GET", f"/v2/{victim_repo}/blobs/{digest}")
    statuses["victim"] = (got.status, sha256(got.data) == digest)
    return statuses


def test_a_held_patch_cannot_overwrite_another_repositorys_blob(setup: Setup) -> None:
    rounds = 3 if setup.server.args.count("--workers") else 1
    for i in range(rounds):
        st = _overwrite_attempt(setup, f"private/x{i}")
        assert st["victim"] == (200, True), st
        # One request at a time per session: B is refused at once, A goes through, and the
        # digest of A's bytes is not the victim's.
        assert st["B"] in (409, 416), st
        assert st["A"] == 202, st
        assert 201 not in st["PUT"], st
    _verify_store(setup.server.storage)
    assert b"Traceback" not in setup.server.log.read_bytes()


def _storm_request(client: Client, kind: str, location: str, body: bytes, digest: str) -> int:
    headers = {"Content-Type": "application/octet-stream"}
    if kind == "PATCH":
        r = client.request("PATCH", location, body, headers)
    else:
        r = client.request("PUT", location, body, headers, digest=digest)
    return r.status


@pytest.mark.parametrize("workers", [1, 2])
def test_put_patch_storm_leaves_every_blob_verifiable(tmp_path: Path, workers: int) -> None:
    server = start_lamina(tmp_path / "storage", "--workers", str(workers))
    try:
        client = Client(server.url)
        sessions = 20  # x 10 requests = 200
        plan = []
        for n in range(sessions):
            first = os.urandom((1 << 20) + 4096 * n)  # some go the direct way, some not
            second = os.urandom(200_000 + n)
            repo = f"storm/r{n % 4}"
            location = _path(client.start_upload(repo))
            whole = sha256(first + second)
            for k in range(10):
                if k % 2 == 0:  # a chunk a client retries
                    plan.append(("PATCH", repo, location, first, ""))
                elif k % 4 == 1:  # completes with the rest
                    plan.append(("PUT", repo, location, second, whole))
                else:  # completes after the first chunk alone
                    plan.append(("PUT", repo, location, b"", sha256(first)))
        with ThreadPoolExecutor(16) as pool:
            jobs = [
                pool.submit(_storm_request, Client(server.url), kind, loc, body, d)
                for kind, _, loc, body, d in plan
            ]
            statuses = [j.result() for j in jobs]
        counts = Counter(statuses)
        assert not [s for s in counts if s >= 500], counts
        assert counts[201] >= 1, counts
        _verify_store(server.storage)
        # Every blob a 201 made is served through its repository with the right bytes.
        for (_, repo, _, _, digest), status in zip(plan, statuses, strict=True):
            if status == 201:
                r = client.request("GET", f"/v2/{repo}/blobs/{digest}")
                assert r.status == 200 and sha256(r.data) == digest, (repo, digest)
        assert b"Traceback" not in server.log.read_bytes(), server.log.read_text()[-3000:]
    finally:
        server.stop()


def _inode(storage: Path, digest: str) -> int:
    return (storage / "blobs" / "sha256" / digest.split(":", 1)[1]).stat().st_ino


def test_a_stored_blob_is_never_replaced(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage")
    try:
        client = Client(server.url)
        data = os.urandom(2 << 20)
        digest = client.push_blob("keep/a", data)
        inode = _inode(server.storage, digest)
        # the same digest again: session + PUT, monolithic POST, chunked PATCH + PUT
        client.push_blob("keep/b", data)
        r = client.request("POST", "/v2/keep/c/blobs/uploads/", data, digest=digest)
        assert r.status == 201, r.data
        location = client.start_upload("keep/d")
        r = client.request("PATCH", location, data[:1000])
        assert r.status == 202, r.data
        r = client.request("PUT", str(r.headers["Location"]), data[1000:], digest=digest)
        assert r.status == 201, r.data
        # and several at once
        with ThreadPoolExecutor(4) as pool:
            for j in [
                pool.submit(Client(server.url).push_blob, f"keep/e{i}", data) for i in range(4)
            ]:
                assert j.result() == digest
        assert _inode(server.storage, digest) == inode
        for repo in ["keep/a", "keep/b", "keep/c", "keep/d", "keep/e0", "keep/e3"]:
            r = client.request("GET", f"/v2/{repo}/blobs/{digest}")
            assert r.status == 200 and r.data == data, repo
        assert not list((server.storage / "uploads").iterdir())
    finally:
        server.stop()
