"""Copying an image's referrers — OCI 1.1 artifacts whose `subject` is the image: Sigstore
bundles, SBOMs, attestations — along with the image, from registry to registry, as
`lamina copy --all` and `lamina sync --all` do (and regclient/oras do), when the copy kept
the image's digests (a referrer names its subject by digest).

The source's referrers are found through the referrers API or its tag-schema fallback
(`lamina.transports.registry.source.referrers`); each referrer manifest is copied by digest
with its blobs (skipped when the destination has them, mounted when both are the same
registry), then its own referrers (a signature of an SBOM), three levels deep. A destination
that does not answer the push of a manifest with a subject with `OCI-Subject` (no referrers
API, as Distribution 2.8) gets the fallback: the `<alg>-<hex>` tag's index is updated with
the referrer's descriptor, as the distribution spec asks of clients.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.oci import Descriptor, ImageIndex, ImageManifest, parse_any
from lamina.transports.registry.destination import RegistryDestination
from lamina.transports.registry.source import RegistrySource

if TYPE_CHECKING:
    from lamina.transports.base import ImageReference

MAX_DEPTH = 3


def copy_referrers(
    src_ref: ImageReference, dst_ref: ImageReference, subjects: Iterable[Digest]
) -> list[Digest]:
    """Copy the referrers of each of `subjects` (and theirs); the digests copied. The two
    references are `docker://` ones: plain, or a sync's (whose clients are shared)."""
    src = src_ref.new_source()
    dst = dst_ref.new_destination()
    copied: list[Digest] = []
    try:
        assert isinstance(src, RegistrySource) and isinstance(dst, RegistryDestination)
        same_registry = src.ref.registry == dst.ref.registry
        todo = [(d, 0) for d in subjects]
        seen: set[Digest] = set()
        while todo:
            subject, depth = todo.pop(0)
            if subject in seen or depth >= MAX_DEPTH:
                continue
            seen.add(subject)
            for desc in src.referrers(subject).manifests:
                if desc.digest in seen:
                    continue
                _copy_one(src, dst, desc, subject, src.ref.repository if same_registry else None)
                copied.append(desc.digest)
                todo.append((desc.digest, depth + 1))
        dst.commit()
    finally:
        src.close()
        dst.close()
    return copied


def children(raw: bytes, media_type: str) -> list[Digest]:
    """The child manifests of an index (none for an image manifest)."""
    if media_type in (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST):
        return [d.digest for d in ImageIndex.parse(raw, media_type, "index").manifests]
    return []


def _copy_one(
    src: RegistrySource,
    dst: RegistryDestination,
    desc: Descriptor,
    subject: Digest,
    mount_from: str | None,
) -> None:
    raw, media_type = src.get_manifest(desc.digest)  # verified against desc.digest
    what = f"referrer {desc.digest} of {subject}"
    parsed = parse_any(raw, media_type, what)
    if parsed.subject is None or parsed.subject.digest != subject:
        named = parsed.subject.digest if parsed.subject is not None else "no subject"
        raise InvalidInput(
            f"{what}: the source lists it as a referrer, but its manifest names {named}",
            code=ErrorCode.MANIFEST_INVALID,
        )
    if isinstance(parsed, ImageIndex):
        for child in parsed.manifests:
            child_raw, child_type = src.get_manifest(child.digest)
            _put_blobs(src, dst, _blobs(child_raw, child_type, what), mount_from)
            dst.put_manifest(child_raw, child_type, instance=child.digest)
    else:
        _put_blobs(src, dst, [parsed.config, *parsed.layers], mount_from)
    if not dst.put_manifest_at(str(desc.digest), raw, media_type, expected=desc.digest):
        _update_fallback_tag(dst, desc.digest, parsed, media_type, len(raw), subject)


def _blobs(raw: bytes, media_type: str, what: str) -> list[Descriptor]:
    m = ImageManifest.parse(raw, media_type, what)
    return [m.config, *m.layers]


def _put_blobs(
    src: RegistrySource,
    dst: RegistryDestination,
    blobs: list[Descriptor],
    mount_from: str | None,
) -> None:
    for blob in blobs:
        if dst.has_blob(blob):
            continue
        if mount_from is not None and dst.mount_blob(blob, mount_from):
            continue
        with src.open_blob(blob) as stream:
            dst.put_blob(stream, blob)


def _update_fallback_tag(
    dst: RegistryDestination,
    digest: Digest,
    parsed: ImageManifest | ImageIndex,
    media_type: str,
    size: int,
    subject: Digest,
) -> None:
    """Add the referrer to the destination's `<alg>-<hex>` tag index, described as the
    referrers API would list it (artifactType, else an image manifest's config type, and
    the manifest's annotations)."""
    tag = f"{subject.algorithm}-{subject.hex}"
    try:  # the destination's own client: no second login
        old_raw, old_type = RegistrySource(dst.ref, dst.client).get_manifest_by_tag(tag)
        entries = list(ImageIndex.parse(old_raw, old_type, f"tag {tag}").manifests)
    except NotFound:
        entries = []
    if any(e.digest == digest for e in entries):
        return
    artifact = parsed.artifact_type
    if artifact is None and isinstance(parsed, ImageManifest):
        artifact = parsed.config.media_type
    entry = Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        artifact_type=artifact,
        annotations=parsed.annotations,
    )
    index = ImageIndex.build([*entries, entry])
    dst.put_manifest_at(tag, index.raw, index.media_type)
