"""Lexing and parsing a Go template into nodes (`{{`…`}}` actions, trim markers,
comments, control structures); errors name the line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import InvalidInput
from lamina.gotemplate.funcs import FUNCS

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
    |(?P<declare>:=)
    |(?P<assign>=)
    |(?P<pipe>\|)
    |(?P<lparen>\()
    |(?P<rparen>\))
    |(?P<comma>,)
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<raw>`[^`]*`)
    |(?P<char>'(?:[^'\\\n]|\\.)+')
    |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?))
    |(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+)
    |(?P<dot>\.)
    |(?P<variable>\$[A-Za-z0-9_]*)
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_TRIM_END = re.compile(r"[ \t\r\n]-}}")
_SPACE = re.compile(r"\s+")
_ESCAPES |= {"\\": "\\", '"': '"', "'": "'"}


@dataclass(frozen=True, slots=True)
class Tok:
    kind: str
    text: str
    pos: int


@dataclass(slots=True)
class Action:
    tokens: list[Tok]
    pos: int


class Source:
    def __init__(self, text: str) -> None:
        self.text = text

    def where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return f"line {line}, column {col}"

    def error(self, pos: int, message: str) -> InvalidInput:
        return InvalidInput(
            f"template {self.where(pos)}: {message}",
            hint="the template language is Go's text/template, as podman's --format",
        )


def _unquote(src: Source, tok: Tok) -> str:
    body = tok.text[1:-1]
    if tok.kind == "raw":
        return body.replace("\r", "")

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in _ESCAPES:
            return _ESCAPES[e[0]]
        if e[0] in "xuU":
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8))
        raise src.error(tok.pos, f"unknown escape sequence \\{e[0]}")

    esc = r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)"
    return re.sub(esc, one, body)


def lex(src: Source) -> list[str | Action]:
    text = src.text
    out: list[str | Action] = []
    i = 0
    trim_next = False
    while True:
        start = text.find("{{", i)
        chunk = text[i:] if start < 0 else text[i:start]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if start < 0:
            if chunk:
                out.append(chunk)
            return out
        j = start + 2
        if text.startswith("-", j) and j + 1 < len(text) and text[j + 1] in " \t\r\n":
            chunk = chunk.rstrip(" \t\r\n")
            j += 2
        if chunk:
            out.append(chunk)
        tokens: list[Tok] = []
        stripped = text[j:].lstrip(" \t\r\n")
        if stripped.startswith("/*"):
            k = text.find("*/", j)
            if k < 0:
                raise src.error(start, "unclosed comment")
            j = k + 2
            comment = True
        else:
            comment = False
        while True:
            m_end = _TRIM_END.match(text, j)
            if m_end:
                j = m_end.end()
                trim_next = True
                break
            if text.startswith("}}", j):
                j += 2
                trim_next = False
                break
            if j >= len(text):
                raise src.error(start, "unclosed action")
            if comment:
                m_ws = _SPACE.match(text, j)
                if not m_ws:
                    raise src.error(j, "comment ends before closing delimiter")
                j = m_ws.end()
                continue
            m = _TOKEN.match(text, j)
            if not m or m.end() == j:
                raise src.error(j, f"unexpected {text[j]!r} in command")
            kind = m.lastgroup or ""
            if kind != "ws":
                tokens.append(Tok(kind, m.group(), j))
            j = m.end()
        if not comment:
            out.append(Action(tokens, start))
        i = j


# -- parse tree ---------------------------------------------------------------------------


@dataclass(slots=True)
class Operand:
    kind: str  # dot, field, var, literal, ident, sub
    pos: int
    value: Any = None  # literal value, variable name, function name, or sub-pipeline
    chain: tuple[str, ...] = ()


@dataclass(slots=True)
class Pipe:
    pos: int
    decl: list[str] = field(default_factory=list)
    assign: bool = False
    cmds: list[list[Operand]] = field(default_factory=list)


@dataclass(slots=True)
class Node:
    kind: str  # text, action, if, range, with, break, continue
    pos: int
    text: str = ""
    pipe: Pipe | None = None
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


class Parser:
    def __init__(self, src: Source, items: list[str | Action]) -> None:
        self.src = src
        self.items = items
        self.i = 0
        self.loops = 0

    def parse_list(self, top: bool) -> tuple[list[Node], str, Action | None]:
        """Nodes up to `{{end}}`/`{{else …}}` (returned as the stop word) or the end."""
        nodes: list[Node] = []
        while self.i < len(self.items):
            item = self.items[self.i]
            self.i += 1
            if isinstance(item, str):
                nodes.append(Node("text", 0, text=item))
                continue
            toks = item.tokens
            word = toks[0].text if toks and toks[0].kind == "ident" else ""
            if word in ("end", "else"):
                if top:
                    raise self.src.error(item.pos, f"unexpected {{{{{word}}}}}")
                return nodes, word, item
            if word in ("if", "range", "with"):
                nodes.append(self.control(word, item, toks[1:]))
            elif word in ("break", "continue"):
                if len(toks) != 1:
                    raise self.src.error(item.pos, f"unexpected text after {word}")
                if not self.loops:
                    raise self.src.error(item.pos, f"{{{{{word}}}}} outside {{{{range}}}}")
                nodes.append(Node(word, item.pos))
            elif word in ("define", "template", "block"):
                raise self.src.error(item.pos, f"{{{{{word}}}}} is not supported in --format")
            else:
                nodes.append(Node("action", item.pos, pipe=self.pipeline(item, toks)))
        if not top:
            raise self.src.error(len(self.src.text), "unexpected EOF: missing {{end}}")
        return nodes, "", None

    def control(self, word: str, item: Action, toks: list[Tok]) -> Node:
        if not toks:
            raise self.src.error(item.pos, f"missing value for {word}")
        node = Node(word, item.pos, pipe=self.pipeline(item, toks, control=word == "range"))
        self.loops += word == "range"
        node.body, stop, at = self.parse_list(top=False)
        self.loops -= word == "range"
        if stop == "else":
            assert at is not None
            rest = at.tokens[1:]
            if rest and rest[0].text == "if" and word != "range":
                node.orelse = [self.control("if", at, rest[1:])]
                return node
            if rest:
                raise self.src.error(at.pos, "unexpected text after else")
            node.orelse, stop, at = self.parse_list(top=False)
            if stop != "end":
                assert at is not None
                raise self.src.error(at.pos, "expected {{end}}")
        if at is not None and len(at.tokens) != 1:
            raise self.src.error(at.pos, "unexpected text after end")
        return node

    def pipeline(self, item: Action, toks: list[Tok], control: bool = False) -> Pipe:
        if not toks:
            raise self.src.error(item.pos, "missing value for command")
        pipe = Pipe(toks[0].pos)
        k = 0
        # $x := / $x = / $i, $e :=
        names: list[str] = []
        while k < len(toks) and toks[k].kind == "variable":
            if k + 1 < len(toks) and toks[k + 1].kind in ("declare", "assign", "comma"):
                names.append(toks[k].text)
                sep = toks[k + 1].kind
                k += 2
                if sep == "comma":
                    if not control or len(names) > 1:
                        raise self.src.error(toks[k - 1].pos, "too many declarations")
                    continue
                pipe.decl, pipe.assign = names, sep == "assign"
                break
            break
        if names and not pipe.decl:
            raise self.src.error(toks[k - 1].pos, "missing := after variables")
        self.toks, self.k = toks, k
        pipe.cmds = self.commands(item.pos, until=None)
        return pipe

    def commands(self, pos: int, until: str | None) -> list[list[Operand]]:
        cmds: list[list[Operand]] = []
        cmd: list[Operand] = []
        while self.k < len(self.toks):
            tok = self.toks[self.k]
            if tok.kind == until:
                break
            self.k += 1
            if tok.kind == "pipe":
                if not cmd:
                    raise self.src.error(tok.pos, "missing command before |")
                cmds.append(cmd)
                cmd = []
            else:
                cmd.append(self.operand(tok))
        if until is not None:
            if self.k >= len(self.toks):
                raise self.src.error(pos, "unclosed left paren")
            self.k += 1
        if not cmd:
            raise self.src.error(pos, "missing value for command")
        cmds.append(cmd)
        return cmds

    def operand(self, tok: Tok) -> Operand:
        kind = tok.kind
        if kind == "dot":
            return Operand("dot", tok.pos)
        if kind == "field":
            return Operand("field", tok.pos, chain=tuple(tok.text[1:].split(".")))
        if kind == "variable":
            return Operand("var", tok.pos, value=tok.text, chain=self.adjacent_fields())
        if kind in ("string", "raw"):
            return Operand("literal", tok.pos, value=_unquote(self.src, tok))
        if kind == "char":
            text = _unquote(self.src, Tok("string", '"' + tok.text[1:-1] + '"', tok.pos))
            if len(text) != 1:
                raise self.src.error(tok.pos, f"malformed character constant: {tok.text}")
            return Operand("literal", tok.pos, value=ord(text))
        if kind == "number":
            return Operand("literal", tok.pos, value=_number(self.src, tok))
        if kind == "ident":
            if tok.text in ("true", "false"):
                return Operand("literal", tok.pos, value=tok.text == "true")
            if tok.text == "nil":
                return Operand("literal", tok.pos, value=None)
            if tok.text not in FUNCS:
                raise self.src.error(tok.pos, f'function "{tok.text}" not defined')
            return Operand("ident", tok.pos, value=tok.text)
        if kind == "lparen":
            sub = Pipe(tok.pos, cmds=self.commands(tok.pos, until="rparen"))
            return Operand("sub", tok.pos, value=sub, chain=self.adjacent_fields())
        raise self.src.error(tok.pos, f"unexpected {tok.text!r} in operand")

    def adjacent_fields(self) -> tuple[str, ...]:
        """`.A.B` written right after the previous token (`$x.A`, `(pipe).A`)."""
        prev = self.toks[self.k - 1]
        nxt = self.toks[self.k] if self.k < len(self.toks) else None
        if nxt is None or nxt.kind != "field" or nxt.pos != prev.pos + len(prev.text):
            return ()
        self.k += 1
        return tuple(nxt.text[1:].split("."))


def _number(src: Source, tok: Tok) -> int | float:
    text = tok.text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xX][0-9a-fA-F]+", text):
            return int(text, 16)
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text, 10)
        return float(text)
    except ValueError:
        raise src.error(tok.pos, f"bad number syntax: {tok.text!r}") from None
