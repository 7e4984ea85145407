"""Variable expansion and word splitting, as BuildKit's shell lexer does them.

Forms: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`, `${v:?msg}`, `${v?msg}`,
`${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`, `${v/p/r}`, `${v//p/r}`. Unset variables are
empty; `'…'` is literal; in `"…"` only `$` and the escaped `"`, `$` and escape character
are special; the escape character outside quotes takes the next character literally
(`\\$` is a dollar) and is dropped at the very end; a `$` not followed by a name is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lamina.building.containerfile.patterns import PatternError, replace, trim_prefix, trim_suffix
from lamina.building.containerfile.words import is_space
from lamina.errors import ContainerfileError, SourceSpan

_SPECIAL = "@*#?-$!0"

Chunk = tuple[str, bool]  # (text, may be split into words)


class _Scanner:
    def __init__(
        self, word: str, env: Mapping[str, str], escape: str, keep_quotes: bool = False
    ) -> None:
        self.word = word
        self.env = env
        self.escape = escape
        self.keep_quotes = keep_quotes  # quotes are plain characters (heredoc bodies)
        self.pos = 0

    def peek(self) -> str:
        return self.word[self.pos] if self.pos < len(self.word) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def scan(self, stop: str = "", raw_escapes: bool = False) -> list[Chunk]:
        """Chunks up to `stop` (consumed) or the end; an error if `stop` never comes."""
        chunks: list[Chunk] = []
        while (ch := self.peek()) != "":
            if stop and ch == stop:
                self.pos += 1
                return chunks
            if ch == "$":
                chunks.append((self.dollar(), True))
            elif ch == "'" and not self.keep_quotes:
                chunks.append((self.single_quoted(), False))
            elif ch == '"' and not self.keep_quotes:
                chunks.append((self.double_quoted(raw_escapes), False))
            elif ch == self.escape:
                self.pos += 1
                nxt = self.take()
                if nxt:
                    chunks.append(((ch if raw_escapes else "") + nxt, False))
                elif raw_escapes:
                    chunks.append((ch, False))
            else:
                self.pos += 1
                chunks.append((ch, True))
        if stop:
            raise _Error(f"unexpected end of statement while looking for matching {stop}")
        return chunks

    def text(self, stop: str, raw_escapes: bool = False) -> str:
        return "".join(t for t, _ in self.scan(stop, raw_escapes))

    def single_quoted(self) -> str:
        self.pos += 1
        end = self.word.find("'", self.pos)
        if end < 0:
            raise _Error("unexpected end of statement while looking for matching single-quote")
        value = self.word[self.pos : end]
        self.pos = end + 1
        return value

    def double_quoted(self, raw_escapes: bool) -> str:
        self.pos += 1
        out: list[str] = []
        while True:
            ch = self.peek()
            if ch == "":
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            self.pos += 1
            if ch == self.escape and self.peek() in ('"', "$", self.escape) and self.peek():
                if raw_escapes:
                    out.append(ch)
                ch = self.take()
            out.append(ch)

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if ch.isdigit():
            while self.peek().isdigit():
                self.pos += 1
            return self.word[start : self.pos]
        if ch and ch in _SPECIAL:
            self.pos += 1
            return ch
        while (ch := self.peek()) and (ch.isalnum() or ch == "_"):
            self.pos += 1
        return self.word[start : self.pos]

    def dollar(self) -> str:
        self.pos += 1
        if self.peek() != "{":
            name = self.name()
            return self.env.get(name, "") if name else "$"
        self.pos += 1
        if self.peek() == "":
            raise _Error("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self.name()
        op = self.take()
        if op == "":
            raise _Error("syntax error: missing '}'")
        if op == "}":
            return self.env.get(name, "")
        if op == "/":
            return self.substitute(name)
        null_is_unset = op == ":"
        if null_is_unset:
            op = self.take()
            if op not in ("-", "+", "?"):
                raise _Error(f"unsupported modifier (:{op}) in substitution")
        elif op not in ("-", "+", "?", "#", "%"):
            raise _Error(f"unsupported modifier ({op}) in substitution")
        word = self.closing(op in "#%")
        value = self.env.get(name)
        missing = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if missing or value is None else value
        if op == "+":
            return "" if missing else word
        if op == "?":
            if value is None:
                raise _Error(f"{name}: {word or 'is not allowed to be unset'}")
            if missing:
                raise _Error(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        longest = word.startswith(op)
        pattern = word[1:] if longest else word
        try:
            if op == "#":
                return trim_prefix(value or "", pattern, longest=longest)
            return trim_suffix(value or "", pattern, longest=longest)
        except PatternError as err:
            raise _Error(f"invalid pattern ({pattern}) in substitution: {err}") from None

    def closing(self, raw_escapes: bool) -> str:
        try:
            return self.text("}", raw_escapes)
        except _Error:
            if self.peek() == "":
                raise _Error("syntax error: missing '}'") from None
            raise

    def substitute(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.pos += 1
        try:
            pattern = self.text("/", raw_escapes=True)
        except _Error:
            raise _Error("syntax error: missing '/' in ${}") from None
        replacement = self.closing(raw_escapes=True)
        try:
            return replace(self.env.get(name, ""), pattern, replacement, every=every)
        except PatternError as err:
            raise _Error(f"invalid pattern ({pattern}) in substitution: {err}") from None


class _Error(Exception):
    pass


def _chunks(
    word: str,
    env: Mapping[str, str],
    escape: str,
    span: SourceSpan | None,
    keep_quotes: bool = False,
) -> list[Chunk]:
    scanner = _Scanner(word, env, escape, keep_quotes)
    try:
        return scanner.scan()
    except _Error as err:
        where = span or SourceSpan("<string>", 1, scanner.pos + 1, text=word)
        raise ContainerfileError(f"failed to process {word!r}: {err}", where) from None


def expand(
    word: str,
    env: Mapping[str, str],
    *,
    escape: str = "\\",
    span: SourceSpan | None = None,
    keep_quotes: bool = False,
) -> str:
    """`word` with variables substituted and quotes and escapes removed.

    With `keep_quotes` (BuildKit's SkipProcessQuotes, used for COPY heredoc bodies)
    quotes are ordinary characters: only `$` forms and the escape character act.
    Raises ContainerfileError (at `span` when given) for a bad substitution, an open
    quote, or `${v:?msg}` with `v` unset or empty.
    """
    return "".join(t for t, _ in _chunks(word, env, escape, span, keep_quotes))


def expand_words(
    word: str, env: Mapping[str, str], *, escape: str = "\\", span: SourceSpan | None = None
) -> list[str]:
    """Expand `word`, then split it at blanks that were neither quoted nor escaped.

    Blanks coming from a variable's value split too; empty words are dropped.
    """
    words: list[str] = []
    current: list[str] = []
    for text, splittable in _chunks(word, env, escape, span):
        if not splittable:
            current.append(text)
            continue
        for ch in text:
            if is_space(ch):
                if current:
                    words.append("".join(current))
                    current = []
            else:
                current.append(ch)
    if current:
        words.append("".join(current))
    return [w for w in words if w]


def expand_pairs(
    pairs: Iterable[tuple[str, str]],
    env: Mapping[str, str],
    *,
    escape: str = "\\",
    span: SourceSpan | None = None,
) -> list[tuple[str, str]]:
    """Expand the keys and values of one ENV/LABEL/ARG instruction.

    Every pair sees `env` as it was before the instruction: `ENV a=x b=$a` gives `b` the
    old `a`. The caller applies the result to its environment afterwards.
    """
    snapshot = dict(env)
    return [
        (
            expand(k, snapshot, escape=escape, span=span),
            expand(v, snapshot, escape=escape, span=span),
        )
        for k, v in pairs
    ]
