"""Protocols of the image model and the implementation over a `BlobSource`.

Contract: every byte stream an `Image` or `Layer` hands out is verified against its
descriptor's size and digest at EOF (a `VerifyingReader`); the caller reads to EOF to get the
check and closes the stream.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol, runtime_checkable

from lamina.content import VerifyingReader
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, InvalidInput
from lamina.oci import Descriptor, ImageConfig, ImageIndex, ImageManifest, parse_any

MAX_JSON_BLOB = 16 << 20


class BlobSource(Protocol):
    """Where an image's blobs come from (a transport source, the store, a registry).

    `open_blob` may return unverified bytes: the model wraps them in a VerifyingReader.
    """

    def open_blob(self, desc: Descriptor) -> BinaryIO: ...


@runtime_checkable
class Layer(Protocol):
    """One layer: its compressed blob descriptor, its diff_id, and its bytes."""

    @property
    def descriptor(self) -> Descriptor: ...

    @property
    def diff_id(self) -> Digest: ...

    def open(self) -> BinaryIO:
        """The compressed blob as described by `descriptor`, verified at EOF."""
        ...


@runtime_checkable
class Image(Protocol):
    """A single-platform image."""

    def raw_manifest(self) -> bytes: ...
    def manifest(self) -> ImageManifest: ...
    def digest(self) -> Digest: ...
    def raw_config(self) -> bytes: ...
    def config(self) -> ImageConfig: ...
    def layers(self) -> tuple[Layer, ...]: ...

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        """The config or a layer blob, verified at EOF."""
        ...


class ImageIndexView(Protocol):
    """A multi-platform index and its children."""

    def raw_manifest(self) -> bytes: ...
    def manifest(self) -> ImageIndex: ...
    def digest(self) -> Digest: ...
    def image(self, desc: Descriptor) -> Image: ...
    def index(self, desc: Descriptor) -> ImageIndexView: ...


class ManifestSource(BlobSource, Protocol):
    """A blob source that can also fetch manifests by digest (for index children)."""

    def get_manifest(self, digest: Digest) -> tuple[bytes, str]: ...


class SourceLayer:
    """A layer whose blob is read from a BlobSource."""

    def __init__(self, desc: Descriptor, diff_id: Digest, source: BlobSource) -> None:
        self._desc = desc
        self._diff_id = diff_id
        self._source = source

    @property
    def descriptor(self) -> Descriptor:
        return self._desc

    @property
    def diff_id(self) -> Digest:
        return self._diff_id

    def open(self) -> BinaryIO:
        return verified(self._source, self._desc)


def verified(source: BlobSource, desc: Descriptor, what: str = "blob") -> BinaryIO:
    stream = source.open_blob(desc)
    return VerifyingReader(stream, desc.digest, desc.size, what)  # type: ignore[return-value]


def read_json_blob(source: BlobSource, desc: Descriptor, what: str) -> bytes:
    """A small JSON blob (config, manifest), fully read and verified."""
    if desc.size > MAX_JSON_BLOB:
        raise InvalidInput(
            f"{what} {desc.digest} is {desc.size} bytes; refusing over {MAX_JSON_BLOB}",
            code=ErrorCode.MANIFEST_INVALID,
        )
    if desc.data is not None:
        return desc.data
    with verified(source, desc, what) as f:
        data = f.read()
        f.read()  # reach EOF so the size and digest are checked
    return data


class BlobSourceImage:
    """An image given by its raw manifest, reading config and layers from `source`."""

    def __init__(
        self, raw_manifest: bytes, source: BlobSource, media_type: str | None = None
    ) -> None:
        self._raw = raw_manifest
        self._manifest = ImageManifest.parse(raw_manifest, media_type)
        self._source = source
        self._raw_config: bytes | None = None
        self._config: ImageConfig | None = None
        self._layers: tuple[Layer, ...] | None = None

    def raw_manifest(self) -> bytes:
        return self._raw

    def manifest(self) -> ImageManifest:
        return self._manifest

    def digest(self) -> Digest:
        return self._manifest.digest

    def raw_config(self) -> bytes:
        if self._raw_config is None:
            self._raw_config = read_json_blob(self._source, self._manifest.config, "config")
        return self._raw_config

    def config(self) -> ImageConfig:
        if self._config is None:
            self._config = ImageConfig.parse(
                self.raw_config(), f"config {self._manifest.config.digest}"
            )
        return self._config

    def layers(self) -> tuple[Layer, ...]:
        if self._layers is None:
            diff_ids = self.config().rootfs.diff_ids
            descs = self._manifest.layers
            if len(diff_ids) != len(descs):
                raise IntegrityError(
                    f"image {self.digest()}: manifest has {len(descs)} layers but config "
                    f"lists {len(diff_ids)} diff_ids",
                    code=ErrorCode.MANIFEST_INVALID,
                )
            self._layers = tuple(
                SourceLayer(d, i, self._source) for d, i in zip(descs, diff_ids, strict=True)
            )
        return self._layers

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        return verified(self._source, desc)

    @property
    def source(self) -> BlobSource:
        return self._source


class BlobSourceIndex:
    """An index given by its raw bytes; children are fetched from `source` by digest."""

    def __init__(self, raw: bytes, source: ManifestSource, media_type: str | None = None) -> None:
        self._raw = raw
        self._index = ImageIndex.parse(raw, media_type)
        self._source = source

    def raw_manifest(self) -> bytes:
        return self._raw

    def manifest(self) -> ImageIndex:
        return self._index

    def digest(self) -> Digest:
        return self._index.digest

    def _child(self, desc: Descriptor) -> bytes:
        raw, _ = self._source.get_manifest(desc.digest)
        if Digest.of_bytes(raw, desc.digest.algorithm) != desc.digest or len(raw) != desc.size:
            raise IntegrityError(f"manifest {desc.digest}: content does not match its descriptor")
        return raw

    def image(self, desc: Descriptor) -> Image:
        return BlobSourceImage(self._child(desc), self._source, desc.media_type)

    def index(self, desc: Descriptor) -> ImageIndexView:
        return BlobSourceIndex(self._child(desc), self._source, desc.media_type)


def load(
    raw: bytes, source: ManifestSource, media_type: str | None = None
) -> Image | ImageIndexView:
    """An Image or ImageIndexView for a raw manifest, by its media type."""
    parsed = parse_any(raw, media_type)
    if isinstance(parsed, ImageIndex):
        return BlobSourceIndex(raw, source, parsed.media_type)
    return BlobSourceImage(raw, source, parsed.media_type)
