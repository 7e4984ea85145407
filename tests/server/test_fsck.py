"""`lamina registry fsck`: re-hashes every stored blob, quarantines a corrupt one (exit code
4, JSON report), after which a HEAD of it answers 404 and a client's re-upload heals it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.client import Client, make_image, sha256
from tests.server.servers import Server, start_lamina


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start_lamina(tmp_path / "storage")
    yield s
    s.stop()


def fsck(storage: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", "registry", "fsck", "--storage", str(storage), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _corrupt(storage: Path, digest: str) -> Path:
    path = storage / "blobs" / "sha256" / digest.split(":", 1)[1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    return path


def test_fsck_quarantines_a_corrupt_blob_and_clients_reupload(server: Server) -> None:
    client = Client(server.url)
    image = make_image("fsck")
    client.push_image("fsck/app", image, "v1")
    client.push_image("fsck/other", image, "v1")
    layer = sha256(image.layers[0])

    clean = fsck(server.storage, "--format", "json")
    assert clean.returncode == 0, clean.stderr
    doc = json.loads(clean.stdout)
    assert doc["checked"] == 3 and doc["corrupt"] == []

    path = _corrupt(server.storage, layer)
    dry = fsck(server.storage, "--dry-run")
    assert dry.returncode == 4, (dry.stdout, dry.stderr)
    assert layer in dry.stdout and path.exists()

    found = fsck(server.storage, "--format", "json")
    assert found.returncode == 4, (found.stdout, found.stderr)
    assert "corrupt" in found.stderr
    doc = json.loads(found.stdout)
    assert doc["checked"] == 3
    assert [c["digest"] for c in doc["corrupt"]] == [layer]
    quarantined = Path(doc["corrupt"][0]["quarantined"])
    assert quarantined.is_file() and quarantined.is_relative_to(server.storage / "quarantine")
    assert not path.exists()
    assert [(m["repository"], m["digest"]) for m in doc["missing"]] == [
        ("fsck/app", layer),
        ("fsck/other", layer),
    ]

    # The blob is gone from every repository that linked it, so clients upload it again.
    for repo in ("fsck/app", "fsck/other"):
        assert client.request("HEAD", f"/v2/{repo}/blobs/{layer}").status == 404
    client.push_blob("fsck/app", image.layers[0])
    for repo in ("fsck/app", "fsck/other"):
        r = client.request("GET", f"/v2/{repo}/blobs/{layer}")
        assert r.status == 200 and r.data == image.layers[0]

    text = fsck(server.storage)
    assert text.returncode == 0, text.stderr
    assert "3 blobs checked" in text.stdout and "0 corrupt, 0 links without" in text.stdout


def test_fsck_checks_sha512_blobs_and_leaves_uploads_alone(server: Server) -> None:
    client = Client(server.url)
    data = os.urandom(100_000)
    d512 = "sha512:" + hashlib.sha512(data).hexdigest()
    location = client.start_upload("fsck/s512")
    r = client.request("PUT", location, data, digest=d512)
    assert r.status == 201, r.data
    live = client.start_upload("fsck/s512")
    assert client.request("PATCH", live, b"in progress").status == 202
    path = server.storage / "blobs" / "sha512" / d512.split(":", 1)[1]
    path.chmod(0o600)
    path.write_bytes(data[:-1] + b"\0")
    found = fsck(server.storage, "--format", "json")
    assert found.returncode == 4
    assert [c["digest"] for c in json.loads(found.stdout)["corrupt"]] == [d512]
    assert client.request("HEAD", f"/v2/fsck/s512/blobs/{d512}").status == 404
    # the live upload is untouched
    r = client.request("PUT", live, b" still", digest=sha256(b"in progress still"))
    assert r.status == 201, r.data
