"""How the CLI reports errors and which exit code each kind gets.

Exit codes: 0 success; 1 an operation failed; 2 bad usage or invalid input (flags, arguments,
a malformed reference, file or manifest); 3 a named thing
was not found; 4 integrity or trust failure (bytes did not verify, policy refused);
5 network, registry or authentication failure; 130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from lamina.errors import (
    AuthError,
    IntegrityError,
    InvalidInput,
    LaminaError,
    NotFound,
    TransportError,
    TrustError,
)

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_INTEGRITY = 4
EXIT_TRANSPORT = 5
EXIT_INTERRUPTED = 130


def exit_code_for(err: LaminaError) -> int:
    if isinstance(err, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(err, IntegrityError | TrustError):
        return EXIT_INTEGRITY
    if isinstance(err, TransportError | AuthError):
        return EXIT_TRANSPORT
    if isinstance(err, InvalidInput):
        return EXIT_USAGE
    return EXIT_FAILED


def print_error(err: LaminaError) -> None:
    click.echo(f"error[{err.code}]: {err.message}", err=True)
    if err.hint:
        click.echo(f"  hint: {err.hint}", err=True)


def run_guarded(fn: Callable[[], Any], *, debug: bool) -> int:
    """Call `fn`; map its outcome to an exit code, printing one line for an error."""
    try:
        result = fn()
    except LaminaError as err:
        if debug:
            import traceback

            traceback.print_exc()
        print_error(err)
        return exit_code_for(err)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as err:
        err.show()
        return EXIT_USAGE if isinstance(err, click.UsageError) else err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_FAILED
    except OSError as err:
        if debug:
            raise
        click.echo(f"error[IO]: {err}", err=True)
        return EXIT_FAILED
    if isinstance(result, int):
        return result
    return 0
