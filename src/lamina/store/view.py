"""Lazy images read back from the store: blobs from the BlobStore, manifests by digest.

Every byte handed out is verified by the image model (VerifyingReader) as it is read.
"""

from __future__ import annotations

from typing import BinaryIO

from lamina.content import BlobStore
from lamina.digest import Digest
from lamina.errors import ErrorCode, NotFound
from lamina.oci import Descriptor
from lamina.oci.manifest import detect_media_type


class StoreBlobSource:
    """A `ManifestSource` over the store's BlobStore."""

    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open(desc.digest)

    def get_manifest(self, digest: Digest) -> tuple[bytes, str]:
        try:
            raw = self._blobs.read_bytes(digest, limit=4 << 20)
        except NotFound:
            raise NotFound(
                f"manifest {digest} is not in the store", code=ErrorCode.MANIFEST_UNKNOWN
            ) from None
        return raw, detect_media_type(raw, f"manifest {digest}")
