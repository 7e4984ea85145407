"""`copy` and `add`: host files into a working container (buildah's verbs). `lamina copy`
serves two tools' users: buildah's `copy CONTAINER SRC... DEST` here, and skopeo's
`copy SRC-IMAGE DST-IMAGE` with transport prefixes, which goes to `copy_cmd` (the group
sends a command line that can only be an image copy there directly)."""

from __future__ import annotations

import click

from lamina.cli.context import store_from
from lamina.cli.copy_form import TRANSPORT, positionals
from lamina.cli.group import IMAGE_COPY, load


def _copy_options(f: click.decorators.FC) -> click.decorators.FC:
    f = click.option("--chmod", help="Set the mode of copied files (octal, e.g. 755).")(f)
    f = click.option("--chown", help="Owner USER[:GROUP] of copied files (default root).")(f)
    f = click.argument("paths", nargs=-1, required=True)(f)
    return click.argument("name")(f)


def _do_copy(
    ctx: click.Context,
    name: str,
    paths: tuple[str, ...],
    chown: str | None,
    chmod: str | None,
    add: bool,
) -> None:
    from lamina.ops.containers import copy as do_copy

    if len(paths) < 2:
        raise click.UsageError("give at least one SRC and a DEST")
    do_copy(store_from(ctx), name, paths[:-1], paths[-1], chown=chown, chmod=chmod, add=add)


@click.command(
    "copy",
    epilog="Example: lamina copy --chown 1001:1001 web ./app /usr/local/bin/",
)
@_copy_options
@click.pass_context
def copy_into(
    ctx: click.Context, name: str, paths: tuple[str, ...], chown: str | None, chmod: str | None
) -> None:
    """Copy host files SRC... into working container NAME at DEST."""
    _do_copy(ctx, name, paths, chown, chmod, add=False)


@click.command(epilog="Example: lamina add web ./rootfs.tar.gz /opt/")
@_copy_options
@click.pass_context
def add(
    ctx: click.Context, name: str, paths: tuple[str, ...], chown: str | None, chmod: str | None
) -> None:
    """Like copy, but local tar archives (plain, gzip, zstd…) are extracted at DEST."""
    _do_copy(ctx, name, paths, chown, chmod, add=True)


@click.command(
    "copy",
    context_settings={"ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
    epilog="Examples: lamina copy web ./app /usr/local/bin/  |  "
    "lamina copy oci-archive:img.tar lamina:localhost/img:1",
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def copy(ctx: click.Context, args: tuple[str, ...]) -> object:
    """Copy files into a working container, or an image between transports.

    `lamina copy [--chown U:G] [--chmod MODE] CONTAINER SRC... DEST` (buildah's form) when
    the first argument names a working container and no argument has a TRANSPORT: prefix;
    otherwise `lamina copy [OPTIONS] SRC-IMAGE DEST-IMAGE` (skopeo's form).
    """
    from lamina.errors import NotFound

    argv = list(args)
    pos = positionals(argv)
    image_copy = load(IMAGE_COPY)
    if not pos or argv[:1] in (["--help"], ["-h"]):
        click.echo(ctx.get_help())
        click.echo("\nContainer form:\n")
        click.echo(copy_into.get_help(ctx))
        click.echo("\nImage form:\n")
        click.echo(image_copy.get_help(ctx))
        return 0
    container_form = len(pos) >= 3 and not any(TRANSPORT.match(p) for p in pos)
    if container_form and not _is_container(ctx, pos[0]):
        # Image copy takes exactly two arguments: three or more can only mean a container.
        raise NotFound(
            f"working container {pos[0]!r} does not exist",
            hint="list them with `lamina containers`; image copy takes SRC DEST only",
        )
    target = copy_into if container_form else image_copy
    return target.main(argv, prog_name="lamina copy", standalone_mode=False, obj=ctx.obj)


def _is_container(ctx: click.Context, name: str) -> bool:
    """Imported late: the container engine is heavy and image copy never needs it."""
    from lamina.ops.containers import is_container

    return is_container(store_from(ctx), name)
