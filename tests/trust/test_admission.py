"""Admission: a policy that refuses an image stops the copy after the manifest and the
signatures are read, before any config or layer blob is requested; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import NotFound, TrustError
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull, push
from lamina.ops.trust import TrustOptions
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from tests.ops.images import image_layout
from tests.trust.conftest import GpgKey, Home, policy_for, signed_by, write_policy
from tests.trust.proxy import CountingProxy

NO_CONF = RegistriesConfig()
INSECURE = TrustOptions(insecure_policy=True)


@pytest.fixture
def proxy(registry: str) -> Iterator[CountingProxy]:
    p = CountingProxy(registry)
    yield p
    p.close()


def _publish(tmp_path: Path, registry: str, repo: str, *, sign: GpgKey | None = None) -> str:
    layout, _ = image_layout(tmp_path, f"src-{repo.replace('/', '-')}", seed=len(repo))
    store = Store.open(tmp_path / "publisher")
    copy(f"oci:{layout}:v1", "lamina:localhost/app:1", store, CopyRequest(trust=INSECURE))
    trust = TrustOptions(
        insecure_policy=True,
        sign_by=sign.fingerprint if sign else None,
        gpg_homedir=sign.home if sign else None,
    )
    push(store, "localhost/app:1", f"{registry}/{repo}:1", trust=trust)
    return f"{registry}/{repo}:1"


def test_rejected_pull_reads_no_blob_and_stores_nothing(
    tmp_path: Path, home: Home, registry: str, proxy: CountingProxy, gpg_key: GpgKey
) -> None:
    _publish(tmp_path, registry, "adm/unsigned")
    write_policy(home.policy, policy_for(proxy.host, [signed_by(gpg_key)]))
    store = Store.open(tmp_path / "store")
    proxy.reset()
    with pytest.raises(TrustError, match="no simple signature exists"):
        pull(store, f"{proxy.host}/adm/unsigned:1", registries=NO_CONF)
    assert proxy.requests, "the manifest was read through the proxy"
    assert proxy.blob_requests() == []
    assert any("/manifests/" in path for _, path in proxy.requests)
    with pytest.raises(NotFound):
        store.lookup(f"{proxy.host}/adm/unsigned:1")
    assert store.list_images(all=True) == []


def test_accepted_pull_then_reads_blobs(
    tmp_path: Path, home: Home, registry: str, proxy: CountingProxy, gpg_key: GpgKey
) -> None:
    _publish(tmp_path, registry, "adm/signed", sign=gpg_key)
    # the image was signed as REGISTRY/adm/signed:1; through the proxy it is another name,
    # so accept the upstream identity explicitly
    ident = {"type": "remapIdentity", "prefix": proxy.host, "signedPrefix": registry}
    write_policy(home.policy, policy_for(proxy.host, [signed_by(gpg_key, ident)]))
    store = Store.open(tmp_path / "store")
    pulled = pull(store, f"{proxy.host}/adm/signed:1", registries=NO_CONF)
    assert len(proxy.blob_requests()) >= 2
    assert store.lookup(f"{proxy.host}/adm/signed:1").id == pulled[0].image_id
    # the signature came along into the store's signature table
    assert store.signatures(pulled[0].digest)


def test_copy_to_dir_refused_leaves_nothing(
    tmp_path: Path, home: Home, registry: str, proxy: CountingProxy
) -> None:
    _publish(tmp_path, registry, "adm/copy")
    write_policy(home.policy, {"default": [{"type": "reject"}]})
    proxy.reset()
    with pytest.raises(TrustError, match="rejects"):
        copy(f"docker://{proxy.host}/adm/copy:1", f"dir:{tmp_path / 'out'}", None)
    assert proxy.blob_requests() == []
    assert not (tmp_path / "out").exists()
    # --insecure-policy is the bypass
    copy(
        f"docker://{proxy.host}/adm/copy:1",
        f"dir:{tmp_path / 'out'}",
        None,
        CopyRequest(trust=INSECURE),
    )
    assert (tmp_path / "out" / "manifest.json").is_file()


def test_missing_policy_file_is_an_error_with_a_hint(tmp_path: Path, home: Home) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=5)
    with pytest.raises(NotFound) as info:
        copy(
            f"oci:{layout}:v1",
            f"dir:{tmp_path / 'out'}",
            None,
            CopyRequest(trust=TrustOptions(policy=str(tmp_path / "nope.json"))),
        )
    assert "--insecure-policy" in (info.value.hint or "")
