"""Containerfile/Dockerfile parsing with exact source spans, and variable expansion.

`parse(text, file)` gives a `Containerfile` of typed, frozen instruction nodes that keep
their raw text; `expand`, `expand_words` and `expand_pairs` substitute variables the way
BuildKit's shell lexer does. Pure code: nothing here reads files or runs anything.
"""

from lamina.building.containerfile.expand import expand, expand_pairs, expand_words
from lamina.building.containerfile.nodes import (
    Add,
    Arg,
    ArgDecl,
    Cmd,
    Comment,
    Containerfile,
    Copy,
    Directive,
    Entrypoint,
    Env,
    Expose,
    Flag,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    OnBuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from lamina.building.containerfile.parser import KEYWORDS, parse

__all__ = [
    "KEYWORDS",
    "Add",
    "Arg",
    "ArgDecl",
    "Cmd",
    "Comment",
    "Containerfile",
    "Copy",
    "Directive",
    "Entrypoint",
    "Env",
    "Expose",
    "Flag",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "OnBuild",
    "Run",
    "Shell",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "expand",
    "expand_pairs",
    "expand_words",
    "parse",
]
