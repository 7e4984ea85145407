"""YAML files (registries.d, sync files) are read by PyYAML's safe loader through
`lamina.yamlfile.load`; a malformed file is one InvalidInput naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lamina import yamlfile
from lamina.errors import InvalidInput
from lamina.ops.sync_yaml import load_yaml
from lamina.trust.registries_d import RegistriesD

BROKEN = "default-docker:\n  lookaside: https://a.example/sigs\n lookaside-staging: /x\n"


def test_a_registries_d_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BROKEN)
    with pytest.raises(InvalidInput) as caught:
        RegistriesD.load(tmp_path)
    message = caught.value.message
    assert message.startswith(f"{tmp_path / 'a.yaml'}: invalid YAML at line 3, column 2: ")
    assert "\n" not in message


def test_a_sync_file_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text("127.0.0.1:5000:\n  images:\n    app: [1.0, 2.0\n")
    with pytest.raises(InvalidInput) as caught:
        load_yaml(path)
    assert caught.value.message.startswith(f"sync file {path}: invalid YAML at line 4, column 1:")


def test_documents_read_as_pyyaml_safe_load_reads_them() -> None:
    text = (
        "# comment\ndocker:\n  quay.io/a: {lookaside: 'file:///s'}\n"
        "  b: [1, 2.5, yes, ~, '0x10', 2026-01-02]\n  c: |\n    two\n    lines\n"
    )
    assert yamlfile.load(text, "x.yaml") == yaml.safe_load(text)
    assert yamlfile.load(text.encode("utf-16"), "x.yaml") == yaml.safe_load(text)
    assert yamlfile.load("", "x.yaml") is None


@pytest.mark.parametrize(
    "text", ["a: !!python/object/apply:os.system [true]\n", "a: !!python/name:os.system\n"]
)
def test_python_tags_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"^x\.yaml: invalid YAML at line 1, column 4: "):
        yamlfile.load(text, "x.yaml")


def test_a_character_yaml_does_not_allow_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"^x\.yaml: invalid YAML: unacceptable character"):
        yamlfile.load("a: \x00\n", "x.yaml")


def test_a_registry_access_file_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    from lamina.server.access_policy import AccessPolicy

    path = tmp_path / "access.yaml"
    path.write_text("groups:\n  team: [alice, bob\nrules: []\n")
    with pytest.raises(InvalidInput) as caught:
        AccessPolicy(path)
    assert caught.value.message.startswith(f"access file {path}: invalid YAML at line 3, column ")


def test_a_registry_config_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    from lamina.server.config import load_config

    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nhttp:\n  addr: 127.0.0.1:5000\n tls: {}\n")
    with pytest.raises(InvalidInput) as caught:
        load_config(path)
    assert caught.value.message.startswith(f"{path}: invalid YAML at line 4, column 2: ")
