"""Reading images from a registry: manifests (verified), blobs (resumable), tags, referrers."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, BinaryIO, Literal, cast
from urllib.parse import quote, urlencode

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, InvalidInput, NotFound
from lamina.oci.limits import MAX_MANIFEST_SIZE as MAX_MANIFEST
from lamina.transports.registry.answers import read_limited, release
from lamina.transports.registry.auth import scope_for
from lamina.transports.registry.client import RegistryClient
from lamina.transports.registry.reference import RegistryReference

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from lamina.oci import Descriptor, ImageIndex


MANIFEST_ACCEPT = ", ".join(
    [mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST]
)
MAX_TAG_PAGES = 10_000
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class RegistrySource:
    """An ImageSource over `docker://` (also a ManifestSource for `image.model.load`).

    Manifests are checked against the digest they were asked by, or the registry's
    Docker-Content-Digest; blobs are returned unverified (the caller wraps them in a
    VerifyingReader, or forwards them to a registry that verifies them) but resume
    transparently if the connection drops. Blobs may be read on several threads at once.
    """

    concurrent_blobs: Literal[True] = True

    def __init__(self, ref: RegistryReference, client: RegistryClient | None = None) -> None:
        self.ref = ref
        self.repo = ref.repository
        self.client = client or RegistryClient(ref.registry, ref.options, ref.repository)
        self._pull = [scope_for(self.repo, "pull")]

    def describe(self) -> str:
        return self.ref.describe()

    def _ref_text(self, digest: Digest | None) -> str:
        if digest is not None:
            return str(digest)
        if self.ref.ref.digest is not None:
            return str(self.ref.ref.digest)
        assert self.ref.ref.tag is not None
        return self.ref.ref.tag

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        wanted = digest or self.ref.ref.digest
        ref_text = self._ref_text(digest)
        what = f"pulling manifest {self.ref.ref.name}:{ref_text}".replace(":sha", "@sha")
        resp = self.client.request(
            "GET",
            f"/v2/{self.repo}/manifests/{quote(ref_text)}",
            scopes=self._pull,
            what=what,
            headers={"Accept": MANIFEST_ACCEPT},
        )
        try:
            raw = read_limited(resp, MAX_MANIFEST)
            header_digest = resp.headers.get("Docker-Content-Digest")
            content_type = resp.headers.get("Content-Type", "").partition(";")[0].strip()
        finally:
            release(resp)
        check = wanted
        if check is None and header_digest:
            try:
                check = Digest.parse(header_digest)
            except InvalidInput:
                check = None
        if check is not None and Digest.of_bytes(raw, check.algorithm) != check:
            got = Digest.of_bytes(raw, check.algorithm)
            raise IntegrityError(
                f"{what}: registry {self.ref.registry} sent a manifest with digest {got}, "
                f"expected {check}",
                code=ErrorCode.DIGEST_INVALID,
            )
        if content_type not in mt.ALL_MANIFEST_TYPES:
            from lamina.oci.manifest import detect_media_type

            content_type = detect_media_type(raw, what)
        return raw, content_type

    def manifest_digest(self) -> Digest:
        """The digest of the reference's manifest (by HEAD; GET and hash if not given)."""
        if self.ref.ref.digest is not None:
            return self.ref.ref.digest
        header, _ = self.head_manifest()
        if header is not None:
            return header
        raw, _ = self.get_manifest()
        return Digest.of_bytes(raw)

    def head_manifest(self) -> tuple[Digest | None, str]:
        """HEAD the reference's manifest: the registry's Docker-Content-Digest (None if it
        sent none) and media type ("" if unknown). NotFound when there is no manifest."""
        path = f"/v2/{self.repo}/manifests/{quote(self._ref_text(None))}"
        what = f"resolving {self.ref.ref}"
        resp = self.client.request(
            "HEAD", path, scopes=self._pull, what=what, headers={"Accept": MANIFEST_ACCEPT}
        )
        release(resp)
        return head_digest(resp)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        from lamina.transports.registry.blobreader import ResumingBlobReader

        what = f"pulling blob {desc.digest} from {self.ref.ref.name}"
        reader = ResumingBlobReader(
            self.client,
            f"/v2/{self.repo}/blobs/{desc.digest}",
            scopes=self._pull,
            what=what,
            size=desc.size,
            max_resumes=max(self.client.options.retry_times, 1),
        )
        return cast(BinaryIO, reader)

    def signatures(self, digest: Digest) -> list[bytes]:
        """Simple signatures held by the registry itself (the signature extension), else
        none: lookaside storage and sigstore attachments are read by lamina.trust."""
        from lamina.transports.registry import signatures_ext

        if not signatures_ext.supported(self.client):
            return []
        return signatures_ext.get_signatures(self.client, self.repo, digest)

    def list_tags(self, page_size: int | None = None) -> list[str]:
        """All tags of the repository, following `Link: <…>; rel="next"` pagination."""
        first = f"/v2/{self.repo}/tags/list"
        if page_size:
            first += "?" + urlencode({"n": page_size})
        path: str | None = first
        tags: list[str] = []
        pages = 0
        while path is not None and pages < MAX_TAG_PAGES:
            resp = self.client.request(
                "GET",
                path,
                scopes=self._pull,
                what=f"listing tags of {self.ref.ref.name}",
            )
            try:
                raw = read_limited(resp, MAX_MANIFEST)
                link = resp.headers.get("Link", "")
            finally:
                release(resp)
            try:
                page = json.loads(raw).get("tags") or []
            except (json.JSONDecodeError, AttributeError):
                page = None
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise InvalidInput(
                    f"listing tags of {self.ref.ref.name}: registry {self.ref.registry} sent "
                    "a malformed tag list"
                )
            tags.extend(page)
            m = _LINK_NEXT.search(link)
            path = m.group(1) if m else None
            pages += 1
        return tags

    def delete(self) -> Digest:
        """Delete the referenced manifest (by digest; a tag is resolved first). Returns it."""
        digest = self.manifest_digest()
        resp = self.client.request(
            "DELETE",
            f"/v2/{self.repo}/manifests/{digest}",
            scopes=[scope_for(self.repo, "*")],
            what=f"deleting {self.ref.ref.name}@{digest}",
            ok=(200, 202),
        )
        release(resp)
        return digest

    def referrers(self, digest: Digest, artifact_type: str | None = None) -> ImageIndex:
        """The index of manifests whose subject is `digest` (referrers API, else the
        `sha256-<hex>` tag schema; an empty index when there are none)."""
        from lamina.oci import ImageIndex

        what = f"listing referrers of {self.ref.ref.name}@{digest}"
        path = f"/v2/{self.repo}/referrers/{digest}"
        if artifact_type:
            path += "?" + urlencode({"artifactType": artifact_type})
        resp = self.client.request(
            "GET",
            path,
            scopes=self._pull,
            what=what,
            headers={"Accept": mt.OCI_INDEX},
            ok=(200, 404),
        )
        try:
            status = resp.status
            raw = read_limited(resp, MAX_MANIFEST)
            filtered = "artifactType" in resp.headers.get("OCI-Filters-Applied", "")
        finally:
            release(resp)
        if status == 200:
            index = ImageIndex.parse(raw, mt.OCI_INDEX, what)
        else:
            try:
                raw, media_type = self.get_manifest_by_tag(f"{digest.algorithm}-{digest.hex}")
            except NotFound:
                return ImageIndex.build([])
            index = ImageIndex.parse(raw, media_type, what)
        if artifact_type and not filtered:
            keep = [d for d in index.manifests if d.artifact_type == artifact_type]
            index = ImageIndex.build(keep)
        return index

    def get_manifest_by_tag(self, tag: str) -> tuple[bytes, str]:
        """A manifest by a tag other than the reference's (same repository)."""
        other = RegistrySource(
            RegistryReference(self.ref.ref.with_tag(tag), self.ref.options), self.client
        )
        return other.get_manifest()

    def close(self) -> None:
        self.client.close()


def head_digest(resp: BaseHTTPResponse) -> tuple[Digest | None, str]:
    """The Docker-Content-Digest of a manifest HEAD's answer (None if there is none) and
    its media type ("" if not a manifest type)."""
    header = resp.headers.get("Docker-Content-Digest")
    content_type = resp.headers.get("Content-Type", "").partition(";")[0].strip()
    digest = Digest.parse(header) if header and Digest.is_valid(header) else None
    return digest, content_type if content_type in mt.ALL_MANIFEST_TYPES else ""
