"""Sigstore bundles stored in a registry as OCI 1.1 referrers of an image manifest.

Reading lists the referrers of a digest with artifact type
`application/vnd.dev.sigstore.bundle.v0.3+json` (`RegistrySource.referrers`: the referrers
API, else the `sha256-<hex>` tag schema) and reads each referrer's first layer with the
bundle media type. Writing pushes the artifact manifest (empty config, one bundle layer,
`subject`) by digest; when the registry has no referrers API (the new manifest is not
listed afterwards), the `sha256-<hex>` fallback index is updated as the distribution spec
says clients must.
"""

from __future__ import annotations

import io

from lamina import media_types as mt
from lamina.content import VerifyingReader
from lamina.digest import Digest
from lamina.errors import InvalidInput, NotFound
from lamina.oci import Descriptor, ImageIndex, ImageManifest
from lamina.transports.registry import RegistryReference, RegistrySource
from lamina.transports.registry.destination import RegistryDestination
from lamina.trust.bundle import ARTIFACT_TYPE, MAX_BUNDLE, MEDIA_TYPES, Bundle

EMPTY = b"{}"


def _read(src: RegistrySource, desc: Descriptor, what: str) -> bytes:
    if desc.size > MAX_BUNDLE:
        raise InvalidInput(f"{what}: {desc.size} bytes is more than the {MAX_BUNDLE} allowed")
    with VerifyingReader(src.open_blob(desc), desc.digest, desc.size, what) as reader:
        return reader.read()


def read_bundles(src: RegistrySource, digest: Digest) -> list[bytes]:
    """The bundle referrers of `digest` in `src`'s repository, as bundle blobs (the JSON);
    a referrer that is not a readable bundle is skipped (it never counts as a signature)."""
    out: list[bytes] = []
    for desc in src.referrers(digest, ARTIFACT_TYPE).manifests:
        what = f"{src.ref.ref.name}@{desc.digest} (bundle referrer of {digest})"
        try:
            raw, media_type = src.get_manifest(desc.digest)
            manifest = ImageManifest.parse(raw, media_type, what)
        except (InvalidInput, NotFound):
            continue
        if manifest.subject is None or manifest.subject.digest != digest:
            continue
        for layer in manifest.layers:
            if layer.media_type in MEDIA_TYPES:
                out.append(_read(src, layer, what))
                break
    return out


def referrer_manifest(subject: Descriptor, bundle: Bundle) -> ImageManifest:
    layer = Descriptor(
        media_type=ARTIFACT_TYPE, digest=Digest.of_bytes(bundle.raw), size=len(bundle.raw)
    )
    config = Descriptor(media_type=mt.OCI_EMPTY, digest=Digest.of_bytes(EMPTY), size=len(EMPTY))
    return ImageManifest.build(config, [layer], subject=subject, artifact_type=ARTIFACT_TYPE)


def write_bundle(ref: RegistryReference, subject: Descriptor, bundle: Bundle) -> Digest:
    """Push `bundle` as a referrer of `subject` in `ref`'s repository; returns its digest."""
    manifest = referrer_manifest(subject, bundle)
    dst = RegistryDestination(ref)
    src = RegistrySource(ref)
    try:
        for blob, desc in ((EMPTY, manifest.config), (bundle.raw, manifest.layers[0])):
            if not dst.has_blob(desc):
                dst.put_blob(io.BytesIO(blob), desc)
        dst.put_manifest(manifest.raw, mt.OCI_MANIFEST, instance=manifest.digest)
        listed = src.referrers(subject.digest)
        if all(d.digest != manifest.digest for d in listed.manifests):
            _add_to_fallback(ref, src, subject.digest, manifest)
        dst.commit()
        return manifest.digest
    finally:
        dst.close()
        src.close()


def _add_to_fallback(
    ref: RegistryReference, src: RegistrySource, subject: Digest, manifest: ImageManifest
) -> None:
    tag = f"{subject.algorithm}-{subject.hex}"
    try:
        raw, media_type = src.get_manifest_by_tag(tag)
        existing = list(ImageIndex.parse(raw, media_type, f"{ref.ref.name}:{tag}").manifests)
    except NotFound:
        existing = []
    entry = Descriptor(
        media_type=mt.OCI_MANIFEST,
        digest=manifest.digest,
        size=len(manifest.raw),
        artifact_type=ARTIFACT_TYPE,
    )
    index = ImageIndex.build([*existing, entry])
    tagged = RegistryDestination(RegistryReference(ref.ref.with_tag(tag), ref.options))
    try:
        tagged.put_manifest(index.raw, mt.OCI_INDEX)
        tagged.commit()
    finally:
        tagged.close()
