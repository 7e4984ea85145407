"""The registry's metadata seam: repositories, tags, manifests, blob links, referrer edges and
upload sessions, behind a small Protocol so another database can replace SQLite later.

Blob bytes are not here: they live content-addressed in a `lamina.content.BlobStore`.
Every method is short and synchronous; implementations must be safe for several processes
sharing one store (the server runs as N stateless workers).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from lamina.digest import Digest


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestRecord:
    """A manifest stored in a repository; `raw` is the exact bytes that were pushed."""

    repository: str
    digest: Digest
    media_type: str
    raw: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferrerRecord:
    """An edge `digest --subject--> subject` with what the referrers API lists."""

    digest: Digest
    media_type: str
    size: int
    artifact_type: str | None
    annotations_json: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadSession:
    """A blob upload in progress. `offset` bytes of `ROOT/uploads/<id>` are committed."""

    id: str
    repository: str
    offset: int
    started: float
    updated: float


class MetadataStore(Protocol):
    """Registry metadata. Names and digests are already validated by the caller."""

    # repositories and blob links
    def link_blob(self, repository: str, digest: Digest) -> None: ...
    def unlink_blob(self, repository: str, digest: Digest) -> bool: ...
    def is_linked(self, repository: str, digest: Digest) -> bool: ...
    def repository_exists(self, repository: str) -> bool: ...
    def repositories(self, after: str = "", limit: int | None = None) -> list[str]: ...

    # manifests and tags
    def put_manifest(
        self,
        record: ManifestRecord,
        tags: Sequence[str],
        subject: Digest | None,
        referrer: ReferrerRecord | None,
        *,
        blobs: Sequence[Digest] = (),
        manifests: Sequence[Digest] = (),
    ) -> Digest | None:
        """Store the manifest, in the same transaction checking that every digest in `blobs`
        is linked to the repository and every one in `manifests` is a manifest there.
        Returns the first missing digest (and stores nothing), else None. Checking inside
        the write transaction is what makes online GC safe: GC deletes in transactions too."""
        ...

    def get_manifest(self, repository: str, digest: Digest) -> ManifestRecord | None: ...
    def resolve_tag(self, repository: str, tag: str) -> ManifestRecord | None: ...
    def delete_manifest(self, repository: str, digest: Digest) -> bool: ...
    def delete_tag(self, repository: str, tag: str) -> bool: ...
    def tags(self, repository: str, after: str = "", limit: int | None = None) -> list[str]: ...
    def referrers(self, repository: str, subject: Digest) -> list[ReferrerRecord]: ...

    # upload sessions
    def create_upload(self, upload_id: str, repository: str, now: float) -> UploadSession: ...
    def get_upload(self, upload_id: str) -> UploadSession | None: ...
    def advance_upload(self, upload_id: str, old_offset: int, new_offset: int, now: float) -> bool:
        """Move the committed offset from `old_offset`; False if another writer moved it."""
        ...

    def delete_upload(self, upload_id: str) -> bool: ...
    def expired_uploads(self, before: float) -> list[str]: ...

    # iteration, for garbage collection and audits
    def iter_manifests(self) -> Iterator[tuple[str, Digest]]: ...
    def iter_blob_links(self) -> Iterator[tuple[str, Digest]]: ...

    def close(self) -> None: ...
