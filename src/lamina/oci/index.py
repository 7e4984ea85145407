"""Image indexes: OCI image index and Docker manifest list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci.descriptor import Descriptor
from lamina.oci.jsonio import JSONObject, dump, load_object, string_map, want
from lamina.oci.limits import MAX_MANIFEST_SIZE
from lamina.platform import Platform

_KNOWN = frozenset(
    {"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    annotations: dict[str, str] | None = None
    artifact_type: str | None = None
    media_type_in_json: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    @staticmethod
    def parse(raw: bytes, media_type: str | None = None, what: str = "index") -> ImageIndex:
        code = ErrorCode.MANIFEST_INVALID
        if len(raw) > MAX_MANIFEST_SIZE:
            raise InvalidInput(f"{what}: larger than {MAX_MANIFEST_SIZE} bytes", code=code)
        obj = load_object(raw, what)
        version = want(obj, "schemaVersion", int, what)
        if version != 2:
            raise InvalidInput(f"{what}: schemaVersion must be 2, got {version}", code=code)
        declared = want(obj, "mediaType", str, what, required=False)
        if declared and media_type and declared != media_type:
            raise InvalidInput(
                f"{what}: mediaType {declared!r} does not match the content type {media_type!r}",
                code=code,
            )
        effective = declared or media_type or mt.OCI_INDEX
        if effective not in mt.INDEX_TYPES:
            raise InvalidInput(f"{what}: mediaType {effective!r} is not an index", code=code)
        manifests = tuple(
            Descriptor.from_json(d, f"{what}: manifests[{i}]")
            for i, d in enumerate(want(obj, "manifests", list, what))
        )
        subject_json = want(obj, "subject", dict, what, required=False)
        return ImageIndex(
            media_type=effective,
            manifests=manifests,
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
        manifests: list[Descriptor] | tuple[Descriptor, ...],
        *,
        media_type: str = mt.OCI_INDEX,
        annotations: dict[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
    ) -> ImageIndex:
        i = ImageIndex(
            media_type=media_type,
            manifests=tuple(manifests),
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
        )
        return i.reserialised()

    def to_json(self) -> JSONObject:
        out: JSONObject = {"schemaVersion": 2}
        if self.media_type_in_json:
            out["mediaType"] = self.media_type
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [d.to_json() for d in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        out.update(self.extra)
        return out

    def reserialised(self) -> ImageIndex:
        from dataclasses import replace

        return replace(self, raw=dump(self.to_json()))

    @property
    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw)

    def descriptor(self, **kw: Any) -> Descriptor:
        return Descriptor(media_type=self.media_type, digest=self.digest, size=len(self.raw), **kw)

    def for_platform(self, wanted: Platform) -> Descriptor | None:
        """The first image manifest whose platform satisfies `wanted`."""
        for d in self.manifests:
            if d.platform is not None and wanted.matches(d.platform):
                return d
        return None
