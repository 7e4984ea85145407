"""Strict JSON reading and Go-compatible compact writing for wire objects."""

from __future__ import annotations

import json
from typing import Any

from lamina.errors import ErrorCode, InvalidInput

JSONObject = dict[str, Any]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> JSONObject:
    out: JSONObject = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def load_object(raw: bytes, what: str, code: ErrorCode = ErrorCode.MANIFEST_INVALID) -> JSONObject:
    """Parse `raw` as one JSON object; duplicate keys and non-objects are errors."""
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInput(f"{what}: invalid JSON: {exc}", code=code) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{what}: expected a JSON object, got {type(value).__name__}", code=code)
    return value


def dump(obj: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (including its HTML escaping)."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()


def want(
    obj: JSONObject,
    key: str,
    kind: type | tuple[type, ...],
    what: str,
    code: ErrorCode = ErrorCode.MANIFEST_INVALID,
    *,
    required: bool = True,
) -> Any:
    """Fetch `obj[key]` checking its JSON type; name the field when it is wrong."""
    if key not in obj or obj[key] is None:
        if required:
            raise InvalidInput(f"{what}: missing required field {key!r}", code=code)
        return None
    value = obj[key]
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int,)))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InvalidInput(
            f"{what}: field {key!r} must be {_json_name(names)}, got {type(value).__name__}",
            code=code,
        )
    return value


def string_map(
    obj: JSONObject, key: str, what: str, code: ErrorCode = ErrorCode.MANIFEST_INVALID
) -> dict[str, str] | None:
    value = want(obj, key, dict, what, code, required=False)
    if value is None:
        return None
    for k, v in value.items():
        if not isinstance(v, str):
            raise InvalidInput(f"{what}: {key}[{k!r}] must be a string", code=code)
    return dict(value)


def string_list(
    obj: JSONObject, key: str, what: str, code: ErrorCode = ErrorCode.MANIFEST_INVALID
) -> tuple[str, ...] | None:
    value = want(obj, key, list, what, code, required=False)
    if value is None:
        return None
    for i, v in enumerate(value):
        if not isinstance(v, str):
            raise InvalidInput(f"{what}: {key}[{i}] must be a string", code=code)
    return tuple(value)


def _json_name(pyname: str) -> str:
    return (
        pyname.replace("dict", "an object")
        .replace("list", "an array")
        .replace("str", "a string")
        .replace("int", "an integer")
        .replace("bool", "a boolean")
    )
