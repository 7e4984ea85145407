"""The Go template subset against Go's documented text/template behaviour (pkg.go.dev
text/template: actions, arguments, pipelines, variables, functions) and podman's functions
(containers/common report: json, join, lower, upper, split, truncate, pad, title)."""

from __future__ import annotations

from typing import Any

import pytest

from lamina.errors import InvalidInput
from lamina.gotemplate import Record, Template, render

IMAGE = Record(
    Repository="localhost/app",
    Tag="1",
    Names=["localhost/app:1", "localhost/app:latest"],
    Labels={"b": "2", "a": "1"},
    Size=2048,
    Config=Record(User="", Env=["PATH=/bin", "A=b"]),
    Dangling=False,
)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{.Repository}}:{{.Tag}}", "localhost/app:1"),
        ("{{.Config.Env}}", "[PATH=/bin A=b]"),
        ("{{.Labels}}", "map[a:1 b:2]"),  # maps print in sorted key order
        ("{{.Labels.a}}", "1"),
        ("{{.Labels.zz}}", "<no value>"),  # a map's missing key
        ('{{index .Labels "zz"}}|', "|"),  # index gives the zero value
        ("{{index .Names 1}}", "localhost/app:latest"),
        ('{{join .Names ","}}', "localhost/app:1,localhost/app:latest"),
        # a pipeline's value is the next command's last argument
        ('{{", " | join .Names}}', "localhost/app:1, localhost/app:latest"),
        ("{{len .Names}} {{len .Labels}} {{len .Tag}}", "2 2 1"),
        ("{{json .Labels}}", '{"a":"1","b":"2"}'),
        ("{{json .Config}}", '{"User":"","Env":["PATH=/bin","A=b"]}'),  # struct order
        ("{{json .Tag}}", '"1"'),
        ("{{upper .Repository}} {{lower `AbC`}}", "LOCALHOST/APP abc"),
        ("{{range .Names}}[{{.}}]{{end}}", "[localhost/app:1][localhost/app:latest]"),
        ("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}", "a=1;b=2;"),
        ("{{range $i, $n := .Names}}{{$i}}{{end}}", "01"),
        ("{{range .Labels.zz}}x{{else}}none{{end}}", "none"),
        ("{{if .Dangling}}d{{else if .Tag}}t{{else}}n{{end}}", "t"),
        ("{{if .Config.User}}u{{else}}root{{end}}", "root"),  # "" is false
        ("{{if .Config}}s{{end}}", "s"),  # a struct is always true
        ("{{with .Labels}}{{.b}}{{end}}", "2"),
        ("{{with .Config.User}}{{.}}{{else}}-{{end}}", "-"),
        ('{{printf "%s-%d" .Tag .Size}}', "1-2048"),
        ('{{printf "%-6s|%6s|%06d" "ab" "cd" 42}}', "ab    |    cd|000042"),
        (
            '{{printf "%q %v %t %x" "a\\"b" .Names true 255}}',
            '"a\\"b" [localhost/app:1 localhost/app:latest] true ff',
        ),
        ('{{printf "%d" "x"}}', "%!d(string=x)"),
        ('{{printf "%s %s" "x"}}', "x %!s(MISSING)"),
        ('{{printf "%s" "x" 3}}', "x%!(EXTRA int=3)"),
        ('{{printf "%.2f" 3.14159}}', "3.14"),
        ('{{print 1 2 "a" "b" 3}}', "1 2ab3"),  # spaces only between non-strings
        ("{{println 1 `a`}}", "1 a\n"),
        ("{{and 1 0 2}} {{and 1 2}} {{or 0 `` `x`}} {{or 0 ``}}|", "0 2 x |"),
        ("{{not 0}} {{not .Names}}", "true false"),
        (
            "{{eq .Tag `1`}} {{eq 1 2 3 1}} {{ne 1 2}} {{lt 1 2}} {{ge `b` `a`}}",
            "true true true true true",
        ),
        ('{{$x := .Tag}}{{$x}}{{$x = "2"}}{{$x}}', "12"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),  # = assigns the outer one
        ("{{range .Names}}{{$.Tag}}{{end}}", "11"),  # $ is the data passed to execute
        ("{{(index .Names 0) | upper}}", "LOCALHOST/APP:1"),
        ("{{(.Config).User}}|{{$c := .Config}}{{$c.Env}}", "|[PATH=/bin A=b]"),
        (
            "{{range $i, $e := .Names}}{{if eq $i 1}}{{break}}{{end}}{{$e}}{{end}}",
            "localhost/app:1",
        ),
        (
            "{{range $i, $e := .Names}}{{if eq $i 0}}{{continue}}{{end}}{{$e}}{{end}}",
            "localhost/app:latest",
        ),
        ("a  {{- .Tag -}}  b", "a1b"),  # trim markers eat the spaces beside them
        ("{{- /* a comment */ -}} x", "x"),
        ("{{-3}}", "-3"),  # "{{-" without a space is a number
        ('{{slice "hello" 1 3}} {{index "ab" 1}}', "el 98"),
        (
            '{{split "a,b" ","}} {{truncate "abcdef" 3}} [{{pad "x" 1 2}}] {{title "foo bar"}}',
            "[a b] abc [ x  ] Foo Bar",
        ),
        ("{{nil}}", "<nil>"),
        ("{{1.5}} {{0x1F}} {{1e3}} {{'a'}}", "1.5 31 1000 97"),
        ('{{"a\\tb\\u00e9"}}', "a\tb\u00e9"),
    ],
)
def test_go_behaviour(text: str, want: str) -> None:
    assert render(text, IMAGE) == want


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("{{.Nope}}", "line 1, column 3", "can't evaluate field Nope"),
        ("x\n  {{.Tag.Deeper}}", "line 2, column 5", "can't evaluate field Deeper in type string"),
        ("{{foo .Tag}}", "line 1, column 3", 'function "foo" not defined'),
        ("{{if .Tag}}x", "line 1, column 13", "missing {{end}}"),
        ("{{end}}", "line 1, column 1", "unexpected {{end}}"),
        ("{{.Tag", "line 1, column 1", "unclosed action"),
        ("{{range .Tag}}{{end}}", "line 1, column 1", "range can't iterate over 1"),
        ("{{index .Names 5}}", "line 1, column 3", "index out of range: 5"),
        ("{{join .Size `,`}}", "line 1, column 3", "expected []string"),
        ("{{len}}", "line 1, column 3", "wrong number of args for len: want 1 got 0"),
        ("{{.Tag 1}}", "line 1, column 3", "can't give argument to non-function"),
        ("{{$y}}", "line 1, column 3", "undefined variable: $y"),
        ("{{break}}", "line 1, column 1", "{{break}} outside {{range}}"),
        ("{{lt 1 `a`}}", "line 1, column 3", "incompatible types for comparison"),
        ('{{"\\q"}}', "line 1, column 3", "unknown escape sequence"),
        ("{{template `x`}}", "line 1, column 1", "not supported"),
        ("{{.Tag | }}", "line 1, column 1", "missing value for command"),
        ("{{/* open", "line 1, column 1", "unclosed comment"),
    ],
)
def test_errors_are_one_line_and_name_the_position(text: str, where: str, what: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        render(text, IMAGE)
    message = caught.value.message
    assert "\n" not in message
    assert f"template {where}:" in message, message
    assert what in message, message


def test_parse_once_execute_many() -> None:
    tmpl = Template("{{.}},")
    assert [tmpl.execute(v) for v in (1, "a", [1, 2], None, True)] == [
        "1,",
        "a,",
        "[1 2],",
        "<nil>,",
        "true,",
    ]


def test_range_over_a_map_in_sorted_key_order_whatever_the_insertion_order() -> None:
    data: dict[str, Any] = {k: i for i, k in enumerate("zyxabc")}
    assert render("{{range $k, $v := .}}{{$k}}{{end}}", data) == "abcxyz"
    assert render("{{range .}}{{.}}{{end}}", data) == "345210"


def test_variables_declared_in_a_block_end_with_it() -> None:
    with pytest.raises(InvalidInput, match="undefined variable: \\$v"):
        render("{{if true}}{{$v := 1}}{{end}}{{$v}}", None)
