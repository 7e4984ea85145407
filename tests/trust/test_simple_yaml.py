"""registries.d's fast YAML reader against PyYAML: the same answer for every document in
its subset, and NotSimple (so PyYAML is asked) for the rest."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from lamina.trust import simple_yaml
from lamina.trust.registries_d import RegistriesD

SIMPLE = [
    "",
    "# only a comment\n",
    "default-docker:\n  lookaside: file:///var/tmp/sigs\n",
    "default-docker:\n    sigstore: https://sigs.example.com/a/b\n",
    "docker:\n  registry.example.com/ns:\n    lookaside: https://x/y\n"
    "    use-sigstore-attachments: true\n  localhost:5000/app:\n    lookaside-staging: file:///s\n",
    "default-docker:\ndocker:\n  example.com:\n",
    "default-docker:\n  use-sigstore-attachments: False\n  lookaside: ~\n",
    "docker:\n  127.0.0.1:5000/repo:\n    lookaside: http://127.0.0.1:8080/sigs\n",
    "# c\n\ndocker:\n   quay.io:\n      lookaside: https://q/s  \n\n"
    "default-docker:\n  lookaside: null\n",
    "a:\n  b:\n    c: On\n  d: off\n",
    "127.0.0.1:5000:\n  tls-verify: false\n  images:\n    src/repo0: []\n"
    "    src/r1: [latest, v1]\n",
    "docker:\n  127.0.0.1:5000:\n    lookaside: x\n",  # host:port keys
    "10.1.2.3:\n  images:\n    a/b: [ x ,y ]\n",
]

OUTSIDE = [
    "default-docker: {lookaside: file:///x}\n",  # flow style
    "docker:\n  - a\n",  # sequence
    "default-docker:\n  lookaside: 'file:///x'\n",  # quoted
    "default-docker:\n  lookaside: file:///x # comment\n",
    "default-docker:\n\tlookaside: x\n",
    "docker:\n  5000:\n    lookaside: x\n",  # a number key
    "a: 1\n",  # a number
    "a: 2001-12-14\n",  # a date
    "a:\n  b: x\n a: y\n",  # bad indentation
    "a: x\na: y\n",  # duplicate
    "---\na: x\n",
    "a: &anchor x\n",
    "a: x: y\n",
    "  a: x\n",
    "key:value\n",
    "a: [1.0, v1]\n",  # a float in the list
    "a: [x, [y]]\n",
    "a: [x,, y]\n",
    "a: [x, 'y']\n",
    "1.5:\n  a: x\n",  # a float key
    "a: b:\n",  # a value ending in `:` (PyYAML: an error)
    "a: http:\n",
    "a: [x, y:]\n",  # (PyYAML: a mapping in the list)
]


@pytest.mark.parametrize("text", SIMPLE)
def test_same_answer_as_pyyaml(text: str) -> None:
    assert simple_yaml.load(text) == yaml.safe_load(text)


@pytest.mark.parametrize("text", OUTSIDE)
def test_outside_the_subset(text: str) -> None:
    with pytest.raises(simple_yaml.NotSimple):
        simple_yaml.load(text)


@pytest.mark.parametrize("text", [t for t in OUTSIDE if t.startswith("default-docker")])
def test_registries_d_still_reads_other_yaml(tmp_path: Any, text: str) -> None:
    (tmp_path / "a.yaml").write_text(text)
    try:
        expected: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(expected.get("default-docker"), dict):
        return
    loaded = RegistriesD.load(tmp_path)
    assert loaded.default is not None
    assert loaded.default.lookaside == expected["default-docker"]["lookaside"]


@pytest.mark.parametrize("text", SIMPLE + OUTSIDE)
def test_safe_load_is_pyyaml_safe_load(text: str) -> None:
    """`safe_load` answers as PyYAML does, inside the subset or not, text or bytes."""
    try:
        expected: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        with pytest.raises(simple_yaml.YAMLError) as caught:
            simple_yaml.safe_load(text)
        assert str(caught.value) == str(exc)
        return
    assert simple_yaml.safe_load(text) == expected
    assert simple_yaml.safe_load(text.encode()) == expected


def test_safe_load_reads_non_utf8_with_pyyaml() -> None:
    data = "a:\n  b: x\n".encode("utf-16")
    assert simple_yaml.safe_load(data) == yaml.safe_load(data)
