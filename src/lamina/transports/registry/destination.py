"""Writing images to a registry: blob uploads (mount, monolithic, streamed, chunked), manifests.

Every upload ends with `PUT ?digest=`: the registry hashes what it received and refuses a
blob whose digest is not the one named (as the distribution spec requires), so nothing wrong
becomes visible; that refusal is an IntegrityError here, and a failed upload session is
cancelled. So the destination verifies on put (`VerifiesOnPut`) without hashing a streamed
blob itself: it counts the bytes, holds the last piece back until the size is right, and
never sends more than the descriptor's size. A small blob (one request) is hashed here first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Literal
from urllib.parse import urlencode

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import (
    AuthError,
    ErrorCode,
    IntegrityError,
    LaminaError,
    RegistryError,
)
from lamina.oci import Descriptor
from lamina.transports.registry.answers import release
from lamina.transports.registry.auth import scope_for
from lamina.transports.registry.client import RegistryClient
from lamina.transports.registry.reference import RegistryReference

MONOLITHIC_MAX = 1 << 20
STREAM_CHUNK = 1 << 20
DEFAULT_UPLOAD_CHUNK = 8 << 20
OCTET = "application/octet-stream"


class RegistryDestination:
    """An ImageDestination over `docker://`. Blobs and manifests are visible once PUT;
    `commit` has nothing left to do; `close` cancels upload sessions still open. It verifies
    on put, takes blobs from several threads at once and mounts blobs (transports.base)."""

    verifies_on_put: Literal[True] = True
    concurrent_blobs: Literal[True] = True

    def __init__(self, ref: RegistryReference, client: RegistryClient | None = None) -> None:
        self.ref = ref
        self.repo = ref.repository
        self.client = client or RegistryClient(ref.registry, ref.options, ref.repository)
        self._push = [scope_for(self.repo, "pull,push")]
        self._open_uploads: set[str] = set()
        self.chunk_size = DEFAULT_UPLOAD_CHUNK

    def describe(self) -> str:
        return self.ref.describe()

    def _what(self, desc: Descriptor) -> str:
        return f"pushing blob {desc.digest} to {self.ref.ref.name}"

    def has_blob(self, desc: Descriptor) -> bool:
        resp = self.client.request(
            "HEAD",
            f"/v2/{self.repo}/blobs/{desc.digest}",
            scopes=self._push,
            what=f"checking blob {desc.digest} in {self.ref.ref.name}",
            ok=(200, 404),
        )
        release(resp)
        return resp.status == 200

    def mount_blob(self, desc: Descriptor, from_repository: str) -> bool:
        """Ask the registry to link `desc` from another repository; True if it did."""
        query = urlencode({"mount": str(desc.digest), "from": from_repository})
        resp = self.client.request(
            "POST",
            f"/v2/{self.repo}/blobs/uploads/?{query}",
            scopes=[*self._push, scope_for(from_repository, "pull")],
            what=f"mounting blob {desc.digest} from {from_repository} into {self.ref.ref.name}",
            ok=(201, 202),
        )
        release(resp)
        if resp.status == 201:
            return True
        location = resp.headers.get("Location")
        if location:
            self._cancel(location)
        return False

    def put_blob(
        self, stream: BinaryIO, desc: Descriptor, *, mount_from: str | None = None
    ) -> None:
        """Upload `stream`, which must hold exactly the blob `desc` describes.

        With `mount_from` a cross-repository mount is tried first. Raises IntegrityError (and
        leaves nothing behind) if the bytes do not match `desc`.
        """
        if mount_from and mount_from != self.repo and self.mount_blob(desc, mount_from):
            return
        if desc.size <= MONOLITHIC_MAX and self.client.single_post_uploads is not False:
            data = _read_exactly(stream, desc.size + 1)
            _check(data, desc, self._what(desc))
            self._single_post(data, desc)
            return
        location, chunk_min = self._start()
        try:
            if desc.size <= MONOLITHIC_MAX:
                self._monolithic(stream, desc, location)
            elif chunk_min:
                self._chunked(stream, desc, location, max(chunk_min, self.chunk_size))
            else:
                self._streamed(stream, desc, location)
        except BaseException:
            self._cancel(location)
            raise
        self._open_uploads.discard(location)

    def _single_post(self, data: bytes, desc: Descriptor) -> None:
        """Upload a small, already checked blob with one `POST ?digest=` (the spec's
        single-request upload). A registry without it opens a session instead (202): the
        bytes then go in its PUT, and this client stops trying."""
        query = urlencode({"digest": str(desc.digest)})
        try:
            resp = self.client.request(
                "POST",
                f"/v2/{self.repo}/blobs/uploads/?{query}",
                scopes=self._push,
                what=self._what(desc),
                headers={"Content-Type": OCTET, "Content-Length": str(len(data))},
                body=data,
                ok=(201, 202),
            )
        except AuthError:
            raise
        except LaminaError as err:
            if err.retryable:
                raise
            # Refused outright (400, 405, 413…): the plain two-step upload, from now on.
            self.client.single_post_uploads = False
            location, _ = self._start()
            self._put_small(location, desc, data)
            return
        release(resp)
        if resp.status == 201:
            self.client.single_post_uploads = True
            return
        self.client.single_post_uploads = False
        location = self._location(resp.headers.get("Location"))
        self._open_uploads.add(location)
        # A registry that kept the body as the session's first chunk says so in Range
        # (`0-LAST`); then only the closing PUT is left.
        kept = resp.headers.get("Range", "").removeprefix("bytes=")
        whole = len(data) > 1 and kept == f"0-{len(data) - 1}"
        self._put_small(location, desc, b"" if whole else data)

    def _put_small(self, location: str, desc: Descriptor, data: bytes) -> None:
        try:
            self._finish(location, desc, data)
        except BaseException:
            self._cancel(location)
            raise

    def _start(self) -> tuple[str, int]:
        resp = self.client.request(
            "POST",
            f"/v2/{self.repo}/blobs/uploads/",
            scopes=self._push,
            what=f"starting an upload to {self.ref.ref.name}",
            ok=(202,),
        )
        release(resp)
        location = self._location(resp.headers.get("Location"))
        self._open_uploads.add(location)
        chunk_min = resp.headers.get("OCI-Chunk-Min-Length", "")
        return location, int(chunk_min) if chunk_min.isdigit() else 0

    def _location(self, value: str | None) -> str:
        if not value:
            raise RegistryError(
                f"uploading to {self.ref.ref.name}: registry {self.ref.registry} gave no "
                "upload Location",
                code=ErrorCode.BLOB_UPLOAD_INVALID,
            )
        return value

    def _finish(self, location: str, desc: Descriptor, body: bytes = b"") -> None:
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}{urlencode({'digest': str(desc.digest)})}"
        try:
            resp = self.client.request(
                "PUT",
                url,
                scopes=self._push,
                what=self._what(desc),
                headers={"Content-Type": OCTET, "Content-Length": str(len(body))},
                body=body,
                ok=(201,),
                retry=False,
            )
        except RegistryError as err:
            if err.code in (ErrorCode.DIGEST_INVALID, ErrorCode.SIZE_INVALID):
                said = f"{self._what(desc)}: registry {self.ref.registry} answered "
                raise IntegrityError(
                    f"{self._what(desc)}: registry {self.ref.registry} refused the content "
                    f"as not matching {desc.digest} ({err.message.removeprefix(said)})",
                    code=err.code,
                    hint="the source does not hold (or did not send) the blob its manifest "
                    "names; nothing was kept",
                ) from None
            raise
        release(resp)
        self._open_uploads.discard(location)

    def _monolithic(self, stream: BinaryIO, desc: Descriptor, location: str) -> None:
        data = _read_exactly(stream, desc.size + 1)
        _check(data, desc, self._what(desc))
        self._finish(location, desc, data)

    def _streamed(self, stream: BinaryIO, desc: Descriptor, location: str) -> None:
        chunks = _counted_chunks(stream, desc, self._what(desc), STREAM_CHUNK)
        resp = self.client.request(
            "PATCH",
            location,
            scopes=self._push,
            what=self._what(desc),
            headers={"Content-Type": OCTET, "Content-Length": str(desc.size)},
            body=chunks,
            ok=(202, 204),
            retry=False,
        )
        release(resp)
        location = self._location(resp.headers.get("Location") or location)
        self._finish(location, desc)

    def _chunked(self, stream: BinaryIO, desc: Descriptor, location: str, chunk: int) -> None:
        start = 0
        for view in _counted_chunks(stream, desc, self._what(desc), chunk):
            piece = bytes(view)  # a one-piece body must be bytes (it may be replayed)
            end = start + len(piece)
            resp = self.client.request(
                "PATCH",
                location,
                scopes=self._push,
                what=self._what(desc),
                headers={
                    "Content-Type": OCTET,
                    "Content-Length": str(len(piece)),
                    "Content-Range": f"{start}-{end - 1}",
                },
                body=piece,
                ok=(202, 204),
                retry=False,
            )
            release(resp)
            self._open_uploads.discard(location)
            location = self._location(resp.headers.get("Location") or location)
            self._open_uploads.add(location)
            start = end
        self._finish(location, desc)

    def _cancel(self, location: str) -> None:
        self._open_uploads.discard(location)
        try:
            resp = self.client.request(
                "DELETE",
                location,
                scopes=self._push,
                what=f"cancelling an upload to {self.ref.ref.name}",
                ok=(200, 202, 204, 404),
                retry=False,
            )
            release(resp)
        except LaminaError:
            pass  # best effort: registries expire abandoned sessions

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        """PUT a manifest: an index child by `instance` digest, else the reference's tag (or
        digest, which must then be the digest of `raw`)."""
        if instance is not None:
            self.put_manifest_at(str(instance), raw, media_type, expected=instance)
        elif self.ref.ref.tag is not None:
            self.put_manifest_at(self.ref.ref.tag, raw, media_type, expected=self.ref.ref.digest)
        else:
            expected = self.ref.ref.digest
            self.put_manifest_at(str(expected), raw, media_type, expected=expected)

    def put_manifest_at(
        self, target: str, raw: bytes, media_type: str, *, expected: Digest | None = None
    ) -> bool:
        """PUT `raw` at `target` (a tag or a digest) of this repository; `expected`: the
        digest the bytes must have. True when the registry answered `OCI-Subject`: it lists
        a manifest with a subject among that subject's referrers itself (otherwise a client
        keeps the `<alg>-<hex>` tag index)."""
        what = f"pushing manifest {self.ref.ref.name}:{target}".replace(":sha", "@sha")
        digest = Digest.of_bytes(raw, expected.algorithm if expected else "sha256")
        if expected is not None and digest != expected:
            raise IntegrityError(
                f"{what}: manifest bytes have digest {digest}, expected {expected}",
                code=ErrorCode.DIGEST_INVALID,
            )
        resp = self.client.request(
            "PUT",
            f"/v2/{self.repo}/manifests/{target}",
            scopes=self._push,
            what=what,
            headers={"Content-Type": media_type or mt.OCI_MANIFEST},
            body=raw,
            ok=(201,),
        )
        release(resp)
        echoed = resp.headers.get("Docker-Content-Digest")
        if echoed and Digest.is_valid(echoed):
            stored = Digest.parse(echoed)
            ours = digest if stored.algorithm == digest.algorithm else None
            if stored != (ours or Digest.of_bytes(raw, stored.algorithm)):
                where = f"registry {self.ref.registry}"
                raise IntegrityError(
                    f"{what}: {where} stored digest {echoed}, we sent {digest}",
                    code=ErrorCode.DIGEST_INVALID,
                )
        return "OCI-Subject" in resp.headers

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        """Simple signatures go to the registry's signature extension when it has one (they
        are added to those it holds); otherwise lamina.trust writes lookaside storage."""
        from lamina.transports.registry import signatures_ext

        if signatures and signatures_ext.supported(self.client):
            signatures_ext.put_signatures(self.client, self.repo, digest, signatures)
        elif signatures:
            raise RegistryError(
                f"pushing signatures for {self.ref.ref.name}@{digest}: the registry transport "
                "does not store simple signatures",
                code=ErrorCode.UNSUPPORTED,
                hint="configure lookaside storage in registries.d (lamina.trust writes there)",
            )

    def commit(self) -> None:
        """Nothing to do: registry content is visible as soon as it is PUT."""

    def close(self) -> None:
        for location in list(self._open_uploads):
            self._cancel(location)
        self.client.close()


def _read_exactly(stream: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total < limit:
        chunk = stream.read(min(STREAM_CHUNK, limit - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts)


def _check(data: bytes, desc: Descriptor, what: str) -> None:
    if len(data) != desc.size:
        amount = f"more than {desc.size}" if len(data) > desc.size else str(len(data))
        raise IntegrityError(f"{what}: stream holds {amount} bytes, expected {desc.size}")
    got = Digest.of_bytes(data, desc.digest.algorithm)
    if got != desc.digest:
        raise IntegrityError(f"{what}: content has digest {got}, expected {desc.digest}")


def _fill(stream: BinaryIO, buf: bytearray) -> int:
    """Fill `buf` from `stream` (short only at EOF); `readinto` avoids a copy per read."""
    readinto = getattr(stream, "readinto", None)
    view = memoryview(buf)
    got = 0
    while got < len(buf):
        if readinto is not None:
            n = readinto(view[got:])
        else:
            data = stream.read(len(buf) - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return got


def _counted_chunks(
    stream: BinaryIO, desc: Descriptor, what: str, chunk: int
) -> Iterator[memoryview]:
    """Yield the blob in pieces of `chunk` bytes, holding the last one back until the size
    is checked (raising IntegrityError instead of yielding it, or as soon as there is more).

    Two buffers are reused in turn: a yielded piece is valid until the next one is asked
    for (a request body is sent before its iterator is advanced)."""
    count = 0
    buffers = (bytearray(chunk), bytearray(chunk))
    pending: memoryview | None = None
    turn = 0
    while True:
        buf = buffers[turn]
        n = _fill(stream, buf)
        if not n:
            break
        count += n
        if count > desc.size:
            raise IntegrityError(f"{what}: stream holds more than the expected {desc.size} bytes")
        piece = memoryview(buf)[:n]
        if pending is not None:
            yield pending
        pending = piece
        turn ^= 1
    if count != desc.size:
        raise IntegrityError(f"{what}: stream holds {count} bytes, expected {desc.size}")
    if pending is not None:
        yield pending
