"""The seams every transport implements: a reference, a source and a destination.

Contracts:
- A source's `open_blob` returns the blob's bytes; callers (the image model, copy) wrap them in
  a VerifyingReader, so a source need not verify twice — but a source that hands out bytes
  it cannot vouch for never caches them as good.
- A destination's `put_blob` must verify size and digest before the blob becomes visible, and
  leave nothing behind on failure. Nothing is visible at all until `commit()` where the
  format allows (archives are written to a temp file and renamed).
"""

from __future__ import annotations

from typing import BinaryIO, Literal, Protocol, runtime_checkable

from lamina.digest import Digest
from lamina.oci import Descriptor
from lamina.reference import Reference


@runtime_checkable
class ImageSource(Protocol):
    def describe(self) -> str:
        """The transport string this source reads, for messages (`oci:/x:tag`)."""
        ...

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        """The raw manifest and its media type: the reference's own when `digest` is None,
        else the manifest (or index child) with that digest."""
        ...

    def open_blob(self, desc: Descriptor) -> BinaryIO: ...

    def signatures(self, digest: Digest) -> list[bytes]:
        """Simple-signing signatures stored with the image (empty where the format has none)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ImageDestination(Protocol):
    def describe(self) -> str: ...

    def has_blob(self, desc: Descriptor) -> bool: ...

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        """Store a blob, verifying it against `desc` before it becomes visible."""
        ...

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        """Store a manifest. `instance` set means a child of an index (untagged); otherwise this
        is the top-level manifest that the destination reference names."""
        ...

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None: ...

    def commit(self) -> None:
        """Make everything visible (rename archives into place, write index/tags)."""
        ...

    def close(self) -> None:
        """Release resources; after a failure without commit, remove partial output."""
        ...


class ImageReference(Protocol):
    """A parsed transport string that can open a source or a destination."""

    @property
    def transport(self) -> str: ...

    def describe(self) -> str: ...

    def new_source(self) -> ImageSource: ...

    def new_destination(self) -> ImageDestination: ...


# Optional capabilities (DESIGN.md convention 7): small protocols a transport declares and
# callers detect with isinstance, instead of probing attributes or naming transports.


@runtime_checkable
class VerifiesOnPut(Protocol):
    """A destination whose `put_blob` checks size and digest before the blob is visible
    (keeping nothing that fails), so a caller may hand it bytes it has not hashed."""

    verifies_on_put: Literal[True]


@runtime_checkable
class ConcurrentBlobs(Protocol):
    """A source or destination whose blob methods (`open_blob`; `has_blob`, `put_blob`)
    may run on several threads at once."""

    concurrent_blobs: Literal[True]


@runtime_checkable
class MountsBlobs(Protocol):
    """A destination that can link a blob from another repository of its registry."""

    def mount_blob(self, desc: Descriptor, from_repository: str) -> bool:
        """Link `desc` from `from_repository` without moving its bytes; True if it did."""
        ...


@runtime_checkable
class NamesRepository(Protocol):
    """A reference to one repository of one registry (what a cross-repository mount needs
    to know of its two ends)."""

    @property
    def registry(self) -> str: ...

    @property
    def repository(self) -> str: ...


@runtime_checkable
class ManifestTypeLimited(Protocol):
    """A destination that can store only some manifest types at all."""

    def supported_manifest_types(self) -> frozenset[str]: ...


@runtime_checkable
class DockerNamed(Protocol):
    """A reference whose image is known by a Docker reference (a registry's name, the
    store's): the identity its signatures name."""

    def docker_reference(self) -> Reference | None:
        """The Docker reference (None when this one has none, e.g. an image ID)."""
        ...


@runtime_checkable
class KeepsBundles(Protocol):
    """A destination whose `put_signatures` keeps Sigstore bundles (lamina's own store);
    others are handed simple and cosign signatures only."""

    keeps_bundles: Literal[True]


@runtime_checkable
class GzipLayersOnly(Protocol):
    """A destination whose readers cannot decompress zstd layers (`docker load` reads gzip
    or plain ones): a copy writes such an image as Docker schema2 with gzip layers, unless
    zstd is asked for."""

    gzip_layers_only: Literal[True]
