"""Strict reading of containers-policy.json requirement lists.

A security policy must never be read loosely: an unknown or duplicated field, a second key
source, a wrong type — each rejects the whole file with a message naming the field's path
(`transports.docker["example.com"][0].keyPaths`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidInput
from lamina.trust.identity import MatchRepoDigestOrExact, SignedIdentity
from lamina.trust.requirements import GPG_KEY_TYPES, Reject, Requirement, SignedBy

if TYPE_CHECKING:
    from lamina.trust.requirements_sigstore import PKI, Fulcio, SigstoreSigned


class Pairs(list[tuple[str, Any]]):
    """A JSON object as read, keeping duplicates so they can be reported with their path."""


def load_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=Pairs)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput(f"{what}: invalid JSON: {exc}") from None


def obj(value: Any, path: str, what: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    """`value` as a dict; duplicate keys, and keys outside `allowed` (if given), are errors."""
    if not isinstance(value, Pairs):
        raise InvalidInput(f"{what}: {path or 'top level'} must be a JSON object")
    out: dict[str, Any] = {}
    for key, item in value:
        if key in out:
            raise InvalidInput(f"{what}: {_join(path, key)}: duplicate field {key!r}")
        if allowed is not None and key not in allowed:
            raise InvalidInput(
                f"{what}: {_join(path, key)}: unknown field {key!r} (allowed: {', '.join(allowed)})"
            )
        out[key] = item
    return out


def _join(path: str, key: str) -> str:
    if not path:
        return key
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _str(
    o: dict[str, Any], key: str, path: str, what: str, *, required: bool = False
) -> str | None:
    if key not in o:
        if required:
            raise InvalidInput(f"{what}: {path}: field {key!r} is missing")
        return None
    value = o[key]
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: {_join(path, key)} must be a string")
    return value


def _bytes(o: dict[str, Any], key: str, path: str, what: str) -> bytes | None:
    text = _str(o, key, path, what)
    return None if text is None else _b64(text, _join(path, key), what)


def _b64(text: str, path: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{what}: {path} is not valid base64") from None


def _str_list(o: dict[str, Any], key: str, path: str, what: str) -> tuple[str, ...] | None:
    if key not in o:
        return None
    value = o[key]
    p = _join(path, key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what}: {p} must be a list of strings")
    if not value:
        raise InvalidInput(f"{what}: {p} contains no entries")
    return tuple(value)


def _bytes_list(o: dict[str, Any], key: str, path: str, what: str) -> tuple[bytes, ...] | None:
    texts = _str_list(o, key, path, what)
    if texts is None:
        return None
    return tuple(_b64(t, f"{_join(path, key)}[{i}]", what) for i, t in enumerate(texts))


def _wrap(path: str, what: str, exc: InvalidInput) -> InvalidInput:
    return InvalidInput(f"{what}: {path}: {exc.message}")


def parse_identity(value: Any, path: str, what: str) -> SignedIdentity:
    kind = _type_of(value, path, what)
    fields: dict[str, tuple[str, ...]] = {
        "matchExact": ("type",),
        "matchRepoDigestOrExact": ("type",),
        "matchRepository": ("type",),
        "exactReference": ("type", "dockerReference"),
        "exactRepository": ("type", "dockerRepository"),
        "remapIdentity": ("type", "prefix", "signedPrefix"),
    }
    if kind not in fields:
        raise InvalidInput(f"{what}: {path}.type: unknown signedIdentity type {kind!r}")
    o = obj(value, path, what, fields[kind])
    for key in fields[kind][1:]:
        _str(o, key, path, what, required=True)
    if kind == "matchRepoDigestOrExact":
        return MatchRepoDigestOrExact()
    from lamina.trust.identity_rules import (
        ExactReference,
        ExactRepository,
        MatchExact,
        MatchRepository,
        RemapIdentity,
    )

    try:
        if kind == "matchExact":
            return MatchExact()
        if kind == "matchRepository":
            return MatchRepository()
        if kind == "exactReference":
            return ExactReference(docker_reference=o["dockerReference"])
        if kind == "exactRepository":
            return ExactRepository(docker_repository=o["dockerRepository"])
        return RemapIdentity(prefix=o["prefix"], signed_prefix=o["signedPrefix"])
    except InvalidInput as exc:
        raise _wrap(path, what, exc) from None


def _type_of(value: Any, path: str, what: str) -> str:
    o = obj(value, path, what, None)
    kind = _str(o, "type", path, what, required=True)
    assert kind is not None
    return kind


def parse_requirements(value: Any, path: str, what: str) -> tuple[Requirement, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"{what}: {path} must be a list of requirements")
    if not value:
        raise InvalidInput(f"{what}: {path}: the list of requirements must not be empty")
    return tuple(parse_requirement(v, f"{path}[{i}]", what) for i, v in enumerate(value))


_SIGNED_BY_FIELDS = ("type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity")
_SIGSTORE_FIELDS = (
    "type",
    "keyPath",
    "keyPaths",
    "keyData",
    "keyDatas",
    "fulcio",
    "pki",
    "rekorPublicKeyPath",
    "rekorPublicKeyPaths",
    "rekorPublicKeyData",
    "rekorPublicKeyDatas",
    "signedIdentity",
)


def parse_requirement(value: Any, path: str, what: str) -> Requirement:
    kind = _type_of(value, path, what)
    if kind == "insecureAcceptAnything":
        from lamina.trust.requirements_other import InsecureAcceptAnything

        obj(value, path, what, ("type",))
        return InsecureAcceptAnything()
    if kind == "reject":
        obj(value, path, what, ("type",))
        return Reject()
    if kind == "signedBy":
        return _signed_by(obj(value, path, what, _SIGNED_BY_FIELDS), path, what)
    if kind == "sigstoreSigned":
        return _sigstore(obj(value, path, what, _SIGSTORE_FIELDS), path, what)
    if kind == "signedBaseLayer":
        o = obj(value, path, what, ("type", "baseLayerIdentity"))
        if "baseLayerIdentity" not in o:
            raise InvalidInput(f"{what}: {path}: field 'baseLayerIdentity' is missing")
        ident = parse_identity(o["baseLayerIdentity"], f"{path}.baseLayerIdentity", what)
        from lamina.trust.requirements_other import SignedBaseLayer

        return SignedBaseLayer(base_layer_identity=ident)
    raise InvalidInput(f"{what}: {path}.type: unknown policy requirement type {kind!r}")


def _signed_identity(o: dict[str, Any], path: str, what: str) -> SignedIdentity:
    if "signedIdentity" not in o:
        return MatchRepoDigestOrExact()
    return parse_identity(o["signedIdentity"], f"{path}.signedIdentity", what)


def _one_of(o: dict[str, Any], keys: tuple[str, ...], path: str, what: str) -> None:
    present = [k for k in keys if k in o]
    if len(present) != 1:
        found = f"found {', '.join(present)}" if present else "none present"
        raise InvalidInput(f"{what}: {path}: exactly one of {', '.join(keys)} is needed ({found})")


def _signed_by(o: dict[str, Any], path: str, what: str) -> SignedBy:
    key_type = _str(o, "keyType", path, what, required=True)
    if key_type not in GPG_KEY_TYPES:
        raise InvalidInput(f"{what}: {path}.keyType: unknown keyType {key_type!r}")
    _one_of(o, ("keyPath", "keyPaths", "keyData"), path, what)
    key_path = _str(o, "keyPath", path, what)
    if key_path == "":
        raise InvalidInput(f"{what}: {path}.keyPath is empty")
    return SignedBy(
        key_type=key_type,
        key_path=key_path,
        key_paths=_str_list(o, "keyPaths", path, what),
        key_data=_bytes(o, "keyData", path, what),
        signed_identity=_signed_identity(o, path, what),
        identity_given="signedIdentity" in o,
    )


def _sigstore(o: dict[str, Any], path: str, what: str) -> SigstoreSigned:
    from lamina.trust.requirements_sigstore import SigstoreSigned

    _one_of(o, ("keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki"), path, what)
    rekor = [k for k in _SIGSTORE_FIELDS if k.startswith("rekor") and k in o]
    if len(rekor) > 1:
        raise InvalidInput(f"{what}: {path}: at most one of the rekor fields ({', '.join(rekor)})")
    if "fulcio" in o and not rekor:
        raise InvalidInput(f"{what}: {path}: fulcio needs a rekorPublicKey* field")
    if "pki" in o and rekor:
        raise InvalidInput(f"{what}: {path}: pki cannot be combined with {rekor[0]}")
    return SigstoreSigned(
        key_path=_str(o, "keyPath", path, what),
        key_paths=_str_list(o, "keyPaths", path, what),
        key_data=_bytes(o, "keyData", path, what),
        key_datas=_bytes_list(o, "keyDatas", path, what),
        fulcio=_fulcio(o["fulcio"], f"{path}.fulcio", what) if "fulcio" in o else None,
        pki=_pki(o["pki"], f"{path}.pki", what) if "pki" in o else None,
        rekor_public_key_path=_str(o, "rekorPublicKeyPath", path, what),
        rekor_public_key_paths=_str_list(o, "rekorPublicKeyPaths", path, what),
        rekor_public_key_data=_bytes(o, "rekorPublicKeyData", path, what),
        rekor_public_key_datas=_bytes_list(o, "rekorPublicKeyDatas", path, what),
        signed_identity=_signed_identity(o, path, what),
    )


def _fulcio(value: Any, path: str, what: str) -> Fulcio:
    from lamina.trust.requirements_sigstore import Fulcio

    o = obj(value, path, what, ("caPath", "caData", "oidcIssuer", "subjectEmail"))
    _one_of(o, ("caPath", "caData"), path, what)
    issuer = _str(o, "oidcIssuer", path, what, required=True)
    email = _str(o, "subjectEmail", path, what, required=True)
    assert issuer is not None and email is not None
    return Fulcio(
        ca_path=_str(o, "caPath", path, what),
        ca_data=_bytes(o, "caData", path, what),
        oidc_issuer=issuer,
        subject_email=email,
    )


def _pki(value: Any, path: str, what: str) -> PKI:
    from lamina.trust.requirements_sigstore import PKI

    fields = (
        "caRootsPath",
        "caRootsData",
        "caIntermediatesPath",
        "caIntermediatesData",
        "subjectEmail",
        "subjectHostname",
    )
    o = obj(value, path, what, fields)
    _one_of(o, ("caRootsPath", "caRootsData"), path, what)
    if "caIntermediatesPath" in o and "caIntermediatesData" in o:
        raise InvalidInput(f"{what}: {path}: caIntermediatesPath and caIntermediatesData both set")
    if "subjectEmail" not in o and "subjectHostname" not in o:
        raise InvalidInput(f"{what}: {path}: at least one of subjectEmail, subjectHostname")
    return PKI(
        ca_roots_path=_str(o, "caRootsPath", path, what),
        ca_roots_data=_bytes(o, "caRootsData", path, what),
        ca_intermediates_path=_str(o, "caIntermediatesPath", path, what),
        ca_intermediates_data=_bytes(o, "caIntermediatesData", path, what),
        subject_email=_str(o, "subjectEmail", path, what),
        subject_hostname=_str(o, "subjectHostname", path, what),
    )
