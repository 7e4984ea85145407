"""Values and functions of the Go template subset: how Go prints a value (`%v`), its
truth, podman's `json`, fmt's `Sprintf`, and the functions a template may call."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any


class Record(dict[str, Any]):
    """A Go struct: fields keep their order; looking up a field it lacks is an error.
    Fields named in `omitempty` are left out of `json` when empty (Go's `,omitempty`)."""

    omitempty: frozenset[str] = frozenset()
    json_names: dict[str, str] = {}  # noqa: RUF012  (read-only default; set per instance)


class Time(str):
    """A Go time.Time: JSON-encodes as its RFC 3339 text (the str value), prints as `shown`
    (Go's `2006-01-02 15:04:05.999999999 -0700 MST`)."""

    shown: str = ""

    @classmethod
    def of(cls, rfc3339: str, shown: str) -> Time:
        t = cls(rfc3339)
        t.shown = shown
        return t


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()  # a map's missing key, as text/template prints it


def go_type(v: Any) -> str:
    """The Go type name fmt uses in `%!verb(type=value)`."""
    if v is None:
        return "<nil>"
    if isinstance(v, Time):
        return v.shown
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Record):
        return "struct"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__


def go_str(v: Any) -> str:
    """fmt's `%v` of a value."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, Time):
        return v.shown
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v).replace("e+0", "e+").replace("e-0", "e-")
    if isinstance(v, str):
        return v
    if isinstance(v, Record):
        return "{" + " ".join(go_str(x) for x in v.values()) + "}"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def truth(v: Any) -> bool:
    """text/template's truth: false, 0, nil and empty strings, slices and maps are false;
    a struct is always true."""
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, Record):
        return True
    if isinstance(v, bool | int | float | str | list | tuple | dict):
        return bool(v)
    return True


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return {
            v.json_names.get(k, k): _plain(x)
            for k, x in v.items()
            if k not in v.omitempty or truth(x)
        }
    if isinstance(v, dict):
        return {str(k): _plain(v[k]) for k in sorted(v)}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, Time):
        return str(v)
    return None if v is NO_VALUE else v


def to_json(v: Any) -> str:
    """podman's `json`: compact, maps in sorted key order, struct fields in order, no HTML
    escaping."""
    return json.dumps(_plain(v), ensure_ascii=False, separators=(",", ":"))


# -- fmt ----------------------------------------------------------------------------------

_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?(.)?", re.DOTALL)


def sprintf(fmt: str, args: Sequence[Any]) -> str:
    """Go's fmt.Sprintf for the verbs `%v %s %d %q %t %x %X %f %e %g %c %%`."""
    out: list[str] = []
    i = 0
    n = 0
    pos = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb is None:
            out.append("%!(NOVERB)")
            continue
        if verb == "%":
            out.append("%")
            continue
        if i >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[i]
        i += 1
        n += 1
        out.append(_pad(_verb(verb, arg, flags, prec), flags, width, arg))
    out.append(fmt[pos:])
    if i < len(args):
        extra = ", ".join(go_str(a) if a is None else f"{go_type(a)}={go_str(a)}" for a in args[i:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _verb(verb: str, arg: Any, flags: str, prec: str | None) -> str:
    bad = f"%!{verb}({go_type(arg)}={go_str(arg)})"
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "v":
        return go_str(arg)
    if verb == "s":
        if isinstance(arg, bool | int | float) or arg is None:
            return bad
        text = go_str(arg)
        return text[: int(prec)] if prec is not None else text
    if verb == "q":
        if isinstance(arg, str):
            return json.dumps(arg, ensure_ascii=False)
        if is_int:
            return "'" + chr(arg) + "'"
        return bad
    if verb == "d":
        if not is_int:
            return bad
        return f"{arg:+d}" if "+" in flags else str(arg)
    if verb == "t":
        return go_str(arg) if isinstance(arg, bool) else bad
    if verb in "xX":
        if is_int:
            text = format(arg, "x")
        elif isinstance(arg, str):
            text = arg.encode().hex()
        else:
            return bad
        return text.upper() if verb == "X" else text
    if verb in "feEgG":
        if not isinstance(arg, int | float) or isinstance(arg, bool) or is_int:
            return bad
        p = "" if prec is None and verb in "gG" else f".{prec if prec is not None else 6}"
        return format(arg, f"{'+' if '+' in flags else ''}{p}{verb}")
    if verb == "c":
        return chr(arg) if is_int else bad
    return f"%!{verb}({go_type(arg)}={go_str(arg)})"


def _pad(text: str, flags: str, width: str | None, arg: Any) -> str:
    if not width or len(text) >= int(width):
        return text
    w = int(width)
    if "-" in flags:
        return text.ljust(w)
    if "0" in flags and isinstance(arg, int | float) and not isinstance(arg, bool):
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(w - len(sign), "0")
    return text.rjust(w)


def _sprint(args: Sequence[Any]) -> str:
    out = ""
    for k, a in enumerate(args):
        if k and not isinstance(a, str) and not isinstance(args[k - 1], str):
            out += " "
        out += go_str(a)
    return out


# -- functions ----------------------------------------------------------------------------


class FuncError(Exception):
    """A function's complaint; the executor adds the position."""


def _basic(v: Any, name: str) -> tuple[str, Any]:
    if isinstance(v, bool):
        return "bool", v
    if isinstance(v, int):
        return "int", v
    if isinstance(v, float):
        return "float", v
    if isinstance(v, str):
        return "string", v
    if v is None or v is NO_VALUE:
        return "nil", None
    raise FuncError(f"{name}: invalid type for comparison")


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    ka, va = _basic(a, "eq")
    for b in others:
        kb, vb = _basic(b, "eq")
        if ka != kb and "nil" not in (ka, kb):
            raise FuncError("incompatible types for comparison")
        if va == vb and ka == kb:
            return True
    return False


def _less(name: str) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ka, va = _basic(a, name)
        kb, vb = _basic(b, name)
        if ka in ("bool", "nil") or kb in ("bool", "nil"):
            raise FuncError(f"{name}: invalid type for comparison")
        if ka != kb:
            raise FuncError("incompatible types for comparison")
        return bool({"lt": va < vb, "le": va <= vb, "gt": va > vb, "ge": va >= vb}[name])

    return compare


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, list | tuple | dict):
        return len(v)
    raise FuncError(f"len of type {go_type(v)}")


def _index(v: Any, *keys: Any) -> Any:
    for key in keys:
        if v is None or v is NO_VALUE:
            raise FuncError("index of untyped nil")
        if isinstance(v, dict) and not isinstance(v, Record):
            if not isinstance(key, str):
                raise FuncError(f"value has type {go_type(key)}; should be string")
            # a missing key gives the element type's zero value: "" for podman's labels
            zero = "" if all(isinstance(x, str) for x in v.values()) else None
            v = v.get(key, zero)
        elif isinstance(v, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {go_type(key)}")
            seq = v.encode() if isinstance(v, str) else v
            if not 0 <= key < len(seq):
                raise FuncError(f"index out of range: {key}")
            v = seq[key]
        else:
            raise FuncError(f"can't index item of type {go_type(v)}")
    return v


def _slice(v: Any, *idx: Any) -> Any:
    if not isinstance(v, list | tuple | str):
        raise FuncError(f"can't slice item of type {go_type(v)}")
    if len(idx) > 2:
        raise FuncError("too many slice indexes")
    lo = idx[0] if idx else 0
    hi = idx[1] if len(idx) > 1 else len(v)
    if not 0 <= lo <= hi <= len(v):
        raise FuncError(f"index out of range: {hi if hi > len(v) else lo}")
    return v[lo:hi]


def _join(items: Any, sep: Any) -> str:
    if not isinstance(items, list | tuple) or not all(isinstance(x, str) for x in items):
        raise FuncError(f"join: wrong type for value; expected []string; got {go_type(items)}")
    return str(sep).join(items)


def _strs(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if not isinstance(args[0], str):
            raise FuncError(f"{name}: wrong type for value; expected string")
        return fn(*args)

    return call


def _truncate(s: str, n: int) -> str:
    return s[:n] if len(s) > n else s


def _pad_with_space(s: str, prefix: int, suffix: int) -> str:
    return " " * prefix + s + " " * suffix


def _title(s: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


CALLS: dict[str, tuple[Callable[..., Any], int, bool]] = {
    # name: (function, fixed argument count, variadic)
    "not": (lambda v: not truth(v), 1, False),
    "len": (_len, 1, False),
    "index": (_index, 1, True),
    "slice": (_slice, 1, True),
    "print": (lambda *a: _sprint(a), 0, True),
    "println": (lambda *a: " ".join(go_str(x) for x in a) + "\n", 0, True),
    "printf": (lambda f, *a: sprintf(f, a), 1, True),
    "eq": (_eq, 1, True),
    "ne": (lambda a, b: not _eq(a, b), 2, False),
    "lt": (_less("lt"), 2, False),
    "le": (_less("le"), 2, False),
    "gt": (_less("gt"), 2, False),
    "ge": (_less("ge"), 2, False),
    "json": (to_json, 1, False),
    "join": (_join, 2, False),
    "split": (_strs("split", lambda s, sep: s.split(sep) if sep else list(s)), 2, False),
    "lower": (_strs("lower", str.lower), 1, False),
    "upper": (_strs("upper", str.upper), 1, False),
    "title": (_strs("title", _title), 1, False),
    "truncate": (_strs("truncate", _truncate), 2, False),
    "pad": (_strs("pad", _pad_with_space), 3, False),
}
FUNCS: frozenset[str] = frozenset({*CALLS, "and", "or"})
