"""Signatures across tools on live registries (lamina's, which has the signature extension,
and Distribution, which needs lookaside storage): skopeo signs → lamina verifies; lamina
signs → skopeo and podman accept under a signedBy policy, and refuse the wrong key, the
wrong identity, a tampered manifest and an unsigned image; a signature follows an image
mirrored by `lamina sync` and verifies there through remapIdentity."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.errors import TrustError
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull, push
from lamina.ops.sync import SyncOptions, sync
from lamina.ops.trust import TrustOptions
from lamina.ops.trust_commands import verify
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import RegistryClient, RegistryOptions, signatures_ext
from tests.ops.images import image_layout
from tests.trust.conftest import GpgKey, Home, policy_for, signed_by, write_policy

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed"),
]

NO_CONF = RegistriesConfig()
INSECURE = TrustOptions(insecure_policy=True)


def _env(home: Home, key: GpgKey | None = None) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home.path)}
    if key is not None:
        env["GNUPGHOME"] = key.home
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=180, check=False)


def _skopeo_pull(home: Home, policy: Path, ref: str, out: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        [
            "skopeo",
            "--policy",
            str(policy),
            "copy",
            "--src-tls-verify=false",
            f"docker://{ref}",
            f"dir:{out}",
        ],
        _env(home),
    )


def _lamina_signed_push(tmp_path: Path, ref: str, key: GpgKey | None, seed: int) -> Digest:
    layout, img = image_layout(tmp_path, f"src{seed}", seed=seed)
    store = Store.open(tmp_path / f"pub{seed}")
    copy(f"oci:{layout}:v1", "lamina:localhost/app:1", store, CopyRequest(trust=INSECURE))
    trust = TrustOptions(
        insecure_policy=True,
        sign_by=key.fingerprint if key else None,
        gpg_homedir=key.home if key else None,
    )
    _, digest = push(store, "localhost/app:1", ref, trust=trust)
    assert digest == img.digest()
    return digest


def test_skopeo_signs_lamina_verifies(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey, other_key: GpgKey
) -> None:
    layout, img = image_layout(tmp_path, "src", seed=41)
    ref = f"{registry}/interop/skopeo-signed:1"
    done = _run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--sign-by",
            gpg_key.fingerprint,
            f"oci:{layout}:v1",
            f"docker://{ref}",
        ],
        _env(home, gpg_key),
    )
    assert done.returncode == 0, done.stderr
    policy = write_policy(tmp_path / "policy.json", policy_for(registry, [signed_by(gpg_key)]))
    result = verify(f"docker://{ref}", None, TrustOptions(policy=str(policy)))
    assert result.accepted, result.decision
    assert result.digest == img.digest()
    assert [v.accepted for v in result.signatures] == [True]
    # the same signature under a policy trusting another key: refused, and it says why
    wrong = write_policy(tmp_path / "wrong.json", policy_for(registry, [signed_by(other_key)]))
    result = verify(f"docker://{ref}", None, TrustOptions(policy=str(wrong)))
    assert not result.accepted
    assert "cannot be checked" in result.signatures[0].detail
    store = Store.open(tmp_path / "store")
    pulled = pull(store, ref, registries=NO_CONF, trust=TrustOptions(policy=str(policy)))
    assert pulled[0].digest == img.digest()
    with pytest.raises(TrustError):
        pull(store, ref, registries=NO_CONF, trust=TrustOptions(policy=str(wrong)))


def test_lamina_signs_skopeo_accepts_and_refuses(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey, other_key: GpgKey
) -> None:
    ref = f"{registry}/interop/lamina-signed:1"
    digest = _lamina_signed_push(tmp_path, ref, gpg_key, seed=42)
    good = write_policy(tmp_path / "good.json", policy_for(registry, [signed_by(gpg_key)]))
    done = _skopeo_pull(home, good, ref, tmp_path / "ok")
    assert done.returncode == 0, done.stderr
    assert Digest.of_bytes((tmp_path / "ok" / "manifest.json").read_bytes()) == digest
    # wrong key
    wrong = write_policy(tmp_path / "wrong.json", policy_for(registry, [signed_by(other_key)]))
    done = _skopeo_pull(home, wrong, ref, tmp_path / "wrong-key")
    assert done.returncode != 0 and "rejected" in done.stderr.lower()
    # wrong identity: matchExact, pulled by digest, while the signature names the tag
    exact = write_policy(
        tmp_path / "exact.json", policy_for(registry, [signed_by(gpg_key, {"type": "matchExact"})])
    )
    by_digest = f"{registry}/interop/lamina-signed@{digest}"
    done = _skopeo_pull(home, exact, by_digest, tmp_path / "exact")
    assert done.returncode != 0 and "rejected" in done.stderr.lower()
    # an unsigned image in the same scope
    unsigned = f"{registry}/interop/unsigned:1"
    _lamina_signed_push(tmp_path, unsigned, None, seed=43)
    done = _skopeo_pull(home, good, unsigned, tmp_path / "unsigned")
    assert done.returncode != 0 and "rejected" in done.stderr.lower()
    assert not (tmp_path / "unsigned" / "manifest.json").exists()


def test_tampered_manifest_is_refused_by_skopeo_and_lamina(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey
) -> None:
    ref = f"{registry}/interop/tampered:1"
    digest = _lamina_signed_push(tmp_path, ref, gpg_key, seed=44)
    # replace the image under the tag, then give the new manifest the old signature
    other = _lamina_signed_push(tmp_path, ref, None, seed=45)
    repo = "interop/tampered"
    client = RegistryClient(registry, RegistryOptions(), repo)
    try:
        if signatures_ext.supported(client):
            old = signatures_ext.get_signatures(client, repo, digest)
            signatures_ext.put_signatures(client, repo, other, old)
        else:
            src = home.lookaside / f"{repo}@sha256={digest.hex}"
            shutil.copytree(src, home.lookaside / f"{repo}@sha256={other.hex}")
    finally:
        client.close()
    policy = write_policy(tmp_path / "p.json", policy_for(registry, [signed_by(gpg_key)]))
    done = _skopeo_pull(home, policy, ref, tmp_path / "t")
    assert done.returncode != 0 and "rejected" in done.stderr.lower()
    result = verify(f"docker://{ref}", None, TrustOptions(policy=str(policy)))
    assert not result.accepted
    assert "does not match the manifest" in result.signatures[0].detail


@pytest.fixture
def short() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lt-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_lamina_signs_podman_pulls_under_signed_by(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey, short: Path
) -> None:
    ref = f"{registry}/interop/podman:1"
    _lamina_signed_push(tmp_path, ref, gpg_key, seed=46)
    unsigned = f"{registry}/interop/podman-unsigned:1"
    _lamina_signed_push(tmp_path, unsigned, None, seed=47)
    policy = write_policy(tmp_path / "p.json", policy_for(registry, [signed_by(gpg_key)]))
    base = ["podman", "--root", str(short / "root"), "--runroot", str(short / "run")]
    args = ["pull", "--tls-verify=false", "--signature-policy", str(policy)]
    done = _run([*base, *args, f"docker://{ref}"], _env(home))
    assert done.returncode == 0, done.stderr
    done = _run([*base, *args, f"docker://{unsigned}"], _env(home))
    assert done.returncode != 0 and "rejected" in done.stderr.lower()


def test_sync_carries_signature_and_remap_identity_accepts_the_mirror(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey
) -> None:
    upstream = f"{registry}/vendor/app:1"
    digest = _lamina_signed_push(tmp_path, upstream, gpg_key, seed=48)
    report = sync(
        upstream,
        f"{registry}/vendor-mirror",
        SyncOptions(src="docker", dest="docker", trust=INSECURE),
    )
    assert report.failed == []
    mirrored = f"{registry}/vendor-mirror/app:1"
    plain = write_policy(
        tmp_path / "plain.json", policy_for(f"{registry}/vendor-mirror", [signed_by(gpg_key)])
    )
    store = Store.open(tmp_path / "store")
    with pytest.raises(TrustError, match="not accepted by the policy"):
        pull(store, mirrored, registries=NO_CONF, trust=TrustOptions(policy=str(plain)))
    remap = {
        "type": "remapIdentity",
        "prefix": f"{registry}/vendor-mirror",
        "signedPrefix": f"{registry}/vendor",
    }
    remapped = write_policy(
        tmp_path / "remap.json",
        policy_for(f"{registry}/vendor-mirror", [signed_by(gpg_key, remap)]),
    )
    pulled = pull(store, mirrored, registries=NO_CONF, trust=TrustOptions(policy=str(remapped)))
    assert pulled[0].digest == digest
    # skopeo agrees
    done = _skopeo_pull(home, remapped, mirrored, tmp_path / "sk")
    assert done.returncode == 0, done.stderr
