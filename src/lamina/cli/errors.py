"""How the CLI reports errors and which exit code each kind gets.

Exit codes: 0 success; 1 an operation failed; 2 bad usage or invalid input (flags, arguments,
a malformed reference, file or manifest); 3 a named thing
was not found; 4 integrity or trust failure (bytes did not verify, policy refused);
5 network, registry or authentication failure; 130 interrupted. A failing RUN step makes
`lamina build` exit with the command's own code, as buildah does.
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
    RunFailed,
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
    if isinstance(err, RunFailed) and 0 < err.exit_code < 256:
        return err.exit_code
    if isinstance(err, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(err, IntegrityError | TrustError):
        return EXIT_INTEGRITY
    if isinstance(err, TransportError | AuthError):
        return EXIT_TRANSPORT
    if isinstance(err, InvalidInput):
        return EXIT_USAGE
    return EXIT_FAILED


def echo_err(text: str) -> None:
    click.echo(text, err=True)


def print_error(err: LaminaError) -> None:
    echo_err(f"error[{err.code}]: {err.message}")
    if err.hint:
        echo_err(f"  hint: {err.hint}")


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
    except KeyboardInterrupt:
        echo_err("interrupted")
        return EXIT_INTERRUPTED
    except click.exceptions.Abort:
        echo_err("aborted")
        return EXIT_INTERRUPTED
    except click.ClickException as err:
        err.show()
        return EXIT_USAGE if isinstance(err, click.UsageError) else err.exit_code
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_FAILED
    except OSError as err:
        if debug:
            raise
        echo_err(f"error[IO]: {err}")
        return EXIT_FAILED
    if isinstance(result, int):
        return result
    return 0
