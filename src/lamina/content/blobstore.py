"""A content-addressed filesystem blob store.

Layout: `ROOT/blobs/<algorithm>/<hex>`; writes go to `ROOT/ingest/` first and are renamed
into place only after their digest is verified, so a visible blob is always whole and right.
Two writers of the same blob each write their own temp file; the rename is atomic, so the
result is the same whichever wins.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lamina.content.fstree import is_space_error, space_error
from lamina.content.verify import CHUNK, HashingWriter, VerifyingReader
from lamina.digest import Digest, supported_algorithms
from lamina.errors import ErrorCode, IntegrityError, LaminaError, NotFound


class BlobWriter:
    """An open temp file in the ingest dir, hashed as written. Use via BlobStore.writer()."""

    def __init__(self, store: BlobStore, algorithm: str = "sha256") -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store.ingest_dir, prefix="blob-")
        self.temp_path = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._hashing = HashingWriter(self._file, algorithm)
        self.digest: Digest | None = None
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """A full disk raises LaminaError naming the store and what to free."""
        try:
            return self._hashing.write(data)
        except OSError as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: OSError) -> OSError | LaminaError:
        return space_error(exc, self._store.root, "writing a blob") if is_space_error(exc) else exc

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def commit(self, expected: Digest | None = None, expected_size: int | None = None) -> Digest:
        """fsync, verify against `expected` (if given) and rename into place."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError as exc:
            raise self._failed(exc) from None
        got = self._hashing.digest
        size = self._hashing.size
        if expected_size is not None and size != expected_size:
            self.abort()
            raise IntegrityError(
                f"blob {expected or got} is {size} bytes, expected {expected_size}",
                code=ErrorCode.SIZE_INVALID,
            )
        if expected is not None and got != expected:
            self.abort()
            raise IntegrityError(
                f"blob content has digest {got}, expected {expected}", code=ErrorCode.DIGEST_INVALID
            )
        final = self._store.path(got)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.temp_path, final)
        self.digest, self.size = got, size
        return got

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp_path.unlink()


class BlobStore:
    """Verified blobs on a filesystem. Safe for several processes at once."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.ingest_dir = self.root / "ingest"
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: Digest) -> Path:
        return self.blobs_dir / digest.algorithm / digest.hex

    def has(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(
                f"blob {digest} not in {self.root}", code=ErrorCode.BLOB_UNKNOWN
            ) from None

    def open(self, digest: Digest, *, verify: bool = False) -> BinaryIO:
        """Open a blob for reading; with `verify` the digest is checked at EOF."""
        try:
            f: BinaryIO = open(self.path(digest), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise NotFound(
                f"blob {digest} not in {self.root}", code=ErrorCode.BLOB_UNKNOWN
            ) from None
        if verify:
            return VerifyingReader(f, digest, None, "blob")  # type: ignore[return-value]
        return f

    def read_bytes(self, digest: Digest, *, limit: int = 64 << 20) -> bytes:
        """A small blob's bytes, verified (manifests, configs)."""
        with self.open(digest) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise IntegrityError(f"blob {digest} is larger than {limit} bytes")
        if Digest.of_bytes(data, digest.algorithm) != digest:
            raise IntegrityError(f"blob {digest} in {self.root} is corrupt")
        return data

    @contextlib.contextmanager
    def writer(self, algorithm: str = "sha256") -> Iterator[BlobWriter]:
        """A temp blob; call `commit()` inside the block or it is discarded."""
        w = BlobWriter(self, algorithm)
        try:
            yield w
        finally:
            if w.digest is None:
                w.abort()

    def put_stream(
        self, stream: BinaryIO, expected: Digest | None = None, size: int | None = None
    ) -> tuple[Digest, int]:
        """Copy a stream in; verify against `expected`/`size` if given."""
        if expected is not None and self.has(expected):
            # Already stored (and verified when written): the stream is left unread, but a
            # wrong `size` is refused just as it would be on a fresh write.
            have = self.size(expected)
            if size is not None and have != size:
                raise IntegrityError(
                    f"blob {expected} is {have} bytes, expected {size}",
                    code=ErrorCode.SIZE_INVALID,
                )
            return expected, have
        algorithm = expected.algorithm if expected else "sha256"
        with self.writer(algorithm) as w:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                w.write(chunk)
            digest = w.commit(expected, size)
            return digest, w.size

    def put_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        digest = Digest.of_bytes(data, expected.algorithm if expected else "sha256")
        if expected is not None and digest != expected:
            raise IntegrityError(
                f"blob content has digest {digest}, expected {expected}",
                code=ErrorCode.DIGEST_INVALID,
            )
        if self.has(digest):
            return digest
        with self.writer(digest.algorithm) as w:
            w.write(data)
            return w.commit(digest)

    def delete(self, digest: Digest) -> bool:
        try:
            self.path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def __iter__(self) -> Iterator[Digest]:
        for algorithm in supported_algorithms():
            d = self.blobs_dir / algorithm
            if not d.is_dir():
                continue
            for entry in os.scandir(d):
                if entry.is_file():
                    try:
                        yield Digest.parse(f"{algorithm}:{entry.name}")
                    except Exception:
                        continue

    def verify(self, digest: Digest) -> bool:
        """Re-hash a stored blob; False if it is missing or corrupt."""
        try:
            with self.open(digest, verify=True) as f:
                while f.read(CHUNK):
                    pass
        except (NotFound, IntegrityError):
            return False
        return True

    def clean_ingest(self, older_than: float = 3600.0) -> tuple[int, int]:
        """Remove temp files abandoned by crashed writers (unmodified for `older_than`
        seconds); returns how many and their bytes."""
        import time

        removed = freed = 0
        cutoff = time.time() - older_than
        for entry in os.scandir(self.ingest_dir):
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                if st.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
                    freed += st.st_size
        return removed, freed
