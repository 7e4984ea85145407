"""The block-mapping YAML that registries.d files are in practice, read without PyYAML.

`load(text)` returns what `yaml.safe_load` returns for a document made only of nested
block mappings whose keys and values are unmistakable plain scalars (names, URLs, paths,
`true`/`false`, `null`) or one-line flow lists of them (`[]`, `[a, b]`), with `#` comment
lines (registries.d files; sync files as `lamina sync --src yaml` reads them). For anything
else it raises NotSimple; `safe_load` then asks PyYAML, imported only for such a file (its
import, with its regular expressions, took 41-72 ms here, this module's 1-6 ms: cumulative
column of `python -X importtime -c "import yaml"` and of `... "import
lamina.trust.simple_yaml"`, three runs each, 2 shared cores, PYTHONDONTWRITEBYTECODE=1). A
differential test holds the two to the same answers.
"""

from __future__ import annotations

import re
from typing import Any

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]*")
_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9._/:~%+@,=-]*")
_BOOLS = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
}
_NULLS = frozenset({"~", "null", "Null", "NULL"})


class NotSimple(Exception):
    """The document is outside the subset: ask PyYAML."""


class YAMLError(ValueError):
    """PyYAML refused the document (its message)."""


def safe_load(data: bytes | str) -> Any:
    """What `yaml.safe_load(data)` returns: read by `load` when the document is in the
    subset (and UTF-8), else by PyYAML; YAMLError when PyYAML refuses it."""
    try:
        return load(data.decode("utf-8") if isinstance(data, bytes) else data)
    except (UnicodeDecodeError, NotSimple):
        import yaml  # (only for documents outside the subset: its import is slow)

        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise YAMLError(str(exc)) from None


def load(text: str) -> dict[str, Any] | None:
    """The mapping `text` holds (None for an empty document); NotSimple when it is outside
    the subset."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(0, root)]  # (indent of its keys, mapping)
    pending: tuple[dict[str, Any], str] | None = None  # a `key:` whose value may nest
    for raw in text.split("\n"):
        line = raw.rstrip(" \r")
        body = line.lstrip(" ")
        if not body or body.startswith("#"):
            continue
        if "\t" in line or "#" in body or body.startswith(("---", "...", "%")):
            raise NotSimple("tabs, trailing comments or directives")
        indent = len(line) - len(body)
        at = body.find(": ")
        if at >= 0:
            key, value = body[:at], body[at + 2 :].strip(" ")
        elif body.endswith(":"):
            key, value = body[:-1], ""
        else:
            raise NotSimple("not a `key: value` line")
        if not _KEY.fullmatch(key) or not _key_is_text(key):
            raise NotSimple(f"key {key!r}")
        if pending is not None:
            parent, name = pending
            pending = None
            if indent > stack[-1][0]:
                child: dict[str, Any] = {}
                parent[name] = child
                stack.append((indent, child))
        while indent < stack[-1][0]:
            stack.pop()
        if indent != stack[-1][0]:
            raise NotSimple("indentation")
        mapping = stack[-1][1]
        if key in mapping:
            raise NotSimple("duplicate key")  # PyYAML has its own answer for these
        if not value:
            mapping[key] = None
            pending = (mapping, key)
        else:
            mapping[key] = _scalar(value)
    return root or None


def _key_is_text(key: str) -> bool:
    """A key that YAML 1.1 reads as a string: it starts with a letter and is not a boolean
    or null word, or it holds a `/` or two dots (`127.0.0.1:5000`; no number, date or time
    does)."""
    if key in _BOOLS or key in _NULLS:
        return False
    return key[0].isalpha() or "/" in key or key.count(".") >= 2


def _scalar(value: str) -> object:
    if value.startswith("[") and value.endswith("]"):
        inner = value[1:-1].strip(" ")
        if not inner:
            return []
        items = [item.strip(" ") for item in inner.split(",")]
        if any(not item or item.startswith("[") for item in items):
            raise NotSimple(f"value {value!r}")
        return [_scalar(item) for item in items]
    if value in _BOOLS:
        return _BOOLS[value]
    if value in _NULLS:
        return None
    if _TEXT.fullmatch(value) and not value.endswith(":"):  # `x:` is a mapping's key
        return value
    raise NotSimple(f"value {value!r}")
