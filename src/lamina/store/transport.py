"""The store as a transport: `lamina:NAME` (short names, IDs and `name@digest` for reading).

The source reads from the store's blobs (the image model and copy verify what they read).
The destination holds the store's shared gc lock from its creation until `commit`/`close`,
writes blobs verified through the BlobStore, and at `commit` registers the top-level manifest
under the reference's name (an index with its children as unnamed entries, which
`put_manifest(..., instance=…)` must have delivered). Closed without commit, it removes the
blobs it added if nothing else references them.
"""

from __future__ import annotations

import contextlib
from typing import BinaryIO, Literal

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.image.model import BlobSourceImage, BlobSourceIndex
from lamina.oci import Descriptor
from lamina.oci.manifest import detect_media_type
from lamina.reference import Reference
from lamina.store.names import parse_query, split_new_names
from lamina.store.records import StoredImage
from lamina.store.store import Store
from lamina.store.view import StoreBlobSource

PREFIX = "lamina"


class StoreReference:
    """`lamina:NAME` in one store. An empty name is allowed for a destination only (the
    image is stored dangling); so is `HOST/REPO@DIGEST` (a pull by digest: the image is
    stored without a tag, found by that name)."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name

    @staticmethod
    def parse(store: Store, text: str) -> StoreReference:
        """Parse `NAME` or `lamina:NAME`; raise InvalidInput if NAME is malformed."""
        name = text.removeprefix(f"{PREFIX}:")
        if name:
            parse_query(name)
        return StoreReference(store, name)

    @property
    def transport(self) -> str:
        return PREFIX

    def describe(self) -> str:
        return f"{PREFIX}:{self.name}"

    def docker_reference(self) -> Reference | None:
        """The name as a Docker reference (None for an image ID or no name)."""
        try:
            return Reference.parse(self.name) if self.name else None
        except InvalidInput:
            return None

    def new_source(self) -> StoreSource:
        if not self.name:
            raise InvalidInput(
                f"{self.describe()}: name an image to read", hint="e.g. lamina:localhost/app:1"
            )
        return StoreSource(self.store, self.store.lookup(self.name), self.describe())

    def new_destination(self) -> StoreDestination:
        names: list[str] = []
        if self.name:  # a name (or `REPO@DIGEST`, a pull by digest) checked before any copy
            tagged, _ = split_new_names([self.name])
            names = tagged or [self.name]
        return StoreDestination(self.store, names, self.describe())


class StoreSource:
    concurrent_blobs: Literal[True] = True

    def __init__(self, store: Store, entry: StoredImage, description: str) -> None:
        self._store = store
        self._entry = entry
        self._description = description
        self._blobs = StoreBlobSource(store.blobs)

    def describe(self) -> str:
        return self._description

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None or digest == self._entry.manifest_digest:
            raw, _ = self._blobs.get_manifest(self._entry.manifest_digest)
            return raw, self._entry.media_type
        owner = self._store.manifest_entry(digest)
        if owner is None or not (
            owner == self._entry.id or self._store.is_child(self._entry.id, owner)
        ):
            raise NotFound(
                f"{self._description}: manifest {digest} is not part of this image",
                code=ErrorCode.MANIFEST_UNKNOWN,
            )
        return self._blobs.get_manifest(digest)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self._blobs.open_blob(desc)

    def signatures(self, digest: Digest) -> list[bytes]:
        return self._store.signatures(digest)

    def close(self) -> None:
        pass


class StoreDestination:
    verifies_on_put: Literal[True] = True  # the BlobStore verifies before the rename
    concurrent_blobs: Literal[True] = True
    keeps_bundles: Literal[True] = True  # put_signatures stores Sigstore bundles too

    def __init__(self, store: Store, names: list[str], description: str) -> None:
        self._store = store
        self._names = names
        self._description = description
        self._lock = contextlib.ExitStack()
        self._lock.enter_context(store.ingest())
        self._added: list[Digest] = []
        self._top: tuple[bytes, str] | None = None
        self._signatures: dict[Digest, list[bytes]] = {}
        self._committed = False

    def describe(self) -> str:
        return self._description

    def has_blob(self, desc: Descriptor) -> bool:
        return self._store.blobs.has(desc.digest)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        blobs = self._store.blobs
        if blobs.has(desc.digest):
            return
        blobs.put_stream(stream, desc.digest, desc.size)
        self._added.append(desc.digest)

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        digest = Digest.of_bytes(raw, instance.algorithm if instance else "sha256")
        if instance is not None and digest != instance:
            raise InvalidInput(
                f"{self._description}: manifest bytes have digest {digest}, not {instance}",
                code=ErrorCode.DIGEST_INVALID,
            )
        kind = media_type if media_type in mt.ALL_MANIFEST_TYPES else detect_media_type(raw)
        if not self._store.blobs.has(digest):
            self._store.blobs.put_bytes(raw, digest)
            self._added.append(digest)
        if instance is None:
            self._top = (raw, kind)

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        self._signatures[digest] = list(signatures)

    def commit(self) -> None:
        """Register the image (or index) under the name; then store signatures."""
        if self._top is None:
            raise InvalidInput(f"{self._description}: commit before any top-level manifest")
        raw, kind = self._top
        source = StoreBlobSource(self._store.blobs)
        if kind in mt.INDEX_TYPES:
            self._store.put_index(BlobSourceIndex(raw, source, kind), self._names)
        else:
            self._store.put_image(BlobSourceImage(raw, source, kind), self._names)
        for digest, sigs in self._signatures.items():
            self._store.put_signatures(digest, sigs)
        self._committed = True
        self._lock.close()

    def close(self) -> None:
        self._lock.close()
        if not self._committed:
            self._store.discard_unregistered(self._added)
            self._added = []
