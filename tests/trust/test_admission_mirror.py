"""A pull through a registries.conf mirror is judged as the name the user asked for (as
containers/image judges its logical reference): the requested registry's policy scope
applies and the signature must name the requested image, wherever the bytes come from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import NotFound, TrustError
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull
from lamina.ops.trust import TrustOptions
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from tests.ops.images import image_layout
from tests.trust.conftest import GpgKey, Home, signed_by, write_policy
from tests.trust.proxy import CountingProxy

REQUESTED = "requested.invalid/team/app"


@pytest.fixture
def proxy(registry: str) -> Iterator[CountingProxy]:
    p = CountingProxy(registry)
    yield p
    p.close()


def _mirror_conf(tmp_path: Path, mirror: str) -> RegistriesConfig:
    path = tmp_path / "registries.conf"
    path.write_text(
        f'[[registry]]\nprefix = "{REQUESTED}"\nlocation = "{REQUESTED}"\n'
        f'[[registry.mirror]]\nlocation = "{mirror}/mirrored/app"\n'
    )
    return RegistriesConfig.load(path)


def _policy(docker: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    return {
        "default": [{"type": "reject"}],
        "transports": {"docker": docker, "lamina": {"": [{"type": "insecureAcceptAnything"}]}},
    }


def test_mirror_pull_is_judged_by_the_requested_name(
    tmp_path: Path, home: Home, registry: str, proxy: CountingProxy, gpg_key: GpgKey
) -> None:
    layout, img = image_layout(tmp_path, "src", seed=77)
    # the image sits on the mirror, signed as the requested name (as a mirror holds a copy)
    trust = TrustOptions(
        insecure_policy=True,
        sign_by=gpg_key.fingerprint,
        gpg_homedir=gpg_key.home,
        sign_identity=f"{REQUESTED}:1",
    )
    copy(f"oci:{layout}:v1", f"docker://{registry}/mirrored/app:1", None, CopyRequest(trust=trust))
    conf = _mirror_conf(tmp_path, proxy.host)
    store = Store.open(tmp_path / "store")

    # signedBy for the requested registry: accepted although the bytes came from the mirror
    write_policy(home.policy, _policy({"requested.invalid": [signed_by(gpg_key)]}))
    got = pull(store, f"{REQUESTED}:1", registries=conf)
    assert got[0].name == f"{REQUESTED}:1" and got[0].digest == img.digest()
    assert got[0].source.startswith(f"docker://{proxy.host}/mirrored/app")
    assert proxy.blob_requests()

    # the requested name is rejected: refused, even though the mirror's own scope accepts
    fresh = Store.open(tmp_path / "store-2")
    write_policy(
        home.policy,
        _policy(
            {
                "requested.invalid": [{"type": "reject"}],
                proxy.host: [{"type": "insecureAcceptAnything"}],
            }
        ),
    )
    proxy.reset()
    with pytest.raises(TrustError, match=r"requested\.invalid.*rejects"):
        pull(fresh, f"{REQUESTED}:1", registries=conf)
    assert proxy.blob_requests() == []
    with pytest.raises(NotFound):
        fresh.lookup(f"{REQUESTED}:1")

    # a signature that names the mirror's location, not the requested image: refused
    other = TrustOptions(
        insecure_policy=True,
        sign_by=gpg_key.fingerprint,
        gpg_homedir=gpg_key.home,
    )
    layout2, _ = image_layout(tmp_path, "src2", seed=78)
    copy(f"oci:{layout2}:v1", f"docker://{registry}/mirrored/app:1", None, CopyRequest(trust=other))
    write_policy(home.policy, _policy({"requested.invalid": [signed_by(gpg_key)]}))
    proxy.reset()
    with pytest.raises(TrustError, match=r"docker:requested\.invalid/team/app:1"):
        pull(fresh, f"{REQUESTED}:1", registries=conf)
    assert proxy.blob_requests() == []
