"""Entry point. Subcommands are imported only when invoked, so `lamina --help` stays fast."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any, NoReturn

import click

from lamina import __version__

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


class LazyGroup(click.Group):
    """A group whose subcommands are resolved from COMMANDS on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_available()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        entry = _available().get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, entry[1])
        assert isinstance(command, click.Command)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # An image copy goes straight to copy_cmd: the `copy` that serves both forms lives
        # with the container commands, which an image copy need not load.
        if args[:1] == ["copy"] and "copy" in _available():
            from lamina.cli.copy_form import surely_image_copy

            if surely_image_copy(args[1:]):
                from lamina.cli.copy_cmd import copy

                _resolved.append("image-copy")
                return "copy", copy, args[1:]
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None:
            _resolved.append(name)
        return name, command, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, entry[2]) for name, entry in sorted(_available().items())]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available() -> dict[str, tuple[str, str, str]]:
    """The command table (each module is imported only when its command runs)."""
    return COMMANDS


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: lamina base && lamina images",
)
@click.option(
    "--root",
    envvar="LAMINA_ROOT",
    type=click.Path(file_okay=False),
    help="Storage root (default: /var/lib/lamina as root, else $XDG_DATA_HOME/lamina).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="lamina")
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """lamina builds, stores, ships, signs and checks OCI container images, with no daemon."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn LaminaErrors into one line on stderr and a meaningful exit code."""
    from lamina.cli.errors import run_guarded

    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(
        os.environ.get("LAMINA_DEBUG")
    )
    code = run_guarded(lambda: _invoke(argv), debug=debug)
    if argv is None:
        _exit(code)  # the program's own run (not a caller's, in-process)
    sys.exit(code)


def _exit(code: int) -> NoReturn:
    """Exit with `code`. After a FAST_EXIT command, with no other thread left, the atexit
    handlers run and the streams are flushed, then the process ends without tearing the
    interpreter down (freeing every module and object costs tens of milliseconds, more
    than some commands' own work)."""
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


def _invoke(argv: list[str] | None) -> Any:
    return cli.main(args=argv, prog_name="lamina", standalone_mode=False)
