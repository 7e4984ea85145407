"""The subset of Go's text/template that podman, buildah and skopeo accept in `--format`.

Actions: `{{pipeline}}`, `{{if}}`/`{{else if}}`/`{{else}}`/`{{end}}`, `{{range}}` (with
`$i, $e :=`, `{{break}}`, `{{continue}}`), `{{with}}`, variables (`$x := …`, `$x = …`, `$`),
comments, and the trim markers `{{-` / `-}}`. Operands: `.`, `.A.B`, `$x.A`, `(pipe).A`,
string (`"…"`, `` `…` ``), number, `true`, `false`, `nil`. Functions: Go's `and`, `or`,
`not`, `len`, `index`, `slice`, `print`, `printf`, `println`, `eq`, `ne`, `lt`, `le`, `gt`,
`ge`, and podman's `json`, `join`, `split`, `lower`, `upper`, `title`, `truncate`, `pad`.

Data are Python values: a `Record` is a Go struct (fields in order; a missing field is an
error), any other dict is a Go map (ranged in sorted key order; a missing key prints
`<no value>`), lists are slices, None is nil. Pure: no I/O. Every error is one
`InvalidInput` naming the line and column of the action at fault.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lamina.gotemplate.funcs import (
    CALLS,
    FUNCS,
    NO_VALUE,
    FuncError,
    Record,
    Time,
    go_str,
    go_type,
    sprintf,
    to_json,
    truth,
)
from lamina.gotemplate.parse import Node, Operand, Parser, Pipe, Source, lex

__all__ = [
    "FUNCS",
    "NO_VALUE",
    "Record",
    "Template",
    "Time",
    "go_str",
    "go_type",
    "render",
    "sprintf",
    "to_json",
    "truth",
]


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Template:
    """A parsed template; `execute` renders it against one value."""

    def __init__(self, text: str) -> None:
        self._src = Source(text)
        self._nodes, _, _ = Parser(self._src, lex(self._src)).parse_list(top=True)

    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._walk(self._nodes, data, [("$", data)], out)
        return "".join(out)

    def _walk(
        self, nodes: list[Node], dot: Any, scope: list[tuple[str, Any]], out: list[str]
    ) -> None:
        mark = len(scope)
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "action":
                assert node.pipe is not None
                value = self._pipe(node.pipe, dot, scope)
                if not node.pipe.decl:
                    out.append(go_str(value))
            elif node.kind in ("if", "with"):
                assert node.pipe is not None
                inner = len(scope)
                value = self._pipe(node.pipe, dot, scope)
                if truth(value):
                    self._walk(node.body, value if node.kind == "with" else dot, scope, out)
                else:
                    self._walk(node.orelse, dot, scope, out)
                del scope[inner:]
            elif node.kind == "range":
                self._range(node, dot, scope, out)
            elif node.kind == "break":
                raise _Break
            elif node.kind == "continue":
                raise _Continue
        del scope[mark:]

    def _range(self, node: Node, dot: Any, scope: list[tuple[str, Any]], out: list[str]) -> None:
        assert node.pipe is not None
        decl = node.pipe.decl
        node.pipe.decl = []
        try:
            value = self._pipe(node.pipe, dot, scope)
        finally:
            node.pipe.decl = decl
        pairs: Iterator[tuple[Any, Any]]
        if isinstance(value, Record):
            raise self._src.error(node.pos, f"range can't iterate over {go_str(value)}")
        if isinstance(value, dict):
            pairs = ((k, value[k]) for k in sorted(value))
        elif isinstance(value, list | tuple):
            pairs = enumerate(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((k, k) for k in range(value))
        elif value is None or value is NO_VALUE:
            pairs = iter(())
        else:
            raise self._src.error(node.pos, f"range can't iterate over {go_str(value)}")
        ran = False
        for key, elem in pairs:
            ran = True
            mark = len(scope)
            if len(decl) == 1:
                scope.append((decl[0], elem))
            elif len(decl) == 2:
                scope += [(decl[0], key), (decl[1], elem)]
            try:
                self._walk(node.body, elem, scope, out)
            except _Continue:
                pass
            except _Break:
                del scope[mark:]
                break
            del scope[mark:]
        if not ran:
            self._walk(node.orelse, dot, scope, out)

    def _pipe(self, pipe: Pipe, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        value: Any = NO_VALUE
        final = False
        for cmd in pipe.cmds:
            value = self._command(cmd, dot, scope, value if final else NO_VALUE, final)
            final = True
        if pipe.decl:
            name = pipe.decl[0]
            if pipe.assign:
                for k in range(len(scope) - 1, -1, -1):
                    if scope[k][0] == name:
                        scope[k] = (name, value)
                        break
                else:
                    raise self._src.error(pipe.pos, f"undefined variable: {name}")
            else:
                scope.append((name, value))
        return value

    def _command(
        self,
        cmd: list[Operand],
        dot: Any,
        scope: list[tuple[str, Any]],
        final: Any,
        has_final: bool,
    ) -> Any:
        head = cmd[0]
        if head.kind == "ident":
            return self._call(head, cmd[1:], dot, scope, final, has_final)
        if len(cmd) > 1 or has_final:
            raise self._src.error(head.pos, "can't give argument to non-function")
        return self._operand(head, dot, scope)

    def _call(
        self,
        head: Operand,
        rest: list[Operand],
        dot: Any,
        scope: list[tuple[str, Any]],
        final: Any,
        has_final: bool,
    ) -> Any:
        name = str(head.value)
        count = len(rest) + has_final
        if name in ("and", "or"):
            if count < 1:
                raise self._src.error(
                    head.pos, f"wrong number of args for {name}: want at least 1 got 0"
                )
            values = (self._operand(o, dot, scope) for o in rest)
            last: Any = None
            for v in [*values, final] if has_final else values:
                last = v
                if truth(v) != (name == "and"):
                    return v
            return last
        fn, fixed, variadic = CALLS[name]
        if count < fixed or (count > fixed and not variadic):
            want = f"at least {fixed}" if variadic else str(fixed)
            raise self._src.error(
                head.pos, f"wrong number of args for {name}: want {want} got {count}"
            )
        args = [self._operand(o, dot, scope) for o in rest]
        if has_final:
            args.append(final)
        try:
            return fn(*args)
        except FuncError as e:
            raise self._src.error(head.pos, f"error calling {name}: {e}") from None
        except (TypeError, ValueError) as e:
            raise self._src.error(head.pos, f"error calling {name}: {e}") from None

    def _operand(self, op: Operand, dot: Any, scope: list[tuple[str, Any]]) -> Any:
        if op.kind == "dot":
            return dot
        if op.kind == "literal":
            return op.value
        if op.kind == "field":
            return self._fields(dot, op.chain, op.pos)
        if op.kind == "var":
            name = str(op.value)
            for k in range(len(scope) - 1, -1, -1):
                if scope[k][0] == name:
                    return self._fields(scope[k][1], op.chain, op.pos)
            raise self._src.error(op.pos, f"undefined variable: {name}")
        if op.kind == "sub":
            value = self._pipe(op.value, dot, scope)
            return self._fields(value, op.chain, op.pos) if op.chain else value
        if op.kind == "ident":
            return self._call(op, [], dot, scope, None, False)
        raise self._src.error(op.pos, "unexpected operand")

    def _fields(self, value: Any, chain: tuple[str, ...], pos: int) -> Any:
        for name in chain:
            if isinstance(value, Record):
                if name not in value:
                    raise self._src.error(pos, f"can't evaluate field {name} in type struct")
                value = value[name]
            elif isinstance(value, dict):
                value = value.get(name, NO_VALUE)
            elif value is None or value is NO_VALUE:
                raise self._src.error(pos, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self._src.error(pos, f"can't evaluate field {name} in type {go_type(value)}")
        return value


def render(text: str, data: Any) -> str:
    """Parse `text` and execute it on `data`."""
    return Template(text).execute(data)
