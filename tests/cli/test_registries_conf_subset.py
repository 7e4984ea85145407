"""registries.conf files in the common subset (comments, plain strings, one-line string
arrays, one `[aliases]` table) are read without tomllib; the result is tomllib's, and
everything else goes to tomllib. (Kept with the CLI tests: every registry command reads
these files before it does anything else.)"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lamina.errors import InvalidInput
from lamina.transports.registries_conf import parse_file, simple_toml

SHIPPED = """# An example registries.conf
#\tunqualified-search-registries = ["example.com"]

unqualified-search-registries = ["registry.fedoraproject.org", "docker.io",]
short-name-mode = "enforcing"   # trailing comment

[aliases]
  # short names
  "fedora" = "registry.fedoraproject.org/fedora"
  "ubi8/ubi" = "registry.access.redhat.com/ubi8/ubi"
  busybox = "docker.io/library/busybox"\t# a bare key
  "\u00e9t\u00e9" = "docker.io/library/summer"
"""

SUBSET = [
    SHIPPED,
    SHIPPED.replace("\n", "\r\n"),
    "",
    "# only comments\n\n   # indented\n",
    'a = []\nb = [ ]\nc = ["x"] # c\n"" = "empty key"\n',
    'a = "tab\there"\n',
]

# Outside the subset: tomllib decides (a value, or an error).
OTHER = [
    '[[registry]]\nprefix = "quay.io"\nlocation = "mirror.example.com"\n',
    'unqualified-search-registries = [\n  "docker.io",\n]\n',
    "a = 'literal'\n",
    'a = "esc\\"aped"\n',
    'a = """multi"""\n',
    "a = true\n",
    'a.b = "dotted"\n',
    '[ aliases ]\nx = "y"\n',
    '[aliases]\nx = ["list"]\n',
    '"a=b" = "c"\n',
    'a = ["a,b"]\n',
    "\ufeffa = 'bom'\n",
    # invalid TOML, which tomllib must report
    'a = "b"\na = "c"\n',
    'aliases = "x"\n[aliases]\n',
    "[aliases]\n[aliases]\n",
    "a = [,]\n",
    'a = "b" c\n',
    'a = "\x01"\n',
    "# \x7f\n",
    'a = "b"\r',
    "x\n",
    '= "x"\n',
]


def _toml(text: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return "invalid"


@pytest.mark.parametrize("text", SUBSET)
def test_the_subset_is_read_as_tomllib_reads_it(text: str) -> None:
    got = simple_toml(text)
    assert got is not None
    assert got == _toml(text)


@pytest.mark.parametrize("text", OTHER)
def test_everything_else_is_left_to_tomllib(text: str) -> None:
    assert simple_toml(text) is None


def test_invalid_files_are_still_refused(tmp_path: Path) -> None:
    bad = tmp_path / "registries.conf"
    bad.write_text('[aliases]\n"a" = "x"\n"a" = "y"\n')
    with pytest.raises(InvalidInput, match="is not valid TOML"):
        parse_file(bad)


def test_a_shipped_file_is_read_without_tomllib(tmp_path: Path) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(SHIPPED)
    complex_conf = tmp_path / "mirrors.conf"
    complex_conf.write_text(OTHER[0])
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from lamina.transports.registries_conf import parse_file\n"
        f"c = parse_file(Path({str(conf)!r}))\n"
        "print(c.aliases['busybox'], c.short_name_mode, 'tomllib' in sys.modules)\n"
        f"c = parse_file(Path({str(complex_conf)!r}))\n"
        "print(c.registries[0].location, 'tomllib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["docker.io/library/busybox enforcing False", "mirror.example.com True"]
