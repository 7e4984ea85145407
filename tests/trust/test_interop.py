"""Interop with real GnuPG, skopeo and podman: signatures and policies move both ways."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.digest import Digest
from lamina.errors import TrustError
from lamina.transports.directory import DirReference
from lamina.trust.evaluate import PolicyContext
from lamina.trust.policy import Policy
from lamina.trust.simple import sign_simple, standalone_verify

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]

REF = "example.com/team/app:1"


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, f"{args[:3]} failed: {proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def gnupg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, bytes]]:
    """A throw-away GnuPG home with one signing key: (homedir, fingerprint, public key)."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    base = ["gpg", "--batch", "--homedir", str(home)]
    _run(
        [
            *base,
            "--passphrase",
            "",
            "--quick-gen-key",
            "Lamina Test <t@example.com>",
            "rsa2048",
            "sign",
            "never",
        ]
    )
    listing = _run([*base, "--with-colons", "--list-secret-keys"])
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    public = subprocess.run([*base, "--export", fpr], capture_output=True, check=True).stdout
    yield str(home), fpr, public
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def _env(home: str) -> dict[str, str]:
    return {**os.environ, "GNUPGHOME": home}


def _manifest(tmp: Path) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}
    raw = json.dumps(doc).encode()
    (tmp / "m.json").write_bytes(raw)
    return raw


def test_skopeo_standalone_sign_lamina_verifies(
    tmp_path: Path, gnupg: tuple[str, str, bytes]
) -> None:
    home, fpr, public = gnupg
    manifest = _manifest(tmp_path)
    sig = tmp_path / "sig"
    _run(
        ["skopeo", "standalone-sign", "-o", str(sig), str(tmp_path / "m.json"), REF, fpr],
        _env(home),
    )
    result = standalone_verify(sig.read_bytes(), manifest, REF, [public], fpr)
    assert result.payload.docker_reference == REF
    assert result.key_fingerprint == fpr
    with pytest.raises(TrustError, match="not accepted"):
        standalone_verify(sig.read_bytes(), manifest, "example.com/team/app:2", [public])


def test_lamina_signs_skopeo_standalone_verify_accepts(
    tmp_path: Path, gnupg: tuple[str, str, bytes]
) -> None:
    home, fpr, _ = gnupg
    manifest = _manifest(tmp_path)
    (tmp_path / "sig").write_bytes(sign_simple(manifest, REF, fpr, homedir=home))
    out = _run(
        ["skopeo", "standalone-verify", str(tmp_path / "m.json"), REF, fpr, str(tmp_path / "sig")],
        _env(home),
    )
    assert out.startswith(f"Signature verified, digest {Digest.of_bytes(manifest)}")


