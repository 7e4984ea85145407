"""The click group: subcommands resolved lazily from `main.COMMANDS`."""

from __future__ import annotations

import importlib

import click

from lamina import __version__
from lamina.cli.main import _available, _resolved


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
