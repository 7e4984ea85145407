"""`import`, `export`, `save`, `load`."""

from __future__ import annotations

import click

from lamina.cli.context import store_from


@click.command(
    "import", epilog="Example: lamina import rootfs.tar.gz localhost/app:1 --change 'CMD [\"sh\"]'"
)
@click.argument("source")
@click.argument("name", required=False)
@click.option(
    "-c",
    "--change",
    "changes",
    multiple=True,
    help="Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, "
    "ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR) to the config.",
)
@click.option("-m", "--message", default="", help="Comment for the history entry.")
@click.option("--platform", default=None, help="OS/ARCH[/VARIANT] recorded in the config.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.pass_context
def import_(
    ctx: click.Context,
    source: str,
    name: str | None,
    changes: tuple[str, ...],
    message: str,
    platform: str | None,
    quiet: bool,
) -> None:
    """Create an image from SOURCE: a tar file (plain, gzip, zstd, bzip2 or xz), a
    directory, or - for stdin. Prints the new image's ID."""
    from lamina.ops.archive import import_image
    from lamina.platform import Platform

    img = import_image(
        store_from(ctx),
        source,
        name,
        changes=changes,
        message=message,
        platform=Platform.parse(platform) if platform else None,
    )
    click.echo(img.id)


@click.command(epilog="Example: lamina export localhost/busybox -o rootfs.tar")
@click.argument("image")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Write the tar here."
)
@click.pass_context
def export(ctx: click.Context, image: str, output: str) -> None:
    """Write IMAGE's flattened filesystem as a tar (every layer applied)."""
    from lamina.ops.archive import export_image

    export_image(store_from(ctx), image, output)


FORMATS = ("oci-archive", "docker-archive", "oci-dir", "docker-dir")


@click.command(
    epilog="Example: lamina save -o images.tar --format oci-archive "
    "localhost/busybox localhost/app:1"
)
@click.argument("images", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="Archive file (or directory for the *-dir formats).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="docker-archive",
    show_default=True,
    help="Output format (as podman save).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
@click.pass_context
def save(ctx: click.Context, images: tuple[str, ...], output: str, fmt: str, quiet: bool) -> None:
    """Save one or more IMAGES to an archive or directory that podman and skopeo read."""
    from lamina.ops.saveload import save_images

    written = save_images(store_from(ctx), list(images), output, fmt)
    if not quiet:
        for line in written:
            click.echo(line)


@click.command(epilog="Example: lamina load -i images.tar")
@click.option(
    "-i",
    "--input",
    "input_",
    required=True,
    type=click.Path(exists=True),
    help="An oci-archive, docker-archive, OCI layout dir or dir: image.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing.")
@click.pass_context
def load(ctx: click.Context, input_: str, quiet: bool) -> None:
    """Load every image in an archive or directory (the format is detected)."""
    from lamina.ops.saveload import load_images

    for line in load_images(store_from(ctx), input_):
        if not quiet:
            click.echo(line)
