"""Signatures where users keep them, around any transport: `signed(ref, storage, …)`.

The transports carry signatures where their format has a place for them (`dir:` files, the
store's table, a registry's signature extension). Registries usually have none, so for
`docker://` this wrapper adds what containers/image adds, with the same precedence:

- reading: the registry's signature extension if it advertises one, else the lookaside
  storage registries.d names (default `file:///var/lib/containers/sigstore` for root); plus
  cosign signatures from `sha256-<hex>.sig` attachments, and Sigstore bundles from OCI
  referrers (`referrers`), where registries.d enables `use-sigstore-attachments`;
- writing: cosign signatures to attachments; simple ones to the extension, else lookaside
  (the `lookaside-staging` URL when set). Bundles read from a source are kept only by
  lamina's own store (other transports have no place for them, and `dir:` readers would
  refuse an unknown signature format); they are not copied to registries.

A wrapped destination can also sign: at commit, each `Signer` signs every manifest written,
as `identity` (default: the destination's Docker reference), and the new signatures are
stored after those copied from the source. For an index copied whole that is every instance
and the index, as containers/image does (copySingleImage signs each instance it writes,
copyMultipleImages then the list), so a single-platform pull of it, which is judged on the
chosen instance, finds a signature there.

The wrappers declare exactly the capabilities (`lamina.transports.base`) of what they wrap,
so a copy through them mounts, verifies and runs in parallel as it would without them; for
`docker://` they are `RegistrySignedSource` / `RegistrySigningDestination`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import Reference
from lamina.transports.base import (
    ConcurrentBlobs,
    DockerNamed,
    GzipLayersOnly,
    ImageDestination,
    ImageReference,
    ImageSource,
    KeepsBundles,
    ManifestTypeLimited,
    MountsBlobs,
    NamesRepository,
    VerifiesOnPut,
)
from lamina.trust.evaluate import split_signatures
from lamina.trust.internal_forms import BUNDLE_PREFIX
from lamina.trust.registries_d import RegistriesD, default_registries_d

if TYPE_CHECKING:  # what a copy does not touch is imported when used (start-up time)
    from lamina.oci import Descriptor
    from lamina.transports.registry import RegistryDestination, RegistrySource
    from lamina.trust.signer import Signer


ROOT_LOOKASIDE = "file:///var/lib/containers/sigstore"


def builtin_lookaside() -> str:
    """containers/image's lookaside when registries.d names none."""
    if os.geteuid() == 0:
        return ROOT_LOOKASIDE
    home = os.environ.get("HOME") or str(Path.home())
    return f"file://{home}/.local/share/containers/sigstore"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureStorage:
    """Where registry images' signatures live (registries.d, loaded once)."""

    registries_d: RegistriesD = field(default_factory=RegistriesD)
    fallback: str = field(default_factory=builtin_lookaside)

    @staticmethod
    def load(directory: str | os.PathLike[str] | None = None) -> SignatureStorage:
        path = directory if directory is not None else default_registries_d()
        return SignatureStorage(registries_d=RegistriesD.load(path))

    def lookaside(self, ref: Reference, *, write: bool) -> str:
        return self.registries_d.lookaside_url(ref, write=write) or self.fallback

    def attachments(self, ref: Reference) -> bool:
        return self.registries_d.use_sigstore_attachments(ref)

    def read(self, src: RegistrySource, digest: Digest) -> list[bytes]:
        """Every signature of `digest` for the image `src` reads."""
        from lamina.transports.registry import signatures_ext
        from lamina.trust import lookaside

        ref = src.ref.ref
        if signatures_ext.supported(src.client):
            out = src.signatures(digest)
        else:
            out = lookaside.read_signatures(self.lookaside(ref, write=False), ref, digest)
        if self.attachments(ref):
            from lamina.trust import attachments, referrers

            out += [s.to_internal() for s in attachments.read_attachments(src, digest)]
            out += [BUNDLE_PREFIX + b for b in referrers.read_bundles(src, digest)]
        return out

    def write(self, dst: RegistryDestination, digest: Digest, signatures: Sequence[bytes]) -> None:
        """Store `signatures` (simple and cosign alike) for `digest` at `dst`."""
        from lamina.transports.registry import signatures_ext
        from lamina.trust import attachments, lookaside

        simple, cosign = split_signatures(signatures)
        ref = dst.ref.ref
        if cosign:
            attachments.write_attachments(dst.ref, digest, cosign)
        if not simple:
            return
        if signatures_ext.supported(dst.client):
            dst.put_signatures(digest, simple)
            return
        base = self.lookaside(ref, write=True)
        lookaside.write_signatures(base, ref, digest, simple)


def identity_of(ref: ImageReference) -> str | None:
    """The Docker reference an image written to `ref` is signed as (None if it has none)."""
    named = ref.docker_reference() if isinstance(ref, DockerNamed) else None
    return str(named) if named is not None else None


