"""`lamina base`: make the tiny offline base image from Debian's busybox-static."""

from __future__ import annotations

from pathlib import Path

import click

from lamina.cli.context import store_from


@click.command(epilog="Example: lamina base && lamina run ... localhost/busybox")
@click.option(
    "--name",
    default="localhost/busybox:latest",
    show_default=True,
    help="Name of the image to create.",
)
@click.option(
    "--busybox",
    "busybox",
    default="/bin/busybox",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="A statically linked busybox binary.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.pass_context
def base(ctx: click.Context, name: str, busybox: str, quiet: bool) -> None:
    """Make a busybox base image (one static /bin/busybox and its applet links).

    Needs no network: `apt-get install busybox-static` provides the binary. The image is
    dated SOURCE_DATE_EPOCH, else now; with SOURCE_DATE_EPOCH it is reproducible.
    """
    from lamina.ops.base import make_busybox

    img = make_busybox(store_from(ctx), name, busybox=Path(busybox))
    click.echo(img.id if quiet else f"{name} {img.id}")
