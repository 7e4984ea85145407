"""`images`, `image tree|prune|ls|rm`, `history`, `inspect`, `tag`, `untag`, `rmi`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lamina.cli.context import FORMAT_OPTION, store_from
from lamina.cli.output import ago, echo_json, human_size, table

F = TypeVar("F", bound=Callable[..., Any])


@click.command(epilog="Example: lamina images --format json")
@click.option("-a", "--all", "all_", is_flag=True, help="Also list index children.")
@click.option("-q", "--quiet", is_flag=True, help="Print only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Show full image IDs.")
@FORMAT_OPTION
@click.pass_context
def images(ctx: click.Context, all_: bool, quiet: bool, no_trunc: bool, fmt: str) -> None:
    """List images in local storage (REPOSITORY TAG IMAGE ID CREATED SIZE)."""
    from lamina.ops.images import image_json, image_rows

    rows = image_rows(store_from(ctx), all=all_)
    if fmt == "json":
        seen: dict[str, dict[str, object]] = {}
        for r in rows:
            seen.setdefault(r.image.id, image_json(r.image))
        echo_json(list(seen.values()))
        return
    if quiet:
        ids: list[str] = []
        for r in rows:
            i = r.image.id if no_trunc else r.image.short_id
            if i not in ids:
                ids.append(i)
        for i in ids:
            click.echo(i)
        return
    body = [
        [
            r.repository,
            r.tag,
            r.image.id if no_trunc else r.image.short_id,
            ago(r.image.created),
            human_size(r.image.size),
        ]
        for r in rows
    ]
    click.echo(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], body))


@click.command(epilog="Example: lamina history --no-trunc localhost/busybox")
@click.argument("image")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the IDs.")
@FORMAT_OPTION
@click.pass_context
def history(ctx: click.Context, image: str, no_trunc: bool, quiet: bool, fmt: str) -> None:
    """Show the history of IMAGE, newest first."""
    from lamina.ops import images as ops

    stored, entries = ops.history(store_from(ctx), image)
    ids = [stored.id if i == 0 else "<missing>" for i in range(len(entries))]
    if fmt == "json":
        echo_json(
            [
                {
                    "id": ids[i],
                    "created": e.created.isoformat() if e.created else None,
                    "createdBy": e.created_by,
                    "size": e.size,
                    "comment": e.comment,
                    "emptyLayer": e.empty_layer,
                }
                for i, e in enumerate(entries)
            ]
        )
        return
    if quiet:
        for shown_id in ids:
            click.echo(shown_id if no_trunc or shown_id == "<missing>" else shown_id[:12])
        return
    rows = []
    for i, e in enumerate(entries):
        created_by = e.created_by
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:42] + "..."
        shown = ids[i] if no_trunc or ids[i] == "<missing>" else ids[i][:12]
        rows.append([shown, ago(e.created), created_by, human_size(e.size), e.comment])
    click.echo(table(["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"], rows))


def location_options(f: F) -> F:
    """The flags for inspecting a TRANSPORT:… location (shared with the container inspect)."""
    for option in reversed(
        [
            click.option(
                "--raw", is_flag=True, help="For TRANSPORT:… locations: the raw manifest."
            ),
            click.option(
                "--config", is_flag=True, help="For TRANSPORT:… locations: the image config."
            ),
            click.option(
                "--creds", default=None, metavar="USER[:PASS]", help="Registry credentials."
            ),
            click.option("--authfile", default=None, help="Auth file to read."),
            click.option(
                "--tls-verify",
                type=click.BOOL,
                is_flag=False,
                flag_value=True,
                default=None,
                help="Require HTTPS and verified certificates (loopback may use HTTP).",
            ),
        ]
    ):
        f = option(f)
    return f


@click.command(
    epilog="Example: lamina inspect localhost/busybox\n\n"
    "Example: lamina inspect --raw docker://127.0.0.1:5000/app:1"
)
@click.argument("images", nargs=-1, required=True)
@location_options
@click.pass_context
def inspect(
    ctx: click.Context,
    images: tuple[str, ...],
    raw: bool,
    config: bool,
    creds: str | None,
    authfile: str | None,
    tls_verify: bool | None,
) -> None:
    """Show each IMAGE's manifest and config as JSON. An IMAGE written TRANSPORT:…
    (docker://HOST/REPO:TAG, oci:DIR, …) is inspected where it is, as skopeo does."""
    from lamina.copy import alltransports
    from lamina.ops import images as ops

    known = {*alltransports.transports(), "docker", "lamina"}
    if not any(name.partition(":")[0] in known for name in images):
        store = store_from(ctx)
        echo_json([ops.inspect(store, name) for name in images])
        return
    from lamina.ops.locations import registry_options
    from lamina.ops.pulling_remote import inspect_location

    options = registry_options(creds=creds, authfile=authfile, tls_verify=tls_verify)
    results = [
        inspect_location(n, lambda: store_from(ctx), options, raw=raw, config=config)
        for n in images
    ]
    for result in results:
        if isinstance(result, bytes):
            click.echo(result.decode("utf-8", "replace"), nl=not raw or config)
        else:
            echo_json(result)


@click.command(epilog="Example: lamina tag localhost/busybox localhost/base:1.0")
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def tag(ctx: click.Context, image: str, names: tuple[str, ...]) -> None:
    """Add one or more NAMES to IMAGE."""
    store = store_from(ctx)
    for name in names:
        store.tag(image, name)


@click.command(epilog="Example: lamina untag localhost/base:1.0")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def untag(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Remove NAMES from the images they point at (the images stay)."""
    store = store_from(ctx)
    for name in names:
        store.untag(name)


@click.command(epilog="Example: lamina rmi localhost/base:1.0")
@click.argument("images", nargs=-1)
@click.option("-f", "--force", is_flag=True, help="Remove even if held by a container.")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all images.")
@click.pass_context
def rmi(ctx: click.Context, images: tuple[str, ...], force: bool, all_: bool) -> None:
    """Remove IMAGES (by name: untag; by ID or last name: delete)."""
    store = store_from(ctx)
    if all_:
        images = tuple(i.id for i in store.list_images())
    elif not images:
        raise click.UsageError("name at least one image, or pass --all")
    for name in images:
        for line in store.remove(name, force=force):
            click.echo(line)


@click.group(epilog="Example: lamina image tree localhost/busybox")
def image() -> None:
    """Manage images."""


@image.command("tree", epilog="Example: lamina image tree localhost/busybox")
@click.argument("name")
@FORMAT_OPTION
@click.pass_context
def tree(ctx: click.Context, name: str, fmt: str) -> None:
    """Show NAME's layers bottom-up, with sizes and the images each is the top layer of."""
    from lamina.ops.images import image_tree

    stored, layers = image_tree(store_from(ctx), name)
    if fmt == "json":
        echo_json(
            {
                "id": stored.id,
                "names": list(stored.names),
                "size": stored.size,
                "layers": [
                    {
                        "id": str(la.id),
                        "diffId": str(la.diff_id),
                        "size": la.size,
                        "topLayerOf": list(la.top_of),
                    }
                    for la in layers
                ],
            }
        )
        return
    click.echo(f"Image ID: {stored.short_id}")
    click.echo(f"Tags:     [{' '.join(stored.names)}]")
    click.echo(f"Size:     {human_size(stored.size, 4)}")
    click.echo("Image Layers")
    for i, la in enumerate(layers):
        branch = "└──" if i == len(layers) - 1 else "├──"
        line = f"{branch} ID: {la.id.short} Size: {human_size(la.size, 4):>9}"
        if la.top_of:
            line += f" Top Layer of: [{' '.join(la.top_of)}]"
        click.echo(line)


@image.command("prune", epilog="Example: lamina image prune --all")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all unused images, not only dangling ones."
)
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Do not ask (lamina never asks; accepted for podman compatibility).",
)
@click.option(
    "--build-cache",
    is_flag=True,
    help="Also forget lamina build's cached steps and cache mounts, removing their images.",
)
@click.pass_context
def prune(ctx: click.Context, all_: bool, force: bool, build_cache: bool) -> None:
    """Remove dangling images (with --all, every image no container uses)."""
    store = store_from(ctx)
    if build_cache:
        from lamina.ops.build import prune_build_cache

        for image_id in prune_build_cache(store):
            click.echo(image_id)
    for img in store.prune(all=all_):
        click.echo(img.id)
    # stderr: stdout stays the list of IDs. Counts the partial blobs of killed downloads
    # that opening the store removed, too; unpacked layers (snapshots) are not measured.
    freed = human_size(store.collected.bytes_freed, 4)
    click.echo(f"Reclaimed {freed} of blobs and partial downloads", err=True)


image.add_command(images, "ls")
image.add_command(images, "list")
image.add_command(rmi, "rm")
image.add_command(history, "history")
image.add_command(inspect, "inspect")
image.add_command(tag, "tag")
image.add_command(untag, "untag")
