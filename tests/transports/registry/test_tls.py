"""TLS: a registry with a self-signed CA, trusted through a certs.d-style directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from lamina.content.blobstore import BlobStore
from lamina.errors import TransportError
from lamina.image import model
from lamina.image.validate import validate
from lamina.transports.registry import RegistryClient, RegistryOptions, RegistryReference
from tests.transports.registry.images import make_image, push_image
from tests.transports.registry.servers import Distribution, TLSFiles

pytestmark = pytest.mark.interop


def test_ca_from_cert_dir(
    tls_distribution: Distribution, tls_files: TLSFiles, store: BlobStore, tmp_path: Path
) -> None:
    certs = tmp_path / "certs.d" / tls_distribution.host
    certs.mkdir(parents=True)
    shutil.copy(tls_files.ca, certs / "ca.crt")
    opts = RegistryOptions(cert_dir=str(certs))
    client = RegistryClient(tls_distribution.host, opts)
    assert client.base == f"https://{tls_distribution.host}"
    img = make_image(store, seed=77)
    target = f"docker://{tls_distribution.host}/secure/app:v1"
    push_image(img, RegistryReference.parse(target, opts).new_destination())
    src = RegistryReference.parse(target, opts).new_source()
    raw, media_type = src.get_manifest()
    assert raw == img.raw_manifest()
    validate(model.load(raw, src, media_type))


def test_untrusted_certificate_is_a_clear_error(tls_distribution: Distribution) -> None:
    target = f"docker://{tls_distribution.host}/secure/app:v1"
    with pytest.raises(TransportError) as err:
        RegistryReference.parse(target).new_source().get_manifest()
    assert "TLS" in str(err.value) and tls_distribution.host in str(err.value)
    assert not err.value.retryable
    assert err.value.hint is not None and "certs.d" in err.value.hint


def test_tls_verify_false(tls_distribution: Distribution, store: BlobStore) -> None:
    opts = RegistryOptions(tls_verify=False)
    client = RegistryClient(tls_distribution.host, opts)
    assert client.base == f"https://{tls_distribution.host}"
    img = make_image(store, seed=78)
    target = f"docker://{tls_distribution.host}/secure/noverify:v1"
    push_image(img, RegistryReference.parse(target, opts).new_destination())
    assert RegistryReference.parse(target, opts).new_source().get_manifest()[0] == (
        img.raw_manifest()
    )


def test_plain_http_only_for_insecure_or_loopback(distribution: Distribution) -> None:
    assert RegistryClient(distribution.host, RegistryOptions()).base.startswith("http://")
    remote = RegistryClient("registry.invalid:5000", RegistryOptions())
    assert not remote.allow_http
    assert RegistryClient("registry.invalid:5000", RegistryOptions(insecure=True)).allow_http


def test_forwarding_between_tls_and_plain_registries(
    tls_distribution: Distribution, distribution: Distribution, store: BlobStore
) -> None:
    """registry → registry with TLS on one side, both ways (the bytes forwarded without a
    hash: the destination registry checks them)."""
    from lamina.copy.parallel import copy_with
    from lamina.transports.registry.destination import MONOLITHIC_MAX

    secure = RegistryOptions(tls_verify=False)
    img = make_image(store, seed=79, payload=MONOLITHIC_MAX + 700_000)
    assert img.manifest().layers[0].size > MONOLITHIC_MAX  # the streamed upload
    plain = RegistryReference.parse(f"docker://{distribution.host}/fwd/plain:v1")
    push_image(img, plain.new_destination())
    tls = RegistryReference.parse(f"docker://{tls_distribution.host}/fwd/tls:v1", secure)
    back = RegistryReference.parse(f"docker://{distribution.host}/fwd/back:v1")
    assert copy_with(plain, tls) == img.digest()
    assert copy_with(tls, back) == img.digest()
    for ref in (tls, back):
        src = ref.new_source()
        raw, media_type = src.get_manifest()
        assert raw == img.raw_manifest()
        validate(model.load(raw, src, media_type))


def test_a_sync_checks_over_tls_against_distribution(
    tls_distribution: Distribution,
    tls_files: TLSFiles,
    store: BlobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The up-to-date checks of a re-sync are concurrent manifest HEADs on kept-alive TLS
    connections to Distribution (Go's HTTP server), and they find every image in place."""
    from lamina.ops.sync import COPIED, SKIPPED, SyncOptions, sync

    host = tls_distribution.host
    certs = tmp_path / "certs.d" / host
    certs.mkdir(parents=True)
    shutil.copy(tls_files.ca, certs / "ca.crt")
    opts = RegistryOptions(cert_dir=str(certs))
    tags = [f"t{i}" for i in range(60)]
    img = make_image(store, seed=78)
    for tag in tags:
        push_image(
            img, RegistryReference.parse(f"docker://{host}/tls/src:{tag}", opts).new_destination()
        )
    options = SyncOptions(src="docker", dest="docker", src_options=opts, dst_options=opts)
    first = sync(f"{host}/tls/src", f"{host}/tls-mirror", options)
    assert first.count(COPIED) == len(tags)
    alone: list[str] = []
    request = RegistryClient.request

    def counted(self: RegistryClient, method: str, path: str, **kw: Any) -> Any:
        alone.append(f"{method} {path}")
        return request(self, method, path, **kw)

    monkeypatch.setattr(RegistryClient, "request", counted)
    again = sync(f"{host}/tls/src", f"{host}/tls-mirror", options)
    assert again.count(SKIPPED) == len(tags)
    # The tag list, then one manifest HEAD per image at each end, and nothing else.
    assert sorted(alone) == sorted(
        ["GET /v2/tls/src/tags/list"]
        + [f"HEAD /v2/tls/src/manifests/{tag}" for tag in tags]
        + [f"HEAD /v2/tls-mirror/src/manifests/{tag}" for tag in tags]
    )
    assert {item.digest for item in again.items} == {str(img.digest())}
