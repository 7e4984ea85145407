"""Admission of an index copied whole (`--all`): as containers/image does (a policy check in
copySingleImage for every instance, none for the list in copyMultipleImages), each instance
must pass the policy with its own signatures; the index's own do not matter. lamina judges
every instance before the first blob of any of them is requested; a refused copy stores
nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.copy.parallel import CopyOptions
from lamina.errors import NotFound, TrustError
from lamina.oci import ImageIndex
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull
from lamina.ops.trust import TrustOptions
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from tests.ops.images import index_layout
from tests.trust.conftest import GpgKey, Home, policy_for, signed_by, write_policy
from tests.trust.proxy import CountingProxy

NO_CONF = RegistriesConfig()
INSECURE = TrustOptions(insecure_policy=True)
ALL = CopyOptions(multi_arch="all")


@pytest.fixture
def proxy(registry: str) -> Iterator[CountingProxy]:
    p = CountingProxy(registry)
    yield p
    p.close()


def _sign(repo: str, at: str, key: GpgKey, identity: str, tag: str) -> None:
    """Sign the manifest `repo` has at `at` (`:1`, `@sha256:…`) as `identity` with `key`,
    by copying it verbatim (an index alone) to `repo:tag`."""
    trust = TrustOptions(
        insecure_policy=True, sign_by=key.fingerprint, gpg_homedir=key.home, sign_identity=identity
    )
    only = CopyOptions(multi_arch="index-only")
    request = CopyRequest(copy=only, trust=trust)
    copy(f"docker://{repo}{at}", f"docker://{repo}:{tag}", None, request)


def _publish_index(tmp_path: Path, registry: str, repo: str) -> ImageIndex:
    """Push a two-platform index, unsigned, to `registry/repo:1`."""
    layout, index, _ = index_layout(tmp_path, f"src-{repo.replace('/', '-')}", seed=len(repo))
    copy(
        f"oci:{layout}:v1",
        f"docker://{registry}/{repo}:1",
        None,
        CopyRequest(copy=ALL, trust=INSECURE),
    )
    return index


def _pull_all(store: Store, name: str) -> None:
    pull(store, name, registries=NO_CONF, copy_options=ALL)


def _skopeo_accepts(home: Home, name: str, out: Path) -> bool | None:
    """Whether `skopeo copy --all` admits `name` under the same policy (None: no skopeo, or
    signatures kept where skopeo does not read them)."""
    if shutil.which("skopeo") is None or not any(home.lookaside.iterdir()):
        return None
    done = subprocess.run(
        [
            *("skopeo", "copy", "--all", "--remove-signatures", "--src-tls-verify=false"),
            *(f"docker://{name}", f"oci:{out}:x"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(home.path)},
        timeout=180,
        check=False,
    )
    assert done.returncode == 0 or "Source image rejected" in done.stderr, done.stderr
    return done.returncode == 0


def test_index_with_an_unsigned_instance_is_refused_before_any_blob(
    tmp_path: Path,
    home: Home,
    registry: str,
    proxy: CountingProxy,
    gpg_key: GpgKey,
    other_key: GpgKey,
) -> None:
    repo = "adm/index"
    index = _publish_index(tmp_path, registry, repo)
    wanted = f"{proxy.host}/{repo}:1"  # the name the image is pulled and judged as
    first, second = (d.digest for d in index.manifests)
    _sign(f"{registry}/{repo}", ":1", gpg_key, wanted, "signed-index")  # the index
    _sign(f"{registry}/{repo}", f"@{first}", gpg_key, wanted, "amd64")  # one instance
    write_policy(home.policy, policy_for(proxy.host, [signed_by(gpg_key)]))
    store = Store.open(tmp_path / "store")

    # the index and one instance are signed; the other instance is not
    proxy.reset()
    with pytest.raises(TrustError, match=f"index instance {second}: .*no simple signature"):
        _pull_all(store, wanted)
    assert proxy.blob_requests() == []
    manifests = [p for _, p in proxy.requests if "/manifests/" in p]
    assert any(first.hex in p for p in manifests) and any(second.hex in p for p in manifests)
    with pytest.raises(NotFound):
        store.lookup(wanted)
    assert store.list_images(all=True) == []
    assert _skopeo_accepts(home, wanted, tmp_path / "sk1") in (False, None)

    # signed by a key the policy does not trust: still refused, still no blob read
    _sign(f"{registry}/{repo}", f"@{second}", other_key, wanted, "arm64-other")
    proxy.reset()
    with pytest.raises(TrustError, match=f"index instance {second}: .*no signature was accepted"):
        _pull_all(store, wanted)
    assert proxy.blob_requests() == []
    assert store.list_images(all=True) == []
    assert _skopeo_accepts(home, wanted, tmp_path / "sk2") in (False, None)

    # every instance signed by the trusted key (beside the other one): accepted, blobs move
    _sign(f"{registry}/{repo}", f"@{second}", gpg_key, wanted, "arm64")
    proxy.reset()
    _pull_all(store, wanted)
    assert len(proxy.blob_requests()) >= 4
    assert store.lookup(wanted)
    assert _skopeo_accepts(home, wanted, tmp_path / "sk3") in (True, None)


def test_signed_instances_suffice_the_index_need_not_be_signed(
    tmp_path: Path, home: Home, registry: str, proxy: CountingProxy, gpg_key: GpgKey
) -> None:
    """Instances signed, the index not: accepted, by `--all` and by a one-platform pull, as
    containers/image accepts it (copy.Image → copyMultipleImages / the CopySystemImage
    branch: IsRunningImageAllowed runs in copySingleImage on each instance, never on the
    list)."""
    repo = "adm/index-top"
    index = _publish_index(tmp_path, registry, repo)
    wanted = f"{proxy.host}/{repo}:1"
    for i, desc in enumerate(index.manifests):
        _sign(f"{registry}/{repo}", f"@{desc.digest}", gpg_key, wanted, f"p{i}")
    write_policy(home.policy, policy_for(proxy.host, [signed_by(gpg_key)]))
    store = Store.open(tmp_path / "store")
    proxy.reset()
    _pull_all(store, wanted)
    assert len(proxy.blob_requests()) >= 4
    assert store.lookup(wanted)
    assert _skopeo_accepts(home, wanted, tmp_path / "sk") in (True, None)
    one = Store.open(tmp_path / "one")
    pull(one, wanted, registries=NO_CONF)
    assert one.lookup(wanted)
