"""Variable expansion, checked against the behaviour of BuildKit's shell lexer."""

from __future__ import annotations

import pytest

from lamina.building.containerfile import expand, expand_pairs, expand_words
from lamina.errors import ContainerfileError, SourceSpan

ENV = {
    "A": "alpha",
    "B": "two words",
    "E": "",
    "P": "/usr/local/bin/app.tar.gz",
    "U": "a_b_a_b",
    "N": "1",
    "1": "positional",
    "_x9": "under",
}

EXPAND: list[tuple[str, str]] = [
    ("plain", "plain"),
    ("$A", "alpha"),
    ("${A}", "alpha"),
    ("x${A}y", "xalphay"),
    ("$A$A", "alphaalpha"),
    ("$Ab", ""),  # the name is `Ab`, unset
    ("${A}b", "alphab"),
    ("$_x9", "under"),
    ("$1", "positional"),
    ("$12", ""),  # digits form one name
    ("$UNSET", ""),
    ("${UNSET}", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$ a", "$ a"),
    ("$-", ""),  # a special parameter, never set
    ("$/x", "$/x"),
    ("\\$A", "$A"),
    ("\\${A}", "${A}"),
    ("\\\\$A", "\\alpha"),
    ("a\\ b", "a b"),
    ("a\\", "a"),  # escape at the very end is dropped
    ("'$A'", "$A"),
    ("'a b'", "a b"),
    ("'\\$A'", "\\$A"),
    ('"$A"', "alpha"),
    ('"${A}x"', "alphax"),
    ('"\\$A"', "$A"),
    ('"\\"q\\""', '"q"'),
    ('"a\\b"', "a\\b"),  # other escapes stay in double quotes
    ('"\\\\"', "\\"),
    ("\"'$A'\"", "'alpha'"),
    ("'\"$A\"'", '"$A"'),
    ('""', ""),
    ("a\"b\"c'd'e", "abcde"),
    # defaults and alternatives
    ("${A:-d}", "alpha"),
    ("${E:-d}", "d"),
    ("${UNSET:-d}", "d"),
    ("${A-d}", "alpha"),
    ("${E-d}", ""),
    ("${UNSET-d}", "d"),
    ("${UNSET:-$A}", "alpha"),
    ("${UNSET:-${E:-deep}}", "deep"),
    ("${UNSET:-a b}", "a b"),
    ("${UNSET:-'q $A'}", "q $A"),
    ("${UNSET:-}", ""),
    ("${A:+set}", "set"),
    ("${E:+set}", ""),
    ("${UNSET:+set}", ""),
    ("${A+set}", "set"),
    ("${E+set}", "set"),
    ("${UNSET+set}", ""),
    ("${A:?must}", "alpha"),
    ("${E?must}", ""),
    ("${UNSET:-\\}}", "}"),
    # pattern removal
    ("${P#*/}", "usr/local/bin/app.tar.gz"),
    ("${P##*/}", "app.tar.gz"),
    ("${P%.*}", "/usr/local/bin/app.tar"),
    ("${P%%.*}", "/usr/local/bin/app"),
    ("${P#/usr}", "/local/bin/app.tar.gz"),
    ("${P#nomatch}", "/usr/local/bin/app.tar.gz"),
    ("${P%.gz}", "/usr/local/bin/app.tar"),
    ("${P%?z}", "/usr/local/bin/app.tar."),
    ("${U#a?}", "b_a_b"),
    ("${U##*a}", "_b"),
    ("${U%_*}", "a_b_a"),
    ("${U%%_*}", "a"),
    ("${UNSET#x}", ""),
    ("${A#\\*}", "alpha"),
    # replacement
    ("${U/a/X}", "X_b_a_b"),
    ("${U//a/X}", "X_b_X_b"),
    ("${U/_*_/-}", "a-b"),  # longest match
    ("${U//_/}", "abab"),
    ("${U/nomatch/X}", "a_b_a_b"),
    ("${P/\\/usr/\\/opt}", "\\/opt/local/bin/app.tar.gz"),  # BuildKit keeps the escape
    ("${U/?_/Y}", "Yb_a_b"),
    ("${UNSET/a/b}", ""),
    ("${A/l*/}", "a"),
    ("${A/[/x}", "alpha"),  # brackets are literal
]


@pytest.mark.parametrize(("word", "expected"), EXPAND, ids=[w for w, _ in EXPAND])
def test_expand(word: str, expected: str) -> None:
    assert expand(word, ENV) == expected


WORDS: list[tuple[str, list[str]]] = [
    ("a b  c", ["a", "b", "c"]),
    ("  lead trail  ", ["lead", "trail"]),
    ("$B", ["two", "words"]),
    ('"$B"', ["two words"]),
    ("x$B", ["xtwo", "words"]),
    ("'a b' c", ["a b", "c"]),
    ("a\\ b c", ["a b", "c"]),
    ('""', []),
    ("$E", []),
    ("a${E}b", ["ab"]),
    ("${UNSET:-p q}", ["p", "q"]),
    ("80/tcp $N", ["80/tcp", "1"]),
]


@pytest.mark.parametrize(("word", "expected"), WORDS, ids=[w for w, _ in WORDS])
def test_expand_words(word: str, expected: list[str]) -> None:
    assert expand_words(word, ENV) == expected


def test_backtick_escape() -> None:
    assert expand("`$A", ENV, escape="`") == "$A"
    assert expand("C:\\dir\\$A", ENV, escape="`") == "C:\\dir\\alpha"
    assert expand('"`"x`""', ENV, escape="`") == '"x"'
    assert expand_words("a` b c", ENV, escape="`") == ["a b", "c"]


ERRORS: list[tuple[str, str]] = [
    ("${UNSET:?}", "UNSET: is not allowed to be unset"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${E:?}", "E: is not allowed to be empty"),
    ("${UNSET:?set it please}", "UNSET: set it please"),
    ("${E:?no empties}", "E: no empties"),
    ("${A", "missing '}'"),
    ("${A:-x", "missing '}'"),
    ("${", "missing '}'"),
    ("${}", "bad substitution"),
    ("${:-x}", "bad substitution"),
    ("${{A}}", "bad substitution"),
    ("${A!}", "unsupported modifier (!)"),
    ("${A:=x}", "unsupported modifier (:=)"),
    ("${A/x", "missing '/'"),
    ("'open", "matching single-quote"),
    ('"open', "matching double-quote"),
    ("${A#\\q}", "invalid escape"),
]


@pytest.mark.parametrize(("word", "fragment"), ERRORS, ids=[w for w, _ in ERRORS])
def test_expand_errors(word: str, fragment: str) -> None:
    with pytest.raises(ContainerfileError) as info:
        expand(word, ENV)
    assert fragment in str(info.value)


def test_error_uses_the_span_given() -> None:
    span = SourceSpan("Containerfile", 7, 5, text="ENV X=${Y:?}")
    with pytest.raises(ContainerfileError) as info:
        expand("${Y:?}", {}, span=span)
    assert str(info.value).startswith("Containerfile:7:5: ")
    assert info.value.span is span


def test_pairs_see_the_environment_before_the_instruction() -> None:
    env = {"a": "old"}
    pairs = [("a", "new"), ("b", "$a"), ("c", "${b:-unset}")]
    assert expand_pairs(pairs, env) == [("a", "new"), ("b", "old"), ("c", "unset")]
    assert env == {"a": "old"}  # the caller applies the result


def test_pairs_expand_keys_and_remove_quotes() -> None:
    pairs = [('"my key"', '"a b"'), ("k$N", "'$A'")]
    assert expand_pairs(pairs, ENV) == [("my key", "a b"), ("k1", "$A")]


def test_expand_case_count() -> None:
    assert len(EXPAND) + len(WORDS) + len(ERRORS) >= 100
