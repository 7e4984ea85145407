"""The syntax tree of a Containerfile: frozen nodes that keep the raw text and exact spans.

Values are kept as written (quotes and `$variables` intact); expansion happens at build
time with the environment the instruction sees (`lamina.building.containerfile.expand`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.errors import SourceSpan


@dataclass(frozen=True, slots=True, kw_only=True)
class Directive:
    """A parser directive at the top of the file: `# escape=\\`, `# syntax=…`, `# check=…`."""

    name: str  # lower case
    value: str
    span: SourceSpan


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment:
    """A `#` comment line; `in_continuation` when it sat inside a continued instruction."""

    text: str  # without the leading `#`, stripped
    span: SourceSpan
    in_continuation: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Flag:
    """`--name=value` (value None for a bare `--name`), quotes already removed as BuildKit does."""

    name: str
    value: str | None
    raw: str  # e.g. "--mount=type=cache,target=/x"
    span: SourceSpan


@dataclass(frozen=True, slots=True, kw_only=True)
class Heredoc:
    """A here-document body; `content` has leading tabs stripped when `chomp` (`<<-`)."""

    name: str
    content: str
    expand: bool  # False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`)
    chomp: bool
    fd: int | None  # `3<<EOF` → 3
    span: SourceSpan  # the marker's place; end_line is the terminator's line


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyValue:
    """One `key=value` of ENV or LABEL, raw (quotes kept, not expanded)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ArgDecl:
    """One `name[=default]` of ARG, raw; `default` is None when no `=` was given."""

    name: str
    default: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Instruction:
    """Common to every instruction.

    `args` is the argument list as BuildKit's parser splits it: the decoded strings of a
    JSON array (`json` True), the whole rest of the line for shell-form commands, words
    for FROM/EXPOSE/VOLUME/COPY/ADD, and `k, v, k, v…` for ENV and LABEL.
    `original` is the logical line (continuations joined, comment lines dropped);
    `raw` is the source text exactly as written, heredoc bodies included.
    """

    keyword: str  # upper case
    args: tuple[str, ...]
    flags: tuple[Flag, ...] = ()
    json: bool = False
    original: str
    raw: str
    span: SourceSpan

    def flag(self, name: str) -> Flag | None:
        """The last flag called `name`, if any."""
        found = None
        for f in self.flags:
            if f.name == name:
                found = f
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class From(Instruction):
    image: str
    stage_name: str | None = None  # lower-cased, as stage names are case-insensitive
    platform: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run(Instruction):
    """`args` is `(script,)` in shell form, the argv in exec form."""

    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()
    network: str | None = None
    security: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Cmd(Instruction):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Entrypoint(Instruction):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Shell(Instruction):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Copy(Instruction):
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Add(Instruction):
    sources: tuple[str, ...]
    dest: str
    heredocs: tuple[Heredoc, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    excludes: tuple[str, ...] = ()
    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Arg(Instruction):
    decls: tuple[ArgDecl, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[KeyValue, ...]
    legacy: bool = False  # `ENV key value with spaces`


@dataclass(frozen=True, slots=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[KeyValue, ...]
    legacy: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume(Instruction):
    paths: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Healthcheck(Instruction):
    """`kind` is "NONE" or "CMD"; `command` is the argv (exec) or `(script,)` (shell)."""

    kind: str
    command: tuple[str, ...] = ()
    interval: str | None = None
    timeout: str | None = None
    start_period: str | None = None
    start_interval: str | None = None
    retries: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopSignal(Instruction):
    signal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Maintainer(Instruction):
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OnBuild(Instruction):
    """`trigger` is the wrapped instruction; `expression` its text, as stored in the image."""

    trigger: Instruction
    expression: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Containerfile:
    """A parsed file: directives, then the body (top-level comments and instructions in order).

    `comments` holds every comment, also those dropped from inside continued instructions.
    """

    file: str
    escape: str
    directives: tuple[Directive, ...]
    body: tuple[Comment | Instruction, ...]
    comments: tuple[Comment, ...]

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return tuple(n for n in self.body if isinstance(n, Instruction))

    def directive(self, name: str) -> str | None:
        """The value of directive `name` (`syntax`, `escape`, `check`), if present."""
        for d in self.directives:
            if d.name == name:
                return d.value
        return None
