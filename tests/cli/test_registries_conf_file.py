"""registries.conf is read by tomllib; a file that is not TOML (or not UTF-8) is one
InvalidInput naming the file and, for a syntax error, the line and column. (Kept with the
CLI tests: every registry command reads these files before it does anything else.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import InvalidInput
from lamina.transports.registries_conf import parse_file

SHIPPED = """# An example registries.conf
unqualified-search-registries = ["registry.fedoraproject.org", "docker.io",]
short-name-mode = "enforcing"   # trailing comment

[aliases]
  "fedora" = "registry.fedoraproject.org/fedora"
  busybox = "docker.io/library/busybox"\t# a bare key

[[registry]]
prefix = "quay.io"
location = "mirror.example.com"
"""


def test_a_shipped_file_is_read(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(SHIPPED)
    c = parse_file(conf)
    assert c.search == ("registry.fedoraproject.org", "docker.io")
    assert (c.short_name_mode, c.aliases["busybox"]) == ("enforcing", "docker.io/library/busybox")
    assert c.registries[0].location == "mirror.example.com"


def test_a_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "registries.conf"
    bad.write_text('[aliases]\n"a" = "x"\n"a" = "y"\n')
    with pytest.raises(InvalidInput) as caught:
        parse_file(bad)
    assert caught.value.message.startswith(f"registries.conf {bad} is not valid TOML: ")
    assert caught.value.message.endswith("(at line 3, column 10)")


def test_a_file_that_is_not_utf8_is_invalid_input(tmp_path: Path) -> None:
    bad = tmp_path / "registries.conf"
    bad.write_bytes(b'unqualified-search-registries = ["d\xe9j\xe0"]\n')
    with pytest.raises(InvalidInput) as caught:
        parse_file(bad)
    assert caught.value.message.startswith(f"registries.conf {bad} is not valid TOML: ")
