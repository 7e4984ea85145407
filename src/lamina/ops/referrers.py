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

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import NotFound
from lamina.oci import Descriptor, ImageIndex, ImageManifest

if TYPE_CHECKING:
    from lamina.transports.registry.destination import RegistryDestination
    from lamina.transports.registry.reference import RegistryReference
    from lamina.transports.registry.source import RegistrySource

MAX_DEPTH = 3


def copy_referrers(
    src_ref: RegistryReference, dst_ref: RegistryReference, subjects: Iterable[Digest]
) -> list[Digest]:
    """Copy the referrers of each of `subjects` (and theirs); the digests copied."""
    src: RegistrySource = src_ref.new_source()  # type: ignore[assignment]
    dst: RegistryDestination = dst_ref.new_destination()  # type: ignore[assignment]
    same_registry = src_ref.registry == dst_ref.registry
    copied: list[Digest] = []
    try:
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
                _copy_one(src, dst, desc, subject, src_ref.repository if same_registry else None)
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
    raw, media_type = src.get_manifest(desc.digest)
    what = f"referrer {desc.digest}"
    if media_type in (mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST):
        blobs: list[Descriptor] = []
        for child in ImageIndex.parse(raw, media_type, what).manifests:
            child_raw, child_type = src.get_manifest(child.digest)
            blobs = _blobs(child_raw, child_type, what)
            _put_blobs(src, dst, blobs, mount_from)
            dst.put_manifest(child_raw, child_type, instance=child.digest)
    else:
        _put_blobs(src, dst, _blobs(raw, media_type, what), mount_from)
    if not _put_manifest(dst, raw, media_type, str(desc.digest)):
        _update_fallback_tag(dst, desc, raw, media_type, subject)


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


def _put_manifest(dst: RegistryDestination, raw: bytes, media_type: str, target: str) -> bool:
    """PUT a manifest at `target` (a digest or tag); whether the registry answered with
    `OCI-Subject` (it keeps the referrers index itself)."""
    from lamina.transports.registry.auth import scope_for
    from lamina.transports.registry.client import release

    resp = dst.client.request(
        "PUT",
        f"/v2/{dst.repo}/manifests/{target}",
        scopes=[scope_for(dst.repo, "pull,push")],
        what=f"pushing referrer {dst.ref.ref.name}:{target}".replace(":sha", "@sha"),
        headers={"Content-Type": media_type},
        body=raw,
        ok=(201,),
    )
    release(resp)
    return "OCI-Subject" in resp.headers


def _tag_index(dst: RegistryDestination, tag: str) -> list[Descriptor]:
    from lamina.transports.registry.reference import RegistryReference
    from lamina.transports.registry.source import RegistrySource

    ref = RegistryReference(dst.ref.ref.with_tag(tag), dst.ref.options)
    try:
        raw, media_type = RegistrySource(ref, dst.client).get_manifest()
    except NotFound:
        return []
    return list(ImageIndex.parse(raw, media_type, f"tag {tag}").manifests)


def _update_fallback_tag(
    dst: RegistryDestination,
    desc: Descriptor,
    raw: bytes,
    media_type: str,
    subject: Digest,
) -> None:
    """Add `desc` (with the manifest's artifactType and annotations, as the referrers API
    would list it) to the destination's `<alg>-<hex>` tag index."""
    tag = f"{subject.algorithm}-{subject.hex}"
    entries = _tag_index(dst, tag)
    if any(e.digest == desc.digest for e in entries):
        return
    doc = json.loads(raw)
    entry: dict[str, object] = {
        "mediaType": media_type,
        "digest": str(desc.digest),
        "size": len(raw),
    }
    artifact = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
    if artifact:
        entry["artifactType"] = artifact
    if isinstance(doc.get("annotations"), dict):
        entry["annotations"] = doc["annotations"]
    manifests = [e.to_json() for e in entries] + [entry]
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": manifests},
        separators=(",", ":"),
    ).encode()
    _put_manifest(dst, body, mt.OCI_INDEX, tag)
