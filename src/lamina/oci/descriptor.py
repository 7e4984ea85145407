"""Content descriptors (OCI image spec, descriptor.md)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci.jsonio import JSONObject, string_list, string_map, want
from lamina.platform import Platform

_MEDIA_TYPE_RE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
)
_KNOWN = frozenset(
    {"mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] | None = None
    data: bytes | None = None
    platform: Platform | None = None
    artifact_type: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def from_json(obj: Any, what: str, code: ErrorCode = ErrorCode.MANIFEST_INVALID) -> Descriptor:
        if not isinstance(obj, dict):
            raise InvalidInput(f"{what}: descriptor must be an object", code=code)
        media_type = want(obj, "mediaType", str, what, code)
        if not _MEDIA_TYPE_RE.match(media_type):
            raise InvalidInput(f"{what}: invalid mediaType {media_type[:100]!r}", code=code)
        digest_text = want(obj, "digest", str, what, code)
        try:
            digest = Digest.parse(digest_text)
        except InvalidInput as exc:
            raise InvalidInput(
                f"{what}: field 'digest': {exc}", code=ErrorCode.DIGEST_INVALID
            ) from None
        size = want(obj, "size", int, what, code)
        if size < 0:
            raise InvalidInput(f"{what}: field 'size' must not be negative", code=code)
        data: bytes | None = None
        data_text = want(obj, "data", str, what, code, required=False)
        if data_text is not None:
            try:
                data = base64.b64decode(data_text, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidInput(f"{what}: field 'data' is not valid base64", code=code) from None
            if len(data) != size or Digest.of_bytes(data, digest.algorithm) != digest:
                raise InvalidInput(
                    f"{what}: field 'data' does not match size and digest", code=code
                )
        platform_obj = want(obj, "platform", dict, what, code, required=False)
        platform = _platform_from_json(platform_obj, what, code) if platform_obj else None
        artifact_type = want(obj, "artifactType", str, what, code, required=False)
        return Descriptor(
            media_type=media_type,
            digest=digest,
            size=size,
            urls=string_list(obj, "urls", what, code) or (),
            annotations=string_map(obj, "annotations", what, code),
            data=data,
            platform=platform,
            artifact_type=artifact_type,
            extra={k: v for k, v in obj.items() if k not in _KNOWN},
        )

    def to_json(self) -> JSONObject:
        out: JSONObject = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        if self.platform is not None:
            out["platform"] = platform_to_json(self.platform)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        out.update(self.extra)
        return out

    def with_media_type(self, media_type: str) -> Descriptor:
        return _replace(self, media_type=media_type)

    def with_annotations(self, annotations: dict[str, str] | None) -> Descriptor:
        return _replace(self, annotations=annotations)

    def with_platform(self, platform: Platform | None) -> Descriptor:
        return _replace(self, platform=platform)


def _replace(d: Descriptor, **changes: Any) -> Descriptor:
    from dataclasses import replace

    return replace(d, **changes)


def _platform_from_json(obj: JSONObject, what: str, code: ErrorCode) -> Platform:
    where = f"{what}: platform"
    os_name = want(obj, "os", str, where, code)
    arch = want(obj, "architecture", str, where, code)
    return Platform(
        os=os_name,
        architecture=arch,
        variant=want(obj, "variant", str, where, code, required=False) or "",
        os_version=want(obj, "os.version", str, where, code, required=False) or "",
        os_features=string_list(obj, "os.features", where, code) or (),
    )


def platform_to_json(p: Platform) -> JSONObject:
    out: JSONObject = {"architecture": p.architecture, "os": p.os}
    if p.os_version:
        out["os.version"] = p.os_version
    if p.os_features:
        out["os.features"] = list(p.os_features)
    if p.variant:
        out["variant"] = p.variant
    return out
