"""The lazy command table: every entry names a click command, and `lamina --help` lists
every command with the table's short help without importing any command module."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from lamina.cli.group import COMMANDS, cli, load


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_entry_loads_a_click_command(name: str) -> None:
    target, short_help = COMMANDS[name]
    command = load(target)
    assert isinstance(command, click.Command)
    assert cli.get_command(click.Context(cli), name) is command
    assert short_help.endswith(".") and "\n" not in short_help


def test_help_lists_the_table_without_importing_commands() -> None:
    code = (
        "import sys\n"
        "from lamina.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('lamina.cli.') and "
        "m.endswith('_cmd')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    *shown, loaded = out.splitlines()
    assert loaded == "[]"
    listed = " ".join(" ".join(line.split()) for line in shown)
    for name, (_, short_help) in COMMANDS.items():
        assert f"{name} {short_help.split()[0]}" in listed
