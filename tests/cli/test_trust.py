"""The trust commands through the CLI: key generate, cosign signing on push (a .sig
attachment that grows a layer per signature), sign/verify of store images, standalone
sign/verify, trust show/set (podman reads what lamina writes), --insecure-policy."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.oci import ImageManifest
from lamina.transports.registry import RegistryReference, RegistrySource
from lamina.trust.cosign import signature_tag
from lamina.trust.cosign_keys import load_private_key
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg
from tests.ops.images import image_layout
from tests.server.servers import Server
from tests.trust.conftest import GpgKey, gpg_key

__all__ = ["gpg_key", "lamina_reg"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    regd = path / ".config/containers/registries.d"
    regd.mkdir(parents=True)
    (regd / "default.yaml").write_text(
        f"default-docker:\n  lookaside: file://{tmp_path / 'lookaside'}\n"
        "  use-sigstore-attachments: true\n"
    )
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path / ".config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    return path


def _stored(lamina: Run, tmp_path: Path, seed: int = 7) -> str:
    layout, _ = image_layout(tmp_path, f"src{seed}", seed=seed)
    r = lamina("copy", "--insecure-policy", "-q", f"oci:{layout}:v1", "lamina:localhost/app:1")
    assert r.code == 0, r.err
    assert "warning: --insecure-policy" in r.err
    return "localhost/app:1"


def test_cosign_key_push_sign_verify(
    lamina: Run, tmp_path: Path, home: Path, lamina_reg: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret")
    keys = tmp_path / "keys"
    r = lamina("key", "generate", "--output-dir", str(keys))
    assert r.code == 0, r.err
    load_private_key((keys / "cosign.key").read_bytes(), b"s3cret")
    assert lamina("key", "generate", "--output-dir", str(keys)).code != 0  # no overwrite
    image = _stored(lamina, tmp_path)
    dest = f"{lamina_reg.host}/cli/cosigned:1"
    key = str(keys / "cosign.key")
    r = lamina("push", "-q", "--sign-by-sigstore-private-key", key, image, dest)
    assert r.code == 0, r.err
    r = lamina("verify", "--key", str(keys / "cosign.pub"), f"docker://{dest}")
    assert r.code == 0, r.err
    assert "signature 1 (sigstore): verified" in r.out
    src = RegistrySource(RegistryReference.parse(dest))
    try:
        digest = Digest.of_bytes(src.get_manifest()[0])
        raw, media_type = src.get_manifest_by_tag(signature_tag(digest))
        assert len(ImageManifest.parse(raw, media_type).layers) == 1
        # a second signature appends a layer to the same .sig image
        r = lamina("sign", "--key", key, f"docker://{dest}")
        assert r.code == 0, r.err
        raw, media_type = src.get_manifest_by_tag(signature_tag(digest))
        layers = ImageManifest.parse(raw, media_type).layers
        assert len(layers) == 2
        assert all(d.media_type.endswith("simplesigning.v1+json") for d in layers)
    finally:
        src.close()
    # another key: nothing verifies, exit code says so
    monkeypatch.setenv("COSIGN_PASSWORD", "other")
    assert lamina("key", "generate", "--output-dir", str(tmp_path / "k2")).code == 0
    r = lamina("verify", "--key", str(tmp_path / "k2/cosign.pub"), f"docker://{dest}")
    assert r.code != 0
    assert "NOT verified" in r.out and "cryptographic signature verification failed" in r.out


def test_sign_and_verify_a_store_image(
    lamina: Run, tmp_path: Path, home: Path, gpg_key: GpgKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNUPGHOME", gpg_key.home)
    image = _stored(lamina, tmp_path)
    r = lamina("verify", "--key", str(gpg_key.public_file), image)
    assert r.code != 0 and "no signatures" in r.out
    r = lamina("sign", "--sign-by", gpg_key.fingerprint, image)
    assert r.code == 0, r.err
    assert "as docker.io/localhost/app:1" in r.out or "localhost/app:1" in r.out
    r = lamina("verify", "--json", "--key", str(gpg_key.public_file), image)
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["accepted"] and doc["signatures"][0]["verified"]


def test_standalone_sign_verify_cli(
    lamina: Run, tmp_path: Path, gpg_key: GpgKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GNUPGHOME", gpg_key.home)
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(b'{"schemaVersion":2}')
    ref = "example.com/team/app:1"
    sig = tmp_path / "sig"
    r = lamina("standalone-sign", str(manifest), ref, gpg_key.fingerprint, "--output", str(sig))
    assert r.code == 0, r.err
    r = lamina("standalone-verify", str(manifest), ref, gpg_key.fingerprint, str(sig))
    assert r.code == 0, r.err
    assert r.out.strip() == f"Signature verified, digest {Digest.of_bytes(manifest.read_bytes())}"
    r = lamina(
        "standalone-verify", str(manifest), "example.com/team/app:2", gpg_key.fingerprint, str(sig)
    )
    assert r.code != 0
    if shutil.which("skopeo"):
        out = subprocess.run(
            ["skopeo", "standalone-verify", str(manifest), ref, gpg_key.fingerprint, str(sig)],
            capture_output=True,
            text=True,
            env={**os.environ, "GNUPGHOME": gpg_key.home},
            check=False,
        )
        assert out.returncode == 0, out.stderr


@pytest.fixture
def short() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_trust_set_show_and_podman_reads_it(
    lamina: Run, tmp_path: Path, home: Path, gpg_key: GpgKey, short: Path
) -> None:
    policy = tmp_path / "policy.json"
    key = str(gpg_key.public_file)
    assert lamina("trust", "set", "-t", "reject", "default", "--policypath", str(policy)).code == 0
    r = lamina("trust", "set", "-f", key, "127.0.0.1:5000/team", "--policypath", str(policy))
    assert r.code == 0, r.err
    assert (
        lamina("trust", "set", "-t", "accept", "docker.io", "--policypath", str(policy)).code == 0
    )
    doc = json.loads(policy.read_text())
    assert doc["default"] == [{"type": "reject"}]
    assert doc["transports"]["docker"]["127.0.0.1:5000/team"] == [
        {"type": "signedBy", "keyType": "GPGKeys", "keyPath": key}
    ]
    r = lamina("trust", "show", "--policypath", str(policy), "--json")
    ours = r.json()
    assert [(e["name"], e["type"]) for e in ours] == [
        ("* (default)", "reject"),
        ("127.0.0.1:5000/team", "signed"),
        ("docker.io", "accept"),
    ]
    if shutil.which("podman"):
        out = subprocess.run(
            [
                "podman",
                "--root",
                str(short / "r"),
                "--runroot",
                str(short / "rr"),
                "image",
                "trust",
                "show",
                "--policypath",
                str(policy),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        theirs = json.loads(out.stdout)
        assert [(e["name"], e["type"]) for e in theirs] == [(e["name"], e["type"]) for e in ours]


def test_pull_refused_by_policy_exits_with_trust_error(
    lamina: Run, tmp_path: Path, home: Path, lamina_reg: Server
) -> None:
    image = _stored(lamina, tmp_path)
    dest = f"{lamina_reg.host}/cli/refused:1"
    assert lamina("push", "-q", image, dest).code == 0
    policy = tmp_path / "reject.json"
    policy.write_text('{"default":[{"type":"reject"}]}')
    r = lamina("pull", "-q", "--policy", str(policy), dest)
    assert r.code != 0
    assert "rejects" in r.err
    r = lamina("pull", "-q", "--insecure-policy", dest)
    assert r.code == 0, r.err
    assert "warning: --insecure-policy" in r.err