class SignedReference:
    """An ImageReference whose sources and destinations read and write signatures where
    users keep them, and whose destinations sign what they write (see the module doc)."""

    # NamesRepository, set in __init__ only when `inner` names one
    registry: str
    repository: str

    def __init__(
        self,
        inner: ImageReference,
        storage: SignatureStorage,
        signers: Sequence[Signer] = (),
        identity: str | None = None,
    ) -> None:
        self.inner = inner
        self.storage = storage
        self.signers = tuple(signers)
        self.identity = identity
        if isinstance(inner, NamesRepository):
            self.registry, self.repository = inner.registry, inner.repository

    @property
    def transport(self) -> str:
        return self.inner.transport

    def describe(self) -> str:
        return self.inner.describe()

    def new_source(self) -> ImageSource:
        src = self.inner.new_source()
        if isinstance(self.inner, NamesRepository):  # a registry's: loaded already
            from lamina.transports.registry import RegistrySource

            if isinstance(src, RegistrySource):
                return RegistrySignedSource(src, self.storage)
        return SignedSource(src, self.storage)

    def new_destination(self) -> ImageDestination:
        identity = self.identity
        if self.signers and identity is None:
            identity = identity_of(self.inner)
            if identity is None:
                raise InvalidInput(
                    f"signing {self.inner.describe()}: the destination has no Docker "
                    "reference to sign the image as",
                    code=ErrorCode.UNSUPPORTED,
                    hint="give one with --sign-identity HOST/REPO:TAG",
                )
        dst = self.inner.new_destination()
        if isinstance(self.inner, NamesRepository):  # a registry's: loaded already
            from lamina.transports.registry import RegistryDestination

            if isinstance(dst, RegistryDestination):
                return RegistrySigningDestination(dst, self.storage, self.signers, identity)
        return SigningDestination(dst, self.storage, self.signers, identity)


class SignedSource:
    """Delegates to the inner source, and declares its capabilities; `signatures` are
    read once per digest."""

    concurrent_blobs: Literal[True]  # set in __init__ only when `inner` declares it

    def __init__(self, inner: ImageSource, storage: SignatureStorage) -> None:
        self.inner = inner
        self.storage = storage
        self._signatures: dict[Digest, list[bytes]] = {}
        if isinstance(inner, ConcurrentBlobs):
            self.concurrent_blobs = True

    def describe(self) -> str:
        return self.inner.describe()

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        return self.inner.get_manifest(digest)

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return self.inner.open_blob(desc)

    def signatures(self, digest: Digest) -> list[bytes]:
        found = self._signatures.get(digest)
        if found is None:
            found = self._signatures[digest] = self._read(digest)
        return list(found)

    def _read(self, digest: Digest) -> list[bytes]:
        return self.inner.signatures(digest)

    def close(self) -> None:
        self.inner.close()


class RegistrySignedSource(SignedSource):
    """A `docker://` source whose signatures are read where users keep them: the
    registry's extension or lookaside, plus attachments and referrers (SignatureStorage)."""

    def __init__(self, inner: RegistrySource, storage: SignatureStorage) -> None:
        super().__init__(inner, storage)
        self.registry_side = inner

    def _read(self, digest: Digest) -> list[bytes]:
        return self.storage.read(self.registry_side, digest)


class SigningDestination:
    """Delegates to the inner destination, and declares its capabilities; signatures are
    stored at commit (after any new ones are made)."""

    # Capabilities, set in __init__ only when `inner` declares them.
    verifies_on_put: Literal[True]
    concurrent_blobs: Literal[True]
    gzip_layers_only: Literal[True]
    mount_blob: Callable[[Descriptor, str], bool]
    supported_manifest_types: Callable[[], frozenset[str]]

    def __init__(
        self,
        inner: ImageDestination,
        storage: SignatureStorage,
        signers: Sequence[Signer],
        identity: str | None,
    ) -> None:
        self.inner = inner
        self.storage = storage
        self.signers = tuple(signers)
        self.identity = identity
        self.written: dict[Digest, bytes] = {}
        self.pending: dict[Digest, list[bytes]] = {}
        if isinstance(inner, VerifiesOnPut):
            self.verifies_on_put = True
        if isinstance(inner, ConcurrentBlobs):
            self.concurrent_blobs = True
        if isinstance(inner, GzipLayersOnly):
            self.gzip_layers_only = True
        if isinstance(inner, MountsBlobs):
            self.mount_blob = inner.mount_blob
        if isinstance(inner, ManifestTypeLimited):
            self.supported_manifest_types = inner.supported_manifest_types

    def describe(self) -> str:
        return self.inner.describe()

    def has_blob(self, desc: Descriptor) -> bool:
        return self.inner.has_blob(desc)

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        self.inner.put_blob(stream, desc)

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        self.inner.put_manifest(raw, media_type, instance=instance)
        self.written[instance or Digest.of_bytes(raw)] = raw

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        self.pending[digest] = list(signatures)

    def commit(self) -> None:
        if self.signers and self.identity is not None:
            # instances first, then the index: the order they were written
            for digest, raw in self.written.items():
                sigs = self.pending.setdefault(digest, [])
                sigs.extend(s.sign(raw, self.identity) for s in self.signers)
        keeps_bundles = isinstance(self.inner, KeepsBundles)
        for digest, sigs in self.pending.items():
            if not keeps_bundles:
                sigs = [s for s in sigs if not s.startswith(BUNDLE_PREFIX)]
            if sigs:
                self._store(digest, sigs)
        self.inner.commit()

    def _store(self, digest: Digest, signatures: list[bytes]) -> None:
        self.inner.put_signatures(digest, signatures)

    def close(self) -> None:
        self.inner.close()


class RegistrySigningDestination(SigningDestination):
    """A `docker://` destination whose signatures are stored where users keep them
    (SignatureStorage.write: attachments, the extension or lookaside)."""

    def __init__(
        self,
        inner: RegistryDestination,
        storage: SignatureStorage,
        signers: Sequence[Signer],
        identity: str | None,
    ) -> None:
        super().__init__(inner, storage, signers, identity)
        self.registry_side = inner

    def _store(self, digest: Digest, signatures: list[bytes]) -> None:
        self.storage.write(self.registry_side, digest, signatures)


def signed(
    ref: ImageReference,
    storage: SignatureStorage,
    signers: Sequence[Signer] = (),
    identity: str | None = None,
) -> SignedReference:
    return SignedReference(ref, storage, signers, identity)
