"""Image manifests: OCI image manifest and Docker image manifest v2 schema 2."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci.descriptor import Descriptor
from lamina.oci.jsonio import JSONObject, dump, load_object, string_map, want
from lamina.oci.limits import MAX_MANIFEST_SIZE

if TYPE_CHECKING:
    from lamina.oci.index import ImageIndex

_KNOWN = frozenset(
    {"schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageManifest:
    """A single-platform manifest. `raw` is authoritative; `digest` is of `raw`."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None
    media_type_in_json: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    @staticmethod
    def parse(raw: bytes, media_type: str | None = None, what: str = "manifest") -> ImageManifest:
        """Parse and validate; `media_type` is the type the transport claimed, if any."""
        code = ErrorCode.MANIFEST_INVALID
        if len(raw) > MAX_MANIFEST_SIZE:
            raise InvalidInput(f"{what}: larger than {MAX_MANIFEST_SIZE} bytes", code=code)
        obj = load_object(raw, what)
        version = want(obj, "schemaVersion", int, what)
        if version != 2:
            raise InvalidInput(f"{what}: schemaVersion must be 2, got {version}", code=code)
        declared = want(obj, "mediaType", str, what, required=False)
        effective = declared or media_type or mt.OCI_MANIFEST
        if declared and media_type and declared != media_type:
            raise InvalidInput(
                f"{what}: mediaType {declared!r} does not match the content type {media_type!r}",
                code=code,
            )
        if effective not in mt.MANIFEST_TYPES:
            raise InvalidInput(
                f"{what}: mediaType {effective!r} is not an image manifest", code=code
            )
        config = Descriptor.from_json(want(obj, "config", dict, what), f"{what}: config")
        layers_json = want(obj, "layers", list, what, required=effective == mt.DOCKER_MANIFEST)
        layers = tuple(
            Descriptor.from_json(d, f"{what}: layers[{i}]") for i, d in enumerate(layers_json or [])
        )
        subject_json = want(obj, "subject", dict, what, required=False)
        return ImageManifest(
            media_type=effective,
            config=config,
            layers=layers,
            subject=Descriptor.from_json(subject_json, f"{what}: subject")
            if subject_json
            else None,
            annotations=string_map(obj, "annotations", what),
            artifact_type=want(obj, "artifactType", str, what, required=False),
            media_type_in_json=declared is not None,
            extra={k: v for k, v in obj.items() if k not in _KNOWN},
            raw=raw,
        )

    @staticmethod
    def build(
        config: Descriptor,
        layers: list[Descriptor] | tuple[Descriptor, ...],
        *,
        media_type: str = mt.OCI_MANIFEST,
        annotations: dict[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
    ) -> ImageManifest:
        """Make a new manifest and serialise it as containers/image does."""
        m = ImageManifest(
            media_type=media_type,
            config=config,
            layers=tuple(layers),
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
        )
        return m.reserialised()

    def to_json(self) -> JSONObject:
        out: JSONObject = {"schemaVersion": 2}
        if self.media_type_in_json:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_json()
        out["layers"] = [d.to_json() for d in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        out.update(self.extra)
        return out

    def reserialised(self) -> ImageManifest:
        """The same manifest with `raw` rebuilt from the fields (a new digest)."""
        from dataclasses import replace

        return replace(self, raw=dump(self.to_json()))

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)

    @property
    def is_docker(self) -> bool:
        return self.media_type == mt.DOCKER_MANIFEST

    def descriptor(self, **kw: Any) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw), **kw)

    def blobs(self) -> tuple[Descriptor, ...]:
        """Config first, then layers: every blob the manifest needs."""
        return (self.config, *self.layers)


def detect_media_type(raw: bytes, what: str = "manifest") -> str:
    """The media type of a manifest or index from its JSON (mediaType, else its shape)."""
    obj = load_object(raw, what)
    declared = obj.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if obj.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in obj else mt.DOCKER_SCHEMA1
    if "manifests" in obj:
        return mt.OCI_INDEX
    if "config" in obj or "layers" in obj:
        return mt.OCI_MANIFEST
    raise InvalidInput(
        f"{what}: cannot tell whether this is a manifest or an index",
        code=ErrorCode.MANIFEST_INVALID,
    )


def parse_any(
    raw: bytes, media_type: str | None = None, what: str = "manifest"
) -> ImageManifest | ImageIndex:
    """Parse a manifest or an index, deciding by the claimed or detected media type."""
    from lamina.oci.index import ImageIndex

    kind = media_type if media_type in mt.ALL_MANIFEST_TYPES else detect_media_type(raw, what)
    if kind in mt.INDEX_TYPES:
        return ImageIndex.parse(raw, kind if media_type else None, what)
    if kind in mt.MANIFEST_TYPES:
        return ImageManifest.parse(raw, kind if media_type else None, what)
    raise InvalidInput(
        f"{what}: unsupported manifest media type {kind!r}",
        code=ErrorCode.MANIFEST_INVALID,
        hint="lamina reads OCI and Docker schema2 manifests and indexes",
    )
