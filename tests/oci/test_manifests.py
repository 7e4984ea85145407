"""oci/: manifests, indexes and descriptors (OCI and Docker schema2): golden bytes that
round-trip, and malformed documents refused with the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci import Descriptor, ImageIndex, ImageManifest, parse_any
from lamina.oci.limits import MAX_MANIFEST_SIZE
from lamina.oci.manifest import detect_media_type
from lamina.platform import Platform

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
C = "sha256:" + "c" * 64
CONFIG = {"mediaType": mt.OCI_CONFIG, "digest": A, "size": 7}
LAYER = {"mediaType": mt.OCI_LAYER_GZIP, "digest": B, "size": 42}


def _raw(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _manifest(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": CONFIG,
        "layers": [LAYER],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


def _index(**changes: Any) -> dict[str, Any]:
    child = {"mediaType": mt.OCI_MANIFEST, "digest": C, "size": 300}
    base: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [{**child, "platform": {"architecture": "amd64", "os": "linux"}}],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


DROP = object()

# -- golden ----------------------------------------------------------------------------------

GOLDEN_MANIFEST = (
    b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
    b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + A.encode()
    + b'","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'
    b'"digest":"' + B.encode() + b'","size":42}],"annotations":{"a<b":"x&y"}}'
)  # fmt: skip


def test_a_built_manifest_is_serialised_as_containers_image_does() -> None:
    config = Descriptor(media_type=mt.OCI_CONFIG, digest=Digest.parse(A), size=7)
    layer = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.parse(B), size=42)
    built = ImageManifest.build(config, [layer], annotations={"a<b": "x&y"})
    assert built.raw == GOLDEN_MANIFEST.replace(b"a<b", b"a\\u003cb").replace(b"x&y", b"x\\u0026y")
    assert built.digest == Digest.of_bytes(built.raw)
    again = ImageManifest.parse(built.raw)
    assert again == built and again.reserialised().raw == built.raw
    assert again.annotations == {"a<b": "x&y"}


@pytest.mark.parametrize(
    ("raw", "claimed", "media_type", "in_json"),
    [
        (_raw(_manifest()), None, mt.OCI_MANIFEST, True),
        (_raw(_manifest(mediaType=DROP)), None, mt.OCI_MANIFEST, False),
        (_raw(_manifest(mediaType=DROP)), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST, False),
        (_raw(_manifest(mediaType=mt.DOCKER_MANIFEST)), mt.DOCKER_MANIFEST,
         mt.DOCKER_MANIFEST, True),
    ],
)  # fmt: skip
def test_manifests_parse_keeping_their_bytes(
    raw: bytes, claimed: str | None, media_type: str, in_json: bool
) -> None:
    m = ImageManifest.parse(raw, claimed)
    assert m.media_type == media_type and m.media_type_in_json is in_json
    assert m.raw == raw and m.digest == Digest.of_bytes(raw)
    assert m.blobs()[0].digest == Digest.parse(A)
    assert m.reserialised().raw == raw  # compact input in the canonical order round-trips


def test_an_oci_manifest_may_omit_layers_and_is_written_with_an_empty_list() -> None:
    raw = _raw(_manifest(layers=DROP))
    m = ImageManifest.parse(raw)
    assert m.layers == () and m.raw == raw
    assert m.reserialised().raw == _raw(_manifest(layers=[]))


def test_unknown_fields_are_kept_and_written_back() -> None:
    raw = _raw(_manifest(config={**CONFIG, "x-extra": [1]}, future={"k": "v"}))
    m = ImageManifest.parse(raw)
    assert m.extra == {"future": {"k": "v"}} and m.config.extra == {"x-extra": [1]}
    assert m.reserialised().raw == raw


def test_an_index_round_trips_and_finds_platforms() -> None:
    arm = {"mediaType": mt.OCI_MANIFEST, "digest": B, "size": 5}
    arm["platform"] = {"architecture": "arm64", "os": "linux", "variant": "v8"}
    raw = _raw(_index(manifests=[_index()["manifests"][0], arm], annotations={"k": "v"}))
    index = ImageIndex.parse(raw)
    assert index.raw == raw and index.reserialised().raw == raw
    assert parse_any(raw) == index and detect_media_type(raw) == mt.OCI_INDEX
    found = index.for_platform(Platform.parse("linux/arm64"))
    assert found is not None and found.digest == Digest.parse(B)
    assert index.for_platform(Platform.parse("linux/s390x")) is None
    docker = ImageIndex.build([arm_desc(arm)], media_type=mt.DOCKER_MANIFEST_LIST)
    assert ImageIndex.parse(docker.raw, mt.DOCKER_MANIFEST_LIST) == docker


def arm_desc(obj: dict[str, Any]) -> Descriptor:
    return Descriptor.from_json(obj, "test")


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"schemaVersion": 2, "config": CONFIG, "layers": []}, mt.OCI_MANIFEST),
        ({"schemaVersion": 2, "manifests": []}, mt.OCI_INDEX),
        ({"schemaVersion": 1, "name": "x"}, mt.DOCKER_SCHEMA1),
        ({"schemaVersion": 1, "signatures": []}, mt.DOCKER_SCHEMA1_SIGNED),
        ({"mediaType": mt.DOCKER_MANIFEST_LIST}, mt.DOCKER_MANIFEST_LIST),
    ],
)
def test_media_types_are_detected_from_the_shape(obj: dict[str, Any], kind: str) -> None:
    assert detect_media_type(_raw(obj)) == kind


# -- negative --------------------------------------------------------------------------------

BAD_MANIFESTS: list[tuple[str, bytes, str | None, str, ErrorCode]] = [
    ("not json", b"{nope", None, "invalid JSON", ErrorCode.MANIFEST_INVALID),
    ("an array", b"[]", None, "expected a JSON object, got list", ErrorCode.MANIFEST_INVALID),
    ("no schemaVersion", _raw(_manifest(schemaVersion=DROP)), None,
     "missing required field 'schemaVersion'", ErrorCode.MANIFEST_INVALID),
    ("schemaVersion 1", _raw(_manifest(schemaVersion=1)), None,
     "schemaVersion must be 2, got 1", ErrorCode.MANIFEST_INVALID),
    ("schemaVersion as text", _raw(_manifest(schemaVersion="2")), None,
     "field 'schemaVersion' must be an integer, got str", ErrorCode.MANIFEST_INVALID),
    ("schemaVersion true", _raw(_manifest(schemaVersion=True)), None,
     "field 'schemaVersion' must be an integer, got bool", ErrorCode.MANIFEST_INVALID),
    ("an index type", _raw(_manifest(mediaType=mt.OCI_INDEX)), None,
     "is not an image manifest", ErrorCode.MANIFEST_INVALID),
    ("type differs from the claim", _raw(_manifest()), mt.DOCKER_MANIFEST,
     "does not match the content type", ErrorCode.MANIFEST_INVALID),
    ("no config", _raw(_manifest(config=DROP)), None,
     "missing required field 'config'", ErrorCode.MANIFEST_INVALID),
    ("config is a list", _raw(_manifest(config=[])), None,
     "field 'config' must be an object, got list", ErrorCode.MANIFEST_INVALID),
    ("docker without layers", _raw(_manifest(mediaType=mt.DOCKER_MANIFEST, layers=DROP)), None,
     "missing required field 'layers'", ErrorCode.MANIFEST_INVALID),
    ("layers is an object", _raw(_manifest(layers={})), None,
     "field 'layers' must be an array, got dict", ErrorCode.MANIFEST_INVALID),
    ("bad digest", _raw(_manifest(layers=[LAYER, {**LAYER, "digest": "sha256:xyz"}])), None,
     "layers[1]: field 'digest'", ErrorCode.DIGEST_INVALID),
    ("negative size", _raw(_manifest(layers=[{**LAYER, "size": -1}])), None,
     "layers[0]: field 'size' must not be negative", ErrorCode.MANIFEST_INVALID),
    ("fractional size", _raw(_manifest(layers=[{**LAYER, "size": 1.5}])), None,
     "layers[0]: field 'size' must be an integer, got float", ErrorCode.MANIFEST_INVALID),
    ("no size", _raw(_manifest(config={"mediaType": mt.OCI_CONFIG, "digest": A})), None,
     "config: missing required field 'size'", ErrorCode.MANIFEST_INVALID),
    ("media type without a slash", _raw(_manifest(layers=[{**LAYER, "mediaType": "tar"}])),
     None, "layers[0]: invalid mediaType 'tar'", ErrorCode.MANIFEST_INVALID),
    ("descriptor is a string", _raw(_manifest(layers=["x"])), None,
     "layers[0]: descriptor must be an object", ErrorCode.MANIFEST_INVALID),
    ("annotation not a string", _raw(_manifest(annotations={"a": 1})), None,
     "annotations['a'] must be a string", ErrorCode.MANIFEST_INVALID),
    ("url not a string", _raw(_manifest(layers=[{**LAYER, "urls": [3]}])), None,
     "layers[0]: urls[0] must be a string", ErrorCode.MANIFEST_INVALID),
    ("data not base64", _raw(_manifest(config={**CONFIG, "data": "!!"})), None,
     "config: field 'data' is not valid base64", ErrorCode.MANIFEST_INVALID),
    ("data not the blob", _raw(_manifest(config={**CONFIG, "data": "YWJjZGVmZw=="})), None,
     "config: field 'data' does not match size and digest", ErrorCode.MANIFEST_INVALID),
    ("subject is a list", _raw(_manifest(subject=[])), None,
     "field 'subject' must be an object, got list", ErrorCode.MANIFEST_INVALID),
    ("duplicate key", b'{"schemaVersion":2,"schemaVersion":2}', None,
     "duplicate key 'schemaVersion'", ErrorCode.MANIFEST_INVALID),
    ("too large", b" " * (MAX_MANIFEST_SIZE + 1), None, "larger than", ErrorCode.MANIFEST_INVALID),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "claimed", "message", "code"),
    [case[1:] for case in BAD_MANIFESTS],
    ids=[case[0] for case in BAD_MANIFESTS],
)
def test_malformed_manifests_are_refused_naming_the_field(
    raw: bytes, claimed: str | None, message: str, code: ErrorCode
) -> None:
    with pytest.raises(InvalidInput) as err:
        ImageManifest.parse(raw, claimed, "m.json")
    assert err.value.message.startswith("m.json: ")
    assert message in err.value.message and err.value.code == code


BAD_INDEXES: list[tuple[str, bytes, str]] = [
    ("no manifests", _raw(_index(manifests=DROP)), "missing required field 'manifests'"),
    ("a manifest type", _raw(_index(mediaType=mt.OCI_MANIFEST)), "is not an index"),
    ("schemaVersion 3", _raw(_index(schemaVersion=3)), "schemaVersion must be 2, got 3"),
    ("platform without os",
     _raw(_index(manifests=[{**LAYER, "platform": {"architecture": "amd64"}}])),
     "manifests[0]: platform: missing required field 'os'"),
    ("os.features not strings",
     _raw(_index(manifests=[{**LAYER, "platform": {"architecture": "a", "os": "b",
                                                   "os.features": [1]}}])),
     "manifests[0]: platform: os.features[0] must be a string"),
    ("manifests entry is null", _raw(_index(manifests=[None])),
     "manifests[0]: descriptor must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "message"), [c[1:] for c in BAD_INDEXES], ids=[c[0] for c in BAD_INDEXES]
)
def test_malformed_indexes_are_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ImageIndex.parse(raw, None, "i.json")
    assert err.value.message.startswith("i.json: ") and message in err.value.message
    assert err.value.code == ErrorCode.MANIFEST_INVALID


def test_parse_any_refuses_schema1_with_a_hint() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_any(_raw({"schemaVersion": 1, "name": "x"}))
    assert "unsupported manifest media type" in err.value.message and err.value.hint
