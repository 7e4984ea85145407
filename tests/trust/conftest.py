"""Fixtures for trust on the wire: a throw-away GnuPG key, a temp $HOME (policy.json and
registries.d are read from there, as podman and skopeo read them), live registries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ops.conftest import distribution, lamina_reg
from tests.server.servers import Server
from tests.transports.registry.servers import Distribution

__all__ = ["distribution", "lamina_reg"]


@dataclass(frozen=True)
class GpgKey:
    home: str
    fingerprint: str
    public: bytes
    public_file: Path


def make_gpg_key(home: Path, name: str) -> GpgKey:
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    base = ["gpg", "--batch", "--homedir", str(home)]
    subprocess.run(
        [*base, "--passphrase", "", "--quick-gen-key", name, "rsa2048", "sign", "never"],
        check=True,
        capture_output=True,
    )
    listing = subprocess.run(
        [*base, "--with-colons", "--list-secret-keys"], check=True, capture_output=True, text=True
    ).stdout
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    public = subprocess.run([*base, "--export", fpr], capture_output=True, check=True).stdout
    public_file = home / "public.gpg"
    public_file.write_bytes(public)
    return GpgKey(home=str(home), fingerprint=fpr, public=public, public_file=public_file)


@pytest.fixture(scope="module")
def gpg_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKey]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    key = make_gpg_key(tmp_path_factory.mktemp("gnupg"), "Lamina Signer <signer@example.com>")
    yield key
    subprocess.run(["gpgconf", "--homedir", key.home, "--kill", "all"], check=False)


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GpgKey]:
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    key = make_gpg_key(tmp_path_factory.mktemp("gnupg-other"), "Someone Else <other@example.com>")
    yield key
    subprocess.run(["gpgconf", "--homedir", key.home, "--kill", "all"], check=False)


@dataclass(frozen=True)
class Home:
    path: Path
    lookaside: Path

    @property
    def policy(self) -> Path:
        return self.path / ".config/containers/policy.json"

    @property
    def registries_d(self) -> Path:
        return self.path / ".config/containers/registries.d"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """$HOME in a temp dir, with a registries.d whose default lookaside is a file:// dir."""
    path = tmp_path / "home"
    lookaside = tmp_path / "lookaside"
    regd = path / ".config/containers/registries.d"
    regd.mkdir(parents=True)
    lookaside.mkdir()
    (regd / "default.yaml").write_text(f"default-docker:\n  lookaside: file://{lookaside}\n")
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(path / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("CONTAINERS_REGISTRIES_CONF", raising=False)
    return Home(path=path, lookaside=lookaside)


def write_policy(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
    return path


def signed_by(key: GpgKey, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    req: dict[str, Any] = {
        "type": "signedBy",
        "keyType": "GPGKeys",
        "keyPath": str(key.public_file),
    }
    if identity is not None:
        req["signedIdentity"] = identity
    return req


def policy_for(scope: str, reqs: list[dict[str, Any]]) -> dict[str, Any]:
    """Reject everything except `scope` (a docker scope), which needs `reqs`."""
    return {
        "default": [{"type": "reject"}],
        "transports": {
            "docker": {scope: reqs},
            "oci": {"": [{"type": "insecureAcceptAnything"}]},
            "lamina": {"": [{"type": "insecureAcceptAnything"}]},
            "dir": {"": [{"type": "insecureAcceptAnything"}]},
        },
    }


@pytest.fixture(params=["lamina", pytest.param("distribution", marks=pytest.mark.interop)])
def registry(request: pytest.FixtureRequest) -> str:
    """host:port of each live registry kind in turn (lamina's has the signature extension)."""
    if request.param == "lamina":
        server: Server = request.getfixturevalue("lamina_reg")
        return server.host
    reg: Distribution = request.getfixturevalue("distribution")
    return reg.host
