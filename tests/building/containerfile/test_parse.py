# ruff: noqa: E501  (a table reads better one case a line)
"""Table-driven parser cases: each source's last instruction (or `at`) has these fields."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.building.containerfile import Comment, Instruction, KeyValue, parse
from lamina.building.containerfile.nodes import ArgDecl


def _field(node: Any, key: str) -> Any:
    head, _, rest = key.partition(".")
    if rest:
        return _field(getattr(node, head), rest)
    if key == "flags":
        return tuple(f.raw for f in node.flags)
    if key == "flagvals":
        return tuple((f.name, f.value) for f in node.flags)
    if key == "heredocs":
        return tuple((h.name, h.content, h.expand, h.chomp, h.fd) for h in node.heredocs)
    if key == "span":
        return (node.span.line, node.span.column, node.span.end_line)
    if key == "type":
        return type(node).__name__
    return getattr(node, key)


KV = KeyValue
T = "\t"
CASES: list[tuple[str, str, dict[str, Any]]] = [
    # --- FROM
    ("from-plain", "FROM alpine", {"type": "From", "image": "alpine", "stage_name": None}),
    ("from-tag", "FROM alpine:3.19", {"image": "alpine:3.19", "args": ("alpine:3.19",)}),
    ("from-digest", "FROM a@sha256:abc", {"image": "a@sha256:abc"}),
    ("from-as", "FROM golang AS build", {"stage_name": "build", "args": ("golang", "AS", "build")}),
    ("from-as-lower", "FROM golang as Build", {"stage_name": "build"}),
    ("from-stage-dots", "FROM x AS a.b-c_d", {"stage_name": "a.b-c_d"}),
    ("from-platform", "FROM --platform=linux/arm64 a", {"platform": "linux/arm64"}),
    ("from-platform-var", "FROM --platform=$BUILDPLATFORM a", {"platform": "$BUILDPLATFORM"}),
    ("from-var-image", "FROM ${BASE}:${TAG}", {"image": "${BASE}:${TAG}"}),
    ("from-scratch", "FROM scratch", {"image": "scratch"}),
    ("from-span", "FROM a\n\n  FROM b", {"span": (3, 3, 3)}),
    ("from-tabs", "FROM\ta\tAS\tb", {"stage_name": "b"}),
    # --- RUN
    ("run-shell", "RUN echo hi", {"type": "Run", "args": ("echo hi",), "json": False}),
    ("run-exec", 'RUN ["echo", "hi"]', {"args": ("echo", "hi"), "json": True}),
    ("run-exec-spaces", 'RUN [ "a" , "b c" ]', {"args": ("a", "b c"), "json": True}),
    ("cmd-exec-empty", "CMD []", {"args": (), "json": True}),
    ("run-json-escapes", r'RUN ["a\u0041\n"]', {"args": ("aA\n",)}),
    ("run-json-trailing", 'RUN ["a"] junk', {"args": ("a",), "json": True}),
    ("run-bad-json", "RUN [not json", {"args": ("[not json",), "json": False}),
    ("run-object-json", 'RUN {"a": 1}', {"args": ('{"a": 1}',), "json": False}),
    ("run-mount", "RUN --mount=type=cache,target=/c make", {"mounts": ("type=cache,target=/c",)}),
    (
        "run-mounts",
        "RUN --mount=type=secret,id=a --mount=type=ssh x",
        {"mounts": ("type=secret,id=a", "type=ssh"), "args": ("x",)},
    ),
    ("run-network", "RUN --network=none x", {"network": "none", "flags": ("--network=none",)}),
    ("run-security", "RUN --security=insecure x", {"security": "insecure"}),
    ("run-flag-quoted", 'RUN --mount="type=bind,target=/a b" x', {"mounts": ("type=bind,target=/a b",)}),
    ("run-dashdash", "RUN -- --not-a-flag", {"args": ("--not-a-flag",), "flags": ()}),
    ("run-single-dash", "RUN -x", {"args": ("-x",), "flags": ()}),
    ("run-hash-kept", "RUN echo # not a comment", {"args": ("echo # not a comment",)}),
    ("run-lower", "run echo", {"keyword": "RUN"}),
    ("run-mixed-case", "rUn echo", {"keyword": "RUN"}),
    ("run-trailing-space", "RUN echo   ", {"args": ("echo",), "original": "RUN echo   "}),
    # --- continuations and comments
    ("cont-basic", "RUN a \\\n  b", {"args": ("a   b",), "span": (1, 1, 2)}),
    ("cont-trailing-blanks", "RUN a \\  \t\nb", {"args": ("a b",)}),
    ("cont-comment", "RUN a \\\n# c\n b", {"args": ("a  b",), "span": (1, 1, 3)}),
    ("cont-indented-comment", "RUN a \\\n   # c\n b", {"args": ("a  b",)}),
    ("cont-blank", "RUN a \\\n\n b", {"args": ("a  b",), "span": (1, 1, 3)}),
    ("cont-escaped-escape", "RUN a \\\\\nRUN b", {"args": ("b",), "span": (2, 1, 2)}),
    ("cont-escape-alone", "RUN a \\\n\\\nb", {"args": ("a b",)}),
    ("cont-three", "ENV a=1 \\\n b=2 \\\n c=3", {"args": ("a", "1", "b", "2", "c", "3")}),
    ("cont-at-eof", "RUN a \\", {"args": ("a",), "span": (1, 1, 1)}),
    ("cont-crlf", "RUN a \\\r\n b\r\n", {"args": ("a  b",)}),
    ("backtick-cont", "# escape=`\nRUN a `\n b", {"args": ("a  b",)}),
    ("backtick-backslash-literal", "# escape=`\nRUN dir C:\\", {"args": ("dir C:\\",)}),
    ("indented-instr", "   RUN x", {"span": (1, 4, 1)}),
    ("bom", "\ufeffFROM a", {"image": "a"}),
    # --- heredocs
    ("hd-run", "RUN <<EOF\necho hi\nEOF", {"heredocs": (("EOF", "echo hi\n", True, False, None),)}),
    ("hd-span", "RUN <<EOF\necho hi\nEOF\nRUN x", {"at": 0, "span": (1, 1, 3)}),
    ("hd-empty", "RUN <<EOF\nEOF", {"heredocs": (("EOF", "", True, False, None),)}),
    ("hd-chomp", f"RUN <<-EOF\n{T}{T}a\n{T}b\n{T}EOF", {"heredocs": (("EOF", "a\nb\n", True, True, None),)}),
    ("hd-dquote", 'RUN <<"EOF"\n$x\nEOF', {"heredocs": (("EOF", "$x\n", False, False, None),)}),
    ("hd-squote", "RUN <<'EOF'\n$x\nEOF", {"heredocs": (("EOF", "$x\n", False, False, None),)}),
    ("hd-partly-quoted", 'RUN <<E"O"F\nx\nEOF', {"heredocs": (("EOF", "x\n", False, False, None),)}),
    ("hd-fd", "RUN 3<<EOF cat\nx\nEOF", {"heredocs": (("EOF", "x\n", True, False, 3),)}),
    (
        "hd-two",
        "RUN cat <<A && cat <<B\na\nA\nb\nB",
        {"heredocs": (("A", "a\n", True, False, None), ("B", "b\n", True, False, None))},
    ),
    (
        "hd-copy",
        "COPY <<A <<B /d/\n1\nA\n2\nB",
        {"sources": ("<<A", "<<B"), "dest": "/d/", "heredocs": (("A", "1\n", True, False, None), ("B", "2\n", True, False, None))},
    ),
    ("hd-add", "ADD <<A /f\nx\nA", {"type": "Add", "heredocs": (("A", "x\n", True, False, None),)}),
    ("hd-not-in-json", 'RUN ["<<EOF"]', {"heredocs": (), "args": ("<<EOF",)}),
    ("hd-quoted-word", 'RUN echo "<<EOF"', {"heredocs": ()}),
    ("hd-not-on-cmd", "CMD <<EOF", {"type": "Cmd", "args": ("<<EOF",)}),
    ("hd-glued", "RUN cat<<EOF", {"heredocs": ()}),
    ("hd-terminator-indented", "RUN <<EOF\n EOF\nEOF", {"heredocs": (("EOF", " EOF\n", True, False, None),)}),
    ("hd-after-cont", "RUN cat \\\n <<EOF\nx\nEOF", {"heredocs": (("EOF", "x\n", True, False, None),), "span": (1, 1, 4)}),
    ("hd-hash-lines", "RUN <<EOF\n# kept\nEOF", {"heredocs": (("EOF", "# kept\n", True, False, None),)}),
    ("hd-raw", "RUN <<EOF\nx\nEOF", {"raw": "RUN <<EOF\nx\nEOF"}),
    ("hd-mount", "RUN --mount=type=cache,target=/c <<EOF\nx\nEOF", {"mounts": ("type=cache,target=/c",), "heredocs": (("EOF", "x\n", True, False, None),)}),
    # --- CMD / ENTRYPOINT / SHELL
    ("cmd-shell", "CMD echo hi", {"type": "Cmd", "args": ("echo hi",), "json": False}),
    ("cmd-exec", 'CMD ["a", "b"]', {"args": ("a", "b"), "json": True}),
    ("cmd-empty", "CMD", {"args": ()}),
    ("cmd-bare-words", "CMD [echo, hi]", {"json": False, "args": ("[echo, hi]",)}),
    ("entrypoint-exec", 'ENTRYPOINT ["/app"]', {"type": "Entrypoint", "args": ("/app",)}),
    ("entrypoint-shell", "ENTRYPOINT exec /app", {"args": ("exec /app",), "json": False}),
    ("shell", 'SHELL ["/bin/bash", "-c"]', {"type": "Shell", "args": ("/bin/bash", "-c"), "json": True}),
    ("shell-pwsh", 'SHELL ["powershell", "-Command"]', {"args": ("powershell", "-Command")}),
    # --- COPY / ADD
    ("copy", "COPY a b /c/", {"type": "Copy", "sources": ("a", "b"), "dest": "/c/"}),
    ("copy-json", 'COPY ["a b", "/c d/"]', {"sources": ("a b",), "dest": "/c d/", "json": True}),
    ("copy-from", "COPY --from=build /out /app", {"from_": "build"}),
    ("copy-chown", "COPY --chown=1000:1000 a b", {"chown": "1000:1000"}),
    ("copy-chmod", "COPY --chmod=0755 a b", {"chmod": "0755"}),
    ("copy-link", "COPY --link a b", {"link": True, "flagvals": (("link", None),)}),
    ("copy-link-false", "COPY --link=false a b", {"link": False}),
    ("copy-link-true", "COPY --link=TRUE a b", {"link": True}),
    ("copy-parents", "COPY --parents a/b c", {"parents": True}),
    ("copy-exclude", "COPY --exclude=*.md --exclude=t/ . /a", {"excludes": ("*.md", "t/")}),
    ("copy-quotes-not-special", 'COPY "a b" c', {"sources": ('"a', 'b"')}),
    ("copy-from-empty", "COPY --from= a b", {"from_": ""}),
    ("add", "ADD https://x/y.tgz /opt/", {"type": "Add", "sources": ("https://x/y.tgz",)}),
    ("add-checksum", "ADD --checksum=sha256:ab http://x /y", {"checksum": "sha256:ab"}),
    ("add-keep-git", "ADD --keep-git-dir=true git@x:y.git /s", {"keep_git_dir": True}),
    ("add-unpack", "ADD --unpack=false a.tar /x", {"unpack": False}),
    ("add-no-unpack-flag", "ADD a.tar /x", {"unpack": None}),
    ("add-link-chown", "ADD --link --chown=a a b", {"link": True, "chown": "a"}),
    # --- ARG
    ("arg-one", "ARG A", {"type": "Arg", "decls": (ArgDecl(name="A", default=None),)}),
    ("arg-default", "ARG A=1", {"decls": (ArgDecl(name="A", default="1"),)}),
    ("arg-empty-default", "ARG A=", {"decls": (ArgDecl(name="A", default=""),)}),
    (
        "arg-many",
        "ARG A=1 B C=3",
        {"decls": (ArgDecl(name="A", default="1"), ArgDecl(name="B", default=None), ArgDecl(name="C", default="3"))},
    ),
    ("arg-quoted", 'ARG A="x y"', {"decls": (ArgDecl(name="A", default='"x y"'),), "args": ('A="x y"',)}),
    ("arg-eq-in-value", "ARG A=b=c", {"decls": (ArgDecl(name="A", default="b=c"),)}),
    # --- ENV / LABEL
    ("env-one", "ENV A=1", {"type": "Env", "pairs": (KV(key="A", value="1"),), "legacy": False}),
    ("env-many", "ENV A=1 B=2", {"pairs": (KV(key="A", value="1"), KV(key="B", value="2"))}),
    ("env-quoted", 'ENV A="x y" B=z', {"pairs": (KV(key="A", value='"x y"'), KV(key="B", value="z"))}),
    ("env-single-quoted", "ENV A='x y'", {"pairs": (KV(key="A", value="'x y'"),)}),
    ("env-escaped-space", "ENV A=x\\ y", {"pairs": (KV(key="A", value="x\\ y"),)}),
    ("env-escaped-quote", 'ENV A=\\"x', {"pairs": (KV(key="A", value='\\"x'),)}),
    ("env-empty", "ENV A=", {"pairs": (KV(key="A", value=""),)}),
    ("env-legacy", "ENV A x y  z", {"pairs": (KV(key="A", value="x y  z"),), "legacy": True}),
    ("env-legacy-args", "ENV A b", {"args": ("A", "b")}),
    ("env-var-value", "ENV P=$P:/bin", {"pairs": (KV(key="P", value="$P:/bin"),)}),
    ("label", 'LABEL a=b "c d"=e', {"type": "Label", "pairs": (KV(key="a", value="b"), KV(key='"c d"', value="e"))}),
    ("label-legacy", "LABEL version 1.0", {"pairs": (KV(key="version", value="1.0"),), "legacy": True}),
    ("label-dotted", "LABEL org.opencontainers.image.title=x", {"pairs": (KV(key="org.opencontainers.image.title", value="x"),)}),
    ("label-backtick-escape", "# escape=`\nLABEL a=x` y", {"pairs": (KV(key="a", value="x` y"),)}),
    # --- the rest
    ("expose", "EXPOSE 80 443/tcp 53/udp", {"type": "Expose", "ports": ("80", "443/tcp", "53/udp")}),
    ("expose-var", "EXPOSE $PORT", {"ports": ("$PORT",)}),
    ("volume-words", "VOLUME /a /b", {"type": "Volume", "paths": ("/a", "/b"), "json": False}),
    ("volume-json", 'VOLUME ["/a", "/b c"]', {"paths": ("/a", "/b c"), "json": True}),
    ("user", "USER app:app", {"type": "User", "user": "app:app"}),
    ("user-uid", "USER 1000", {"user": "1000"}),
    ("workdir", "WORKDIR /app", {"type": "Workdir", "path": "/app"}),
    ("workdir-spaces", "WORKDIR /my app", {"path": "/my app"}),
    ("stopsignal", "STOPSIGNAL SIGKILL", {"type": "StopSignal", "signal": "SIGKILL"}),
    ("stopsignal-number", "STOPSIGNAL 9", {"signal": "9"}),
    ("maintainer", "MAINTAINER Jo <jo@x.org>", {"type": "Maintainer", "name": "Jo <jo@x.org>"}),
    # --- HEALTHCHECK
    ("hc-none", "HEALTHCHECK NONE", {"type": "Healthcheck", "kind": "NONE", "args": ("NONE",)}),
    ("hc-none-lower", "HEALTHCHECK none", {"kind": "NONE"}),
    ("hc-shell", "HEALTHCHECK CMD curl -f x", {"kind": "CMD", "command": ("curl -f x",), "json": False}),
    ("hc-exec", 'HEALTHCHECK CMD ["curl", "x"]', {"command": ("curl", "x"), "json": True, "args": ("CMD", "curl", "x")}),
    ("hc-interval", "HEALTHCHECK --interval=30s CMD x", {"interval": "30s"}),
    ("hc-timeout", "HEALTHCHECK --timeout=1m30s CMD x", {"timeout": "1m30s"}),
    ("hc-start-period", "HEALTHCHECK --start-period=5s CMD x", {"start_period": "5s"}),
    ("hc-start-interval", "HEALTHCHECK --start-interval=500ms CMD x", {"start_interval": "500ms"}),
    ("hc-retries", "HEALTHCHECK --retries=3 CMD x", {"retries": 3}),
    ("hc-all", "HEALTHCHECK --interval=1s --timeout=2s --start-period=3s --start-interval=1.5s --retries=4 CMD x", {"flags": ("--interval=1s", "--timeout=2s", "--start-period=3s", "--start-interval=1.5s", "--retries=4")}),
    ("hc-lower-cmd", "HEALTHCHECK cmd x", {"kind": "CMD", "command": ("x",)}),
    # --- ONBUILD
    ("onbuild-run", "ONBUILD RUN echo hi", {"type": "OnBuild", "trigger.keyword": "RUN", "args": ("echo hi",), "expression": "RUN echo hi"}),
    ("onbuild-copy-flags", "ONBUILD COPY --from=a x y", {"trigger.from_": "a", "flags": (), "trigger.flags": ("--from=a",)}),
    ("onbuild-env", "ONBUILD ENV A=1", {"trigger.pairs": (KV(key="A", value="1"),)}),
    ("onbuild-lower", "onbuild run x", {"keyword": "ONBUILD", "trigger.keyword": "RUN"}),
    ("onbuild-hc", "ONBUILD HEALTHCHECK NONE", {"trigger.kind": "NONE"}),
    ("onbuild-trigger-span", "ONBUILD  RUN x", {"trigger.span": (1, 10, 1), "span": (1, 1, 1)}),
    ("onbuild-heredoc", "ONBUILD RUN <<EOF\nx\nEOF", {"trigger.heredocs": (("EOF", "x\n", True, False, None),), "expression": "RUN <<EOF\nx\nEOF", "span": (1, 1, 3)}),
    ("onbuild-json", 'ONBUILD CMD ["a"]', {"json": True, "args": ("a",)}),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_instruction(source: str, expected: dict[str, Any]) -> None:
    expected = dict(expected)
    at = expected.pop("at", -1)
    node = parse(source).instructions[at]
    got = {key: _field(node, key) for key in expected}
    assert got == expected


def test_case_count() -> None:
    assert len(CASES) >= 100


# --- file-level structure: directives, comments, spans


def test_directives_recorded() -> None:
    cf = parse("# syntax=docker/dockerfile:1\n# ESCAPE = `\n#check=error=true\nFROM a")
    assert [(d.name, d.value) for d in cf.directives] == [
        ("syntax", "docker/dockerfile:1"),
        ("escape", "`"),
        ("check", "error=true"),
    ]
    assert cf.escape == "`"
    assert cf.directive("syntax") == "docker/dockerfile:1"
    assert cf.directive("check") == "error=true"
    assert [d.span.line for d in cf.directives] == [1, 2, 3]


@pytest.mark.parametrize(
    "source",
    [
        "# a comment\n# escape=`\nFROM a",  # after a comment
        "FROM a\n# escape=`\nRUN b",  # after an instruction
        "\n# escape=`\nFROM a",  # after a blank line
        "# unknown=1\n# escape=`\nFROM a",  # after an unknown directive
    ],
)
def test_late_directive_is_a_comment(source: str) -> None:
    cf = parse(source)
    assert cf.escape == "\\"
    assert cf.directive("escape") is None
    assert any(c.text == "escape=`" for c in cf.comments)


def test_comments_kept_in_order() -> None:
    cf = parse("# one\nFROM a\n  # two\nRUN x \\\n  # three\n  y\n# four")
    kinds = [type(n).__name__ for n in cf.body]
    assert kinds == ["Comment", "From", "Comment", "Run", "Comment"]
    body_comments = [n for n in cf.body if isinstance(n, Comment)]
    assert [c.text for c in body_comments] == ["one", "two", "four"]
    assert [(c.text, c.in_continuation, c.span.line, c.span.column) for c in cf.comments] == [
        ("one", False, 1, 1),
        ("two", False, 3, 3),
        ("three", True, 5, 3),
        ("four", False, 7, 1),
    ]


def test_instruction_spans_and_raw() -> None:
    src = "FROM a\n\nRUN one \\\n    two\n  USER me\n"
    nodes = parse(src, file="x/Containerfile").instructions
    run = nodes[1]
    assert isinstance(run, Instruction)
    assert (run.span.file, run.span.line, run.span.column) == ("x/Containerfile", 3, 1)
    assert (run.span.end_line, run.span.end_column) == (4, 8)
    assert run.span.text == "RUN one \\"
    assert run.raw == "RUN one \\\n    two"
    assert run.original == "RUN one     two"
    assert str(nodes[2].span) == "x/Containerfile:5:3"


def test_flag_spans_point_at_flags() -> None:
    node = parse("RUN --network=none \\\n  --mount=type=ssh x").instructions[0]
    assert [(f.span.line, f.span.column) for f in node.flags] == [(1, 5), (2, 3)]
    assert node.flag("network") is not None and node.flag("mount") is not None
    assert node.flag("security") is None


def test_nodes_are_frozen() -> None:
    node = parse("FROM a").instructions[0]
    with pytest.raises(AttributeError):
        node.keyword = "RUN"  # type: ignore[misc]
