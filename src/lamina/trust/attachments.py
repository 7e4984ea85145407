"""Sigstore attachments: cosign signatures stored in the registry as the image
`<repo>:sha256-<hex>.sig`, one layer per signature.

Each layer's blob is the payload, its media type the signature's MIME type and its
annotations the signature's annotations; the config is a minimal OCI config whose
`rootfs.diff_ids` lists the layers. A new signature is appended to the existing image (a
layer equal to it is not added twice), as containers/image does it.
"""

from __future__ import annotations

import io
import json
from typing import Any

from lamina import media_types as mt
from lamina.content import VerifyingReader
from lamina.digest import Digest
from lamina.errors import InvalidInput, NotFound
from lamina.oci import Descriptor, ImageManifest
from lamina.oci.jsonio import dump
from lamina.transports.registry import RegistryReference, RegistrySource
from lamina.transports.registry.destination import RegistryDestination
from lamina.trust.cosign import CosignSignature, signature_tag

MAX_PAYLOAD = 4 << 20
MAX_CONFIG = 4 << 20


def _read(src: RegistrySource, desc: Descriptor, limit: int, what: str) -> bytes:
    if desc.size > limit:
        raise InvalidInput(f"{what}: {desc.size} bytes is more than the {limit} allowed")
    with VerifyingReader(src.open_blob(desc), desc.digest, desc.size, what) as reader:
        return reader.read()


def _manifest(src: RegistrySource, digest: Digest) -> ImageManifest | None:
    tag = signature_tag(digest)
    try:
        raw, media_type = src.get_manifest_by_tag(tag)
    except NotFound:
        return None
    return ImageManifest.parse(raw, media_type, f"{src.ref.ref.name}:{tag}")


def read_attachments(src: RegistrySource, digest: Digest) -> list[CosignSignature]:
    """The cosign signatures attached to `digest` in `src`'s repository (none if no tag)."""
    manifest = _manifest(src, digest)
    if manifest is None:
        return []
    out = []
    for i, layer in enumerate(manifest.layers):
        what = f"{src.ref.ref.name}:{signature_tag(digest)} layer {i}"
        payload = _read(src, layer, MAX_PAYLOAD, what)
        out.append(
            CosignSignature(
                mime_type=layer.media_type,
                payload=payload,
                annotations=dict(layer.annotations or {}),
            )
        )
    return out


def _same(layer: Descriptor, sig: CosignSignature) -> bool:
    return (
        layer.media_type == sig.mime_type
        and layer.size == len(sig.payload)
        and layer.digest == Digest.of_bytes(sig.payload)
        and dict(layer.annotations or {}) == sig.annotations
    )


def write_attachments(
    ref: RegistryReference, digest: Digest, signatures: list[CosignSignature]
) -> Digest | None:
    """Append `signatures` to the `.sig` image of `digest` in `ref`'s repository; returns
    the new signature manifest's digest (None when every signature was already there)."""
    if not signatures:
        return None
    tagged = RegistryReference(ref.ref.with_tag(signature_tag(digest)), ref.options)
    src = RegistrySource(tagged)
    dst = RegistryDestination(tagged)
    try:
        existing = _manifest(src, digest)
        layers = list(existing.layers) if existing is not None else []
        config: dict[str, Any] = {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
        if existing is not None:
            what = f"{ref.ref.name}:{signature_tag(digest)} config"
            config = json.loads(_read(src, existing.config, MAX_CONFIG, what))
            if not isinstance(config.get("rootfs"), dict):
                config["rootfs"] = {"type": "layers", "diff_ids": []}
        diff_ids = list(config["rootfs"].get("diff_ids") or [])
        added = False
        for sig in signatures:
            if any(_same(layer, sig) for layer in layers):
                continue
            desc = Descriptor(
                media_type=sig.mime_type,
                digest=Digest.of_bytes(sig.payload),
                size=len(sig.payload),
            )
            if not dst.has_blob(desc):
                dst.put_blob(io.BytesIO(sig.payload), desc)
            layers.append(desc.with_annotations(dict(sig.annotations)))
            diff_ids.append(str(desc.digest))
            added = True
        if not added:
            return None
        config["rootfs"]["diff_ids"] = diff_ids
        config_raw = dump(config)
        config_desc = Descriptor(
            media_type=mt.OCI_CONFIG, digest=Digest.of_bytes(config_raw), size=len(config_raw)
        )
        if not dst.has_blob(config_desc):
            dst.put_blob(io.BytesIO(config_raw), config_desc)
        manifest = ImageManifest.build(config_desc, layers)
        dst.put_manifest(manifest.raw, mt.OCI_MANIFEST)
        dst.commit()
        return manifest.digest
    finally:
        dst.close()
        src.close()
