"""Entry point. Subcommands are imported only when invoked, so `lamina --help` stays fast;
the click group itself lives in `group` (also reachable here as `cli`), and the common
command lines of an image copy and of a sync run without click at all (`copy_fast`,
`sync_fast`)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO, cast

# name -> (module, attribute, one-line help shown by `lamina --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "images": ("lamina.cli.images_cmd", "images", "List images in local storage."),
    "image": ("lamina.cli.images_cmd", "image", "Manage images (tree, prune, ls, rm)."),
    "history": ("lamina.cli.images_cmd", "history", "Show the history of an image."),
    "inspect": (
        "lamina.cli.containers_cmd",
        "inspect",
        "Show a working container's or an image's details.",
    ),
    "tag": ("lamina.cli.images_cmd", "tag", "Add names to an image."),
    "untag": ("lamina.cli.images_cmd", "untag", "Remove names from an image."),
    "rmi": ("lamina.cli.images_cmd", "rmi", "Remove images."),
    "import": ("lamina.cli.archive_cmd", "import_", "Create an image from a tarball."),
    "export": ("lamina.cli.archive_cmd", "export", "Write an image's flattened filesystem."),
    "save": ("lamina.cli.archive_cmd", "save", "Save images to an archive or directory."),
    "load": ("lamina.cli.archive_cmd", "load", "Load images from an archive or directory."),
    "base": ("lamina.cli.base_cmd", "base", "Make the tiny offline base image."),
    "registry": ("lamina.cli.registry_cmd", "registry", "Run and manage a registry server."),
    "copy": (
        "lamina.cli.containers_cmd",
        "copy",
        "Copy files into a working container, or an image between transports.",
    ),
    "from": ("lamina.cli.containers_cmd", "from_", "Create a working container from an image."),
    "containers": ("lamina.cli.containers_cmd", "containers", "List working containers."),
    "rm": ("lamina.cli.containers_cmd", "rm", "Remove working containers."),
    "mount": ("lamina.cli.containers_cmd", "mount", "Mount a working container's root."),
    "umount": ("lamina.cli.containers_cmd", "umount", "Unmount a working container's root."),
    "unshare": (
        "lamina.cli.containers_cmd",
        "unshare",
        "Run a command in a user namespace where mounts work.",
    ),
    "run": ("lamina.cli.containers_cmd", "run", "Run a command in a working container."),
    "add": ("lamina.cli.containers_cmd", "add", "Add files (archives extracted) to a container."),
    "config": ("lamina.cli.config_cmd", "config", "Change a working container's image config."),
    "commit": ("lamina.cli.containers_cmd", "commit", "Create an image from a working container."),
    "login": ("lamina.cli.registry_client_cmd", "login", "Log in to a registry."),
    "logout": ("lamina.cli.registry_client_cmd", "logout", "Log out of a registry."),
    "push": ("lamina.cli.registry_client_cmd", "push", "Push an image to a registry."),
    "pull": ("lamina.cli.registry_client_cmd", "pull", "Pull an image into local storage."),
    "list-tags": ("lamina.cli.registry_client_cmd", "list_tags", "List a repository's tags."),
    "delete": ("lamina.cli.registry_client_cmd", "delete", "Delete an image from a registry."),
    "sync": ("lamina.cli.sync_cmd", "sync", "Synchronise images between locations."),
    "build": ("lamina.cli.build_cmd", "build", "Build an image from a Containerfile."),
    "sign": ("lamina.cli.trust_cmd", "sign", "Add a signature to an image."),
    "verify": ("lamina.cli.trust_cmd", "verify", "Check an image's signatures under a policy."),
    "standalone-sign": (
        "lamina.cli.trust_cmd",
        "standalone_sign",
        "Sign a manifest file (skopeo's standalone-sign).",
    ),
    "standalone-verify": (
        "lamina.cli.trust_cmd",
        "standalone_verify",
        "Verify a manifest file's signature (skopeo's standalone-verify).",
    ),
    "trust": ("lamina.cli.trust_cmd", "trust", "Show or set the trust policy."),
    "key": ("lamina.cli.trust_cmd", "key", "Generate cosign signing keys."),
}


# Commands that end by leaving the interpreter at once (see `_exit`): they run no
# processes of their own and hold nothing open past their return.
FAST_EXIT = frozenset(
    {
        "image-copy",
        "sync",
        "push",
        "pull",
        "list-tags",
        "delete",
        "login",
        "logout",
        "sign",
        "verify",
        "standalone-sign",
        "standalone-verify",
    }
)
_resolved: list[str] = []


def _available() -> dict[str, tuple[str, str, str]]:
    """The command table (each module is imported only when its command runs)."""
    return COMMANDS


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn LaminaErrors into one line on stderr and a meaningful exit code."""
    from lamina.cli.errors import run_guarded

    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("LAMINA_DEBUG")
    )
    code = run_guarded(lambda: _run(argv), debug=debug)
    if argv is None:
        _exit(code)  # the program's own run (not a caller's, in-process)
    sys.exit(code)


def _exit(code: int) -> NoReturn:
    """Exit with `code`. After a FAST_EXIT command, with no other thread left, the atexit
    handlers run and the streams are flushed, then the process ends without tearing the
    interpreter down (freeing every module and object costs tens of milliseconds, more
    than some commands' own work: `python -m bench.cli_latency`, rows "copy, fast exit"
    against "copy, teardown")."""
    import threading

    if _resolved[-1:] and _resolved[-1] in FAST_EXIT and threading.active_count() == 1:
        import atexit

        atexit._run_exitfuncs()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            code = code or 1
        os._exit(code)
    sys.exit(code)


def _run(argv: list[str] | None) -> Any:
    """The command's result: read without click when `_fast` can, else through click."""
    fast = _fast(argv)
    if fast is None:
        return _invoke(argv)
    name, run = fast
    _resolved.append(name)
    try:
        return run()
    except (EOFError, KeyboardInterrupt) as exc:  # what click's main makes of these
        import click

        click.echo(file=sys.stderr)
        raise click.Abort() from exc
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        from click.utils import PacifyFlushWrapper

        sys.stdout = cast(TextIO, PacifyFlushWrapper(sys.stdout))
        sys.stderr = cast(TextIO, PacifyFlushWrapper(sys.stderr))
        sys.exit(1)


def _fast(argv: list[str] | None) -> tuple[str, Callable[[], Any]] | None:
    """An image copy or a sync whose command line `copy_fast` / `sync_fast` reads exactly
    as click would, named for FAST_EXIT, to run; None for any other command line, or a
    shell-completion request."""
    args = argv if argv is not None else sys.argv[1:]
    if "_LAMINA_COMPLETE" in os.environ or args[:1] not in (["copy"], ["sync"]):
        return None
    if args[0] not in _available():
        return None
    if args[0] == "copy":
        from lamina.cli.copy_fast import image_copy

        copy_run = image_copy(args[1:])
        return None if copy_run is None else ("image-copy", copy_run)
    from lamina.cli.sync_fast import sync_command

    sync_run = sync_command(args[1:])
    return None if sync_run is None else ("sync", sync_run)


def _invoke(argv: list[str] | None) -> Any:
    from lamina.cli.group import cli

    return cli.main(args=argv, prog_name="lamina", standalone_mode=False)


def __getattr__(name: str) -> Any:
    if name in ("cli", "LazyGroup"):  # the click group loads when asked for
        from lamina.cli import group

        return getattr(group, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