def _dir_image(root: Path) -> Path:
    """A minimal dir: image with one gzip layer, written by hand."""
    root.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    diff = buf.getvalue()
    layer = gzip.compress(diff, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of_bytes(diff))]},
        }
    ).encode()
    for blob in (layer, config):
        (root / Digest.of_bytes(blob).hex).write_bytes(blob)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": str(Digest.of_bytes(config)),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(layer),
                "digest": str(Digest.of_bytes(layer)),
            }
        ],
    }
    (root / "manifest.json").write_bytes(json.dumps(manifest).encode())
    (root / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    return root


IDENTITY_CASES: list[tuple[dict[str, Any], str | None, str | None]] = [
    ({"type": "matchRepoDigestOrExact"}, REF, None),
    ({"type": "matchRepoDigestOrExact"}, "example.com/team/app:2", "not accepted"),
    ({"type": "matchExact"}, REF, None),
    ({"type": "matchExact"}, None, "not accepted"),
    ({"type": "matchRepository"}, "example.com/team/app:other", None),
    ({"type": "matchRepository"}, "example.com/team/other:1", "not accepted"),
    ({"type": "exactReference", "dockerReference": REF}, None, None),
    ({"type": "exactReference", "dockerReference": "example.com/team/app:2"}, None, "not accepted"),
    ({"type": "exactRepository", "dockerRepository": "example.com/team/app"}, None, None),
    ({"type": "exactRepository", "dockerRepository": "example.com/x"}, None, "not accepted"),
    (
        {
            "type": "remapIdentity",
            "prefix": "mirror.local:5000/up",
            "signedPrefix": "example.com/team",
        },
        "mirror.local:5000/up/app:1",
        None,
    ),
    (
        {
            "type": "remapIdentity",
            "prefix": "mirror.local:5000/up",
            "signedPrefix": "example.com/other",
        },
        "mirror.local:5000/up/app:1",
        "not accepted",
    ),
]


@pytest.fixture(scope="module")
def skopeo_signed(
    tmp_path_factory: pytest.TempPathFactory, gnupg: tuple[str, str, bytes]
) -> tuple[bytes, list[bytes], Path]:
    home, fpr, public = gnupg
    tmp = tmp_path_factory.mktemp("signed")
    src = _dir_image(tmp / "src")
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    _run(
        [
            "skopeo",
            "--policy",
            str(policy),
            "copy",
            "--sign-by",
            fpr,
            "--sign-identity",
            REF,
            f"dir:{src}",
            f"dir:{tmp / 'dst'}",
        ],
        _env(home),
    )
    source = DirReference(str(tmp / "dst")).new_source()
    manifest, _ = source.get_manifest()
    sigs = source.signatures(Digest.of_bytes(manifest))
    assert len(sigs) == 1
    key = tmp / "key.gpg"
    key.write_bytes(public)
    return manifest, sigs, key


@pytest.mark.parametrize(("identity", "used_as", "error"), IDENTITY_CASES)
def test_skopeo_copy_sign_by_verifies_under_each_signed_identity(
    skopeo_signed: tuple[bytes, list[bytes], Path],
    identity: dict[str, Any],
    used_as: str | None,
    error: str | None,
) -> None:
    manifest, sigs, key = skopeo_signed
    req = {
        "type": "signedBy",
        "keyType": "GPGKeys",
        "keyPath": str(key),
        "signedIdentity": identity,
    }
    ctx = PolicyContext(Policy.parse(json.dumps({"default": [req]}).encode()))
    description = f"docker://{used_as}" if used_as else "dir:/images/app"
    if error is None:
        ctx.check(description, None, manifest, sigs)
    else:
        with pytest.raises(TrustError, match=error):
            ctx.check(description, None, manifest, sigs)


@pytest.fixture
def short() -> Iterator[Path]:
    """A directory with a short path (podman refuses a runroot longer than 50 characters)."""
    path = Path(tempfile.mkdtemp(prefix="lt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_podman_image_trust_set_policy_round_trips(
    tmp_path: Path, short: Path, gnupg: tuple[str, str, bytes]
) -> None:
    _, _, public = gnupg
    key = tmp_path / "key.gpg"
    key.write_bytes(public)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    base = [
        "podman",
        "--root",
        str(tmp_path / "root"),
        "--runroot",
        str(short / "run"),
        "image",
        "trust",
        "set",
    ]
    _run([*base, "--policypath", str(policy), "-f", str(key), "example.com/team"])
    _run([*base, "--policypath", str(policy), "-t", "reject", "quay.io"])
    _run([*base, "--policypath", str(policy), "-t", "accept", "default"])
    parsed = Policy.parse(policy.read_bytes())
    scope, reqs = parsed.requirements_for("docker", "example.com/team/app:1")
    assert scope == "example.com/team"
    assert reqs[0].to_json()["keyPath"] == str(key)
    assert Policy.parse(parsed.dumps()) == parsed
    # And podman reads lamina's serialisation back.
    policy.write_bytes(parsed.dumps())
    shown = json.loads(
        _run(
            [
                "podman",
                "--root",
                str(tmp_path / "root"),
                "--runroot",
                str(short / "run"),
                "image",
                "trust",
                "show",
                "--policypath",
                str(policy),
                "--json",
            ]
        )
    )
    assert {entry["name"] for entry in shown} >= {"example.com/team", "quay.io"}
