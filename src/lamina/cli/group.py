"""The `lamina` click group. Subcommands load lazily (click's LazyGroup pattern): the table
below names each command's `module:attribute` and its one-line help, so `lamina --help`
lists every command without importing any, and a command line imports only its command's
module."""

from __future__ import annotations

import importlib
from typing import Any

import click

from lamina import __version__

# name -> ("module:attribute", one-line help shown by `lamina --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "images": ("lamina.cli.images_cmd:images", "List images in local storage."),
    "image": ("lamina.cli.images_cmd:image", "Manage images (tree, prune, ls, rm)."),
    "history": ("lamina.cli.images_cmd:history", "Show the history of an image."),
    "inspect": (
        "lamina.cli.containers_cmd:inspect",
        "Show a working container's or an image's details.",
    ),
    "tag": ("lamina.cli.images_cmd:tag", "Add names to an image."),
    "untag": ("lamina.cli.images_cmd:untag", "Remove names from an image."),
    "rmi": ("lamina.cli.images_cmd:rmi", "Remove images."),
    "import": ("lamina.cli.archive_cmd:import_", "Create an image from a tarball."),
    "export": ("lamina.cli.archive_cmd:export", "Write an image's flattened filesystem."),
    "save": ("lamina.cli.archive_cmd:save", "Save images to an archive or directory."),
    "load": ("lamina.cli.archive_cmd:load", "Load images from an archive or directory."),
    "base": ("lamina.cli.base_cmd:base", "Make the tiny offline base image."),
    "registry": ("lamina.cli.registry_cmd:registry", "Run and manage a registry server."),
    "copy": (
        "lamina.cli.copyin_cmd:copy",
        "Copy files into a working container, or an image between transports.",
    ),
    "from": ("lamina.cli.containers_cmd:from_", "Create a working container from an image."),
    "containers": ("lamina.cli.containers_cmd:containers", "List working containers."),
    "rm": ("lamina.cli.containers_cmd:rm", "Remove working containers."),
    "mount": ("lamina.cli.containers_cmd:mount", "Mount a working container's root."),
    "umount": ("lamina.cli.containers_cmd:umount", "Unmount a working container's root."),
    "unshare": (
        "lamina.cli.containers_cmd:unshare",
        "Run a command in a user namespace where mounts work.",
    ),
    "run": ("lamina.cli.containers_cmd:run", "Run a command in a working container."),
    "add": ("lamina.cli.copyin_cmd:add", "Add files (archives extracted) to a container."),
    "config": ("lamina.cli.config_cmd:config", "Change a working container's image config."),
    "commit": ("lamina.cli.containers_cmd:commit", "Create an image from a working container."),
    "login": ("lamina.cli.registry_client_cmd:login", "Log in to a registry."),
    "logout": ("lamina.cli.registry_client_cmd:logout", "Log out of a registry."),
    "push": ("lamina.cli.registry_client_cmd:push", "Push an image to a registry."),
    "pull": ("lamina.cli.registry_client_cmd:pull", "Pull an image into local storage."),
    "list-tags": ("lamina.cli.registry_client_cmd:list_tags", "List a repository's tags."),
    "delete": ("lamina.cli.registry_client_cmd:delete", "Delete an image from a registry."),
    "sync": ("lamina.cli.sync_cmd:sync", "Synchronise images between locations."),
    "build": ("lamina.cli.build_cmd:build", "Build an image from a Containerfile."),
    "sign": ("lamina.cli.trust_cmd:sign", "Add a signature to an image."),
    "verify": ("lamina.cli.trust_cmd:verify", "Check an image's signatures under a policy."),
    "standalone-sign": (
        "lamina.cli.trust_cmd:standalone_sign",
        "Sign a manifest file (skopeo's standalone-sign).",
    ),
    "standalone-verify": (
        "lamina.cli.trust_cmd:standalone_verify",
        "Verify a manifest file's signature (skopeo's standalone-verify).",
    ),
    "trust": ("lamina.cli.trust_cmd:trust", "Show or set the trust policy."),
    "key": ("lamina.cli.trust_cmd:key", "Generate cosign signing keys."),
}

# buildah's other spellings of a command: resolved, not listed by `lamina --help`.
ALIASES: dict[str, str] = {"unmount": "umount"}

# `lamina copy` has two forms (copy_form): an image copy goes straight to this command, so
# that it does not load the container commands, which serve the other form.
IMAGE_COPY = "lamina.cli.copy_cmd:copy"


def load(target: str) -> click.Command:
    """The click command at `module:attribute`, imported now."""
    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{target} is not a click command")
    return command


class LazyGroup(click.Group):
    """A group whose subcommands are named in `lazy` (name -> ("module:attribute", short
    help)) and imported on first use; the short help lists them without importing. A
    `copy` whose words can only be an image copy resolves to IMAGE_COPY."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd_name = ALIASES.get(cmd_name, cmd_name)
        if cmd_name in self.lazy:
            return load(self.lazy[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args[:1] == ["copy"] and "copy" in self.lazy:
            from lamina.cli.copy_form import surely_image_copy

            if surely_image_copy(args[1:]):
                return "copy", load(IMAGE_COPY), args[1:]
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
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
