"""`copy --all` registry to registry takes the image's referrers along (an SBOM and a
signature of that SBOM here), through the referrers API on lamina's registry and through the
`sha256-<hex>` tag fallback on Distribution 2.8; without --all, or when the copy changes
the image's digest, they stay behind."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.copy.parallel import CopyOptions
from lamina.digest import Digest
from lamina.errors import InvalidInput
from lamina.image.model import Image
from lamina.oci import Descriptor
from lamina.ops.copying import CopyRequest, copy
from lamina.transports.registry.destination import RegistryDestination
from lamina.transports.registry.reference import RegistryReference
from lamina.transports.registry.source import RegistrySource
from tests.ops.images import image_layout
from tests.server.servers import Server
from tests.transports.registry.servers import Distribution

EMPTY = b"{}"
ALL = CopyRequest(copy=CopyOptions(multi_arch="all"))


def _source(location: str) -> RegistrySource:
    return RegistrySource(RegistryReference.parse(location))


def _push_artifact(location: str, subject: Descriptor, kind: str, body: bytes) -> Descriptor:
    """Push an artifact manifest whose subject is `subject`, and list it under the fallback
    tag when the registry does not keep referrers itself."""
    dst = RegistryDestination(RegistryReference.parse(location))
    try:
        config = Descriptor(media_type=mt.OCI_EMPTY, digest=Digest.of_bytes(EMPTY), size=2)
        layer = Descriptor(media_type=kind, digest=Digest.of_bytes(body), size=len(body))
        for desc, data in ((config, EMPTY), (layer, body)):
            dst.put_blob(io.BytesIO(data), desc)
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "artifactType": kind,
            "config": config.to_json(),
            "layers": [layer.to_json()],
            "subject": subject.to_json(),
        }
        raw = json.dumps(doc, separators=(",", ":")).encode()
        digest = Digest.of_bytes(raw)
        desc = Descriptor(
            media_type=mt.OCI_MANIFEST, digest=digest, size=len(raw), artifact_type=kind
        )
        dst.put_manifest(raw, mt.OCI_MANIFEST, instance=digest)
    finally:
        dst.close()
    src = _source(location)
    try:
        if not src.referrers(subject.digest).manifests:  # Distribution 2.8: no referrers API
            index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [desc.to_json()]}
            tag = f"sha256-{subject.digest.hex}"
            name = location.rsplit(":", 1)[0]
            tagged = RegistryDestination(RegistryReference.parse(f"{name}:{tag}"))
            try:
                tagged.put_manifest(json.dumps(index).encode(), mt.OCI_INDEX)
            finally:
                tagged.close()
    finally:
        src.close()
    return desc


def _pushed(
    tmp_path: Path, location: str, *, seed: int, name: str = "src"
) -> tuple[Image, Descriptor]:
    """An image pushed to `location` (HOST/REPO:TAG), and its manifest's descriptor (the
    subject its referrers name)."""
    layout, img = image_layout(tmp_path, name, seed=seed)
    copy(f"oci:{layout}:v1", f"docker://{location}", None)
    size = len(img.raw_manifest())
    return img, Descriptor(media_type=mt.OCI_MANIFEST, digest=img.digest(), size=size)


def _referrers(location: str, digest: Digest) -> list[Digest]:
    src = _source(location)
    try:
        return [d.digest for d in src.referrers(digest).manifests]
    finally:
        src.close()


def test_copy_all_takes_referrers_along(any_host: str, repo: str, tmp_path: Path) -> None:
    here = f"{any_host}/{repo}"
    img, subject = _pushed(tmp_path, f"{here}:v1", seed=5)
    sbom = _push_artifact(here + ":v1", subject, "application/spdx+json", b'{"spdx":1}')
    sig = _push_artifact(here + ":v1", sbom, "application/vnd.example.sig", b"signed")
    assert _referrers(here + ":v1", img.digest()) == [sbom.digest]

    copy(f"docker://{here}:v1", f"docker://{here}-mirror:v1", None, ALL)
    assert _referrers(f"{here}-mirror:v1", img.digest()) == [sbom.digest]
    assert _referrers(f"{here}-mirror:v1", sbom.digest) == [sig.digest]
    # the artifact itself arrived whole: its manifest and blobs read back and verify
    src = _source(f"{here}-mirror@{sbom.digest}")
    try:
        raw, _ = src.get_manifest()
        assert Digest.of_bytes(raw) == sbom.digest
        layer = json.loads(raw)["layers"][0]
        with src.open_blob(Descriptor.from_json(layer, "layer")) as f:
            assert f.read() == b'{"spdx":1}'
    finally:
        src.close()

    # a second copy finds everything there and adds no duplicate entry
    copy(f"docker://{here}:v1", f"docker://{here}-mirror:v1", None, ALL)
    assert _referrers(f"{here}-mirror:v1", img.digest()) == [sbom.digest]


def test_copy_all_reads_the_source_manifest_once(
    lamina_reg: Server, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The referrers step checks the digest against the manifest the copy read; it does
    not fetch the source's top manifest a second time."""
    here = f"{lamina_reg.host}/{repo}"
    img, subject = _pushed(tmp_path, f"{here}:v1", seed=7)
    sbom = _push_artifact(here + ":v1", subject, "application/spdx+json", b'{"spdx":3}')
    tops: list[str] = []
    real = RegistrySource.get_manifest

    def counting(self: RegistrySource, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None:
            tops.append(self.describe())
        return real(self, digest)

    monkeypatch.setattr(RegistrySource, "get_manifest", counting)
    copy(f"docker://{here}:v1", f"docker://{here}-once:v1", None, ALL)
    assert tops == [f"docker://{here}:v1"]
    assert _referrers(f"{here}-once:v1", img.digest()) == [sbom.digest]


def test_a_syncs_referrers_go_through_its_shared_clients(
    lamina_reg: Server, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sync's references share one client per registry: the referrers step uses it too
    (no client, connection or token of its own)."""
    from lamina.ops.copying import copy_refs
    from lamina.ops.sync_clients import Clients, Shared
    from lamina.transports.registry.client import RegistryClient

    here = f"{lamina_reg.host}/{repo}"
    img, subject = _pushed(tmp_path, f"{here}:v1", seed=8)
    sbom = _push_artifact(here + ":v1", subject, "application/spdx+json", b'{"spdx":4}')
    made: list[str] = []
    real_init = RegistryClient.__init__

    def counting(self: RegistryClient, *args: object, **kwargs: object) -> None:
        made.append(str(args[:1]))
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(RegistryClient, "__init__", counting)
    clients = Clients()
    try:
        src = Shared(RegistryReference.parse(f"{here}:v1"), clients)
        dst = Shared(RegistryReference.parse(f"{here}-synced:v1"), clients)
        copy_refs(src, dst, ALL)
    finally:
        clients.close()
    assert len(made) == 1  # one registry, one set of options: one client for everything
    monkeypatch.undo()
    assert _referrers(f"{here}-synced:v1", img.digest()) == [sbom.digest]


def test_copy_without_all_leaves_referrers(any_host: str, repo: str, tmp_path: Path) -> None:
    here = f"{any_host}/{repo}"
    img, subject = _pushed(tmp_path, f"{here}:v1", seed=6)
    _push_artifact(here + ":v1", subject, "application/spdx+json", b'{"spdx":2}')
    copy(f"docker://{here}:v1", f"docker://{here}-plain:v1", None)
    assert _referrers(f"{here}-plain:v1", img.digest()) == []
    # converted to Docker schema 2, the image has a new digest: its referrers stay behind
    conv = CopyRequest(copy=CopyOptions(multi_arch="all", manifest_format="v2s2"))
    got = copy(f"docker://{here}:v1", f"docker://{here}-v2s2:v1", None, conv)
    assert got != img.digest()
    assert _referrers(f"{here}-v2s2:v1", img.digest()) == []


@pytest.mark.interop
def test_a_listed_referrer_whose_subject_differs_is_refused(
    distribution: Distribution, repo: str, tmp_path: Path
) -> None:
    """The fallback tag is only a source's word: a manifest listed there whose own subject
    is another image is refused, naming both, and is not copied."""
    here = f"{distribution.host}/{repo}"
    _, a = _pushed(tmp_path, f"{here}:a", seed=7, name="a")
    _, b = _pushed(tmp_path, f"{here}:b", seed=8, name="b")
    sbom = _push_artifact(here + ":b", b, "application/spdx+json", b'{"spdx":3}')
    tag = f"sha256-{a.digest.hex}"  # a's fallback tag lists b's SBOM
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [sbom.to_json()]}
    lying = RegistryDestination(RegistryReference.parse(f"{here}:{tag}"))
    try:
        lying.put_manifest(json.dumps(index).encode(), mt.OCI_INDEX)
    finally:
        lying.close()
    with pytest.raises(InvalidInput, match=f"its manifest names {b.digest}"):
        copy(f"docker://{here}:a", f"docker://{here}-mirror:a", None, ALL)
    assert _referrers(f"{here}-mirror:a", a.digest) == []
