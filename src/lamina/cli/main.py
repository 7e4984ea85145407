"""Entry point: runs the click group (`group.cli`, also reachable here as `cli`) and turns
what it raises into one line on stderr and an exit code (`errors`)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from lamina.cli.errors import run_guarded
from lamina.cli.group import cli

__all__ = ["cli", "main"]


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI on `argv` (default: the process's arguments) and exit with its code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("LAMINA_DEBUG")
    )
    code = run_guarded(
        lambda: cli.main(args=argv, prog_name="lamina", standalone_mode=False), debug=debug
    )
    sys.exit(code)


if __name__ == "__main__":
    main()
