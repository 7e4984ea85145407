"""Signing a multi-platform image as containers/image does: copySingleImage signs each
instance it writes and copyMultipleImages then signs the list, so every manifest of the
index gets a signature (simple signing and cosign alike), where the destination keeps them.
What lamina signs is accepted by lamina (one platform, whose instance is what the policy
judges, and `--all`) and by `skopeo copy --all`; what `skopeo copy --all --sign-by` signs
is accepted by lamina."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.copy.parallel import CopyOptions
from lamina.errors import TrustError
from lamina.oci import ImageIndex
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull, push
from lamina.ops.trust import TrustOptions
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import RegistryReference, RegistrySource
from lamina.trust.cosign_keys import generate_keypair
from lamina.trust.signed_refs import RegistrySignedSource, SignatureStorage
from tests.ops.images import index_layout
from tests.trust.conftest import GpgKey, Home, policy_for, signed_by, write_policy

NO_CONF = RegistriesConfig()
INSECURE = TrustOptions(insecure_policy=True)
ALL = CopyOptions(multi_arch="all")


def _stored_index(tmp_path: Path, store: Store, seed: int) -> ImageIndex:
    layout, index, _ = index_layout(tmp_path, f"src{seed}", seed=seed)
    copy(
        f"oci:{layout}:v1", "lamina:localhost/multi:1", store, CopyRequest(copy=ALL, trust=INSECURE)
    )
    return index


def _signature_counts(name: str, index: ImageIndex) -> list[int]:
    """How many signatures lamina reads for the index and each instance of `name`."""
    src = RegistrySignedSource(
        RegistrySource(RegistryReference.parse(name)), SignatureStorage.load()
    )
    try:
        digests = [index.digest, *(d.digest for d in index.manifests)]
        return [len(src.signatures(d)) for d in digests]
    finally:
        src.close()


def _accepted_by_lamina(tmp_path: Path, name: str, tag: str) -> None:
    one = Store.open(tmp_path / f"one-{tag}")
    pull(one, name, registries=NO_CONF)  # judged on the host's instance
    assert one.lookup(name)
    every = Store.open(tmp_path / f"all-{tag}")
    pull(every, name, registries=NO_CONF, copy_options=ALL)
    assert every.lookup(name)


def _skopeo(home: Home, *args: str, gnupg: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home.path)}
    if gnupg is not None:
        env["GNUPGHOME"] = gnupg
    return subprocess.run(
        ["skopeo", *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def test_simple_signed_index_push_is_accepted_by_lamina_and_skopeo(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey, other_key: GpgKey
) -> None:
    write_policy(home.policy, policy_for(registry, [signed_by(gpg_key)]))
    store = Store.open(tmp_path / "store")
    index = _stored_index(tmp_path, store, seed=11)
    name = f"{registry}/signed/index:1"
    trust = TrustOptions(sign_by=gpg_key.fingerprint, gpg_homedir=gpg_key.home)
    push(store, "localhost/multi:1", name, copy_options=ALL, trust=trust)
    assert _signature_counts(name, index) == [1, 1, 1]  # the index and every instance
    _accepted_by_lamina(tmp_path, name, "simple")

    if shutil.which("skopeo") is not None and any(home.lookaside.iterdir()):
        # skopeo reads the lookaside registries.d names in the temp HOME
        done = _skopeo(
            home,
            *("copy", "--all", "--remove-signatures", "--src-tls-verify=false"),
            *(f"docker://{name}", f"oci:{tmp_path / 'sk'}:x"),
        )
        assert done.returncode == 0, done.stderr

    # a policy trusting another key refuses it, before any instance is copied
    write_policy(home.policy, policy_for(registry, [signed_by(other_key)]))
    with pytest.raises(TrustError, match="index instance"):
        pull(Store.open(tmp_path / "refused"), name, registries=NO_CONF, copy_options=ALL)


def test_cosign_signed_index_push_is_accepted_by_lamina(
    tmp_path: Path, home: Home, registry: str
) -> None:
    (home.registries_d / "default.yaml").write_text(
        f"default-docker:\n  lookaside: file://{home.lookaside}\n  use-sigstore-attachments: true\n"
    )
    private, public = generate_keypair(b"pw")
    (tmp_path / "cosign.key").write_bytes(private)
    (tmp_path / "cosign.pub").write_bytes(public)
    req = {"type": "sigstoreSigned", "keyPath": str(tmp_path / "cosign.pub")}
    write_policy(home.policy, policy_for(registry, [req]))
    store = Store.open(tmp_path / "store")
    index = _stored_index(tmp_path, store, seed=13)
    name = f"{registry}/cosigned/index:1"
    trust = TrustOptions(
        sign_by_sigstore_key=str(tmp_path / "cosign.key"), sigstore_passphrase=b"pw"
    )
    push(store, "localhost/multi:1", name, copy_options=ALL, trust=trust)
    assert _signature_counts(name, index) == [1, 1, 1]
    _accepted_by_lamina(tmp_path, name, "cosign")


def test_skopeo_signed_index_is_accepted_by_lamina(
    tmp_path: Path, home: Home, registry: str, gpg_key: GpgKey
) -> None:
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed")
    layout, index, _ = index_layout(tmp_path, "src", seed=17)
    name = f"{registry}/skopeo/index:1"
    done = _skopeo(
        home,
        *("copy", "--all", "--dest-tls-verify=false", "--sign-by", gpg_key.fingerprint),
        *(f"oci:{layout}:v1", f"docker://{name}"),
        gnupg=gpg_key.home,
    )
    assert done.returncode == 0, done.stderr
    # skopeo signed the list and every instance (copyMultipleImages, copySingleImage)
    assert _signature_counts(name, index) == [1, 1, 1]
    write_policy(home.policy, policy_for(registry, [signed_by(gpg_key)]))
    _accepted_by_lamina(tmp_path, name, "skopeo")
