"""`images`, `image tree|prune|ls|rm`, `history`, `inspect`, `tag`, `untag`, `rmi`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lamina.cli import inspect_output
from lamina.cli.context import FORMAT_OPTION, store_from
from lamina.cli.output import (
    ago,
    echo_json,
    go_time,
    human_size,
    is_json,
    render_template,
    template_format_option,
)
from lamina.gotemplate import Record

if TYPE_CHECKING:
    from lamina.ops.images import ImageRow

F = TypeVar("F", bound=Callable[..., Any])


IMAGE_HEADERS = {"ID": "IMAGE ID", "Created": "CREATED", "ReadOnly": "R/O"}


@click.command(
    epilog="Example: lamina images --format '{{.Repository}}:{{.Tag}}'\n\n"
    "Example: lamina images --filter dangling=true -q"
)
@click.argument("reference", required=False)
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Also list intermediate images and index children."
)
@click.option("-q", "--quiet", is_flag=True, help="Print only image IDs.")
@click.option("--no-trunc", is_flag=True, help="Show full image IDs (sha256:…).")
@click.option("--digests", is_flag=True, help="Show the manifest digests.")
@click.option("-n", "--noheading", is_flag=True, help="Do not print the heading row.")
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="dangling=, reference=, label=KEY[=V], before=IMAGE, since=IMAGE, intermediate=.",
)
@click.option(
    "--sort",
    default="created",
    show_default=True,
    help="created, id, repository, size or tag.",
)
@template_format_option("REPOSITORY TAG IMAGE ID CREATED SIZE;")
@click.pass_context
def images(
    ctx: click.Context,
    reference: str | None,
    all_: bool,
    quiet: bool,
    no_trunc: bool,
    digests: bool,
    noheading: bool,
    filters: tuple[str, ...],
    sort: str,
    fmt: str,
) -> None:
    """List images in local storage, as podman does: named and dangling images (the
    intermediate images of --layers builds, the build cache, with -a); REFERENCE filters
    by name (`app`, `localhost/app:1`, `app:*`)."""
    from lamina.ops import image_list
    from lamina.ops.images import container_counts, image_json, image_rows

    store = store_from(ctx)
    items = image_list.select(
        store, all=all_, filters=filters, references=(reference,) if reference else ()
    )
    rows = image_list.sort_rows(image_rows(items), sort, _row_field)
    if is_json(fmt):
        counts = container_counts(store)
        seen: dict[str, dict[str, object]] = {}
        for r in rows:
            seen.setdefault(r.image.id, image_json(r.item, counts.get(r.image.id, 0)))
        echo_json(list(seen.values()))
        return
    if quiet:
        fmt = "{{.ID}}"
    elif fmt == "table":
        digest = "{{.Digest}}\t" if digests else ""
        fmt = "table {{.Repository}}\t{{.Tag}}\t" + digest + "{{.ID}}\t{{.Created}}\t{{.Size}}"
    counts = container_counts(store) if "Containers" in fmt else {}
    records = [_image_record(r, no_trunc, counts.get(r.image.id, 0)) for r in rows]
    text = render_template(fmt, records, headers=IMAGE_HEADERS, noheading=noheading)
    if quiet:  # one line per image, not per name
        text = "".join(dict.fromkeys(text.splitlines(keepends=True)))
    click.echo(text, nl=False)


def _row_field(row: ImageRow, key: str) -> object:
    if key == "created":
        return row.image.created.timestamp() if row.image.created else 0.0
    if key == "id":
        return row.image.id
    if key == "size":
        return row.image.size
    return row.repository if key == "repository" else row.tag


def _image_record(r: ImageRow, no_trunc: bool, containers: int) -> Record:
    """The fields `images --format` templates see (podman's imageReporter)."""
    from lamina.ops.images import image_json

    created = r.image.created
    summary = image_json(r.item, containers)
    return Record(
        Repository=r.repository,
        Tag=r.tag,
        ID=f"sha256:{r.image.id}" if no_trunc else r.image.short_id,
        Id=r.image.id,
        Digest=str(r.image.manifest_digest),
        Created=ago(created),
        CreatedSince=ago(created),
        CreatedAt=go_time(created),
        CreatedTime=go_time(created),
        Size=human_size(r.image.size),
        VirtualSize=r.image.size,
        SharedSize=0,
        ReadOnly=False,
        Dangling=r.item.dangling,
        Intermediate=r.item.intermediate,
        Containers=containers,
        Labels=summary["Labels"] or {},
        Names=list(r.image.names),
        RepoTags=summary["RepoTags"],
        RepoDigests=summary["RepoDigests"],
        History=", ".join(r.image.names),
        ParentId=r.item.parent,
    )


HISTORY_HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY"}


@click.command(epilog="Example: lamina history --format '{{.CreatedBy}}' localhost/busybox")
@click.argument("image")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the IDs.")
@click.option("-n", "--noheading", is_flag=True, help="Do not print the heading row.")
@template_format_option("ID CREATED CREATED BY SIZE COMMENT;")
@click.pass_context
def history(
    ctx: click.Context, image: str, no_trunc: bool, quiet: bool, noheading: bool, fmt: str
) -> None:
    """Show the history of IMAGE, newest first."""
    from lamina.ops import images as ops

    store = store_from(ctx)
    stored, entries = ops.history(store, image)
    ids = ops.history_ids(store, stored, entries)
    if is_json(fmt):
        echo_json(ops.history_json(ids, entries))
        return
    if quiet:
        fmt = "{{.ID}}"
    elif fmt == "table":
        fmt = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    records = []
    for full, e in zip(ids, entries, strict=True):
        shown = full if no_trunc or full == "<missing>" else full[:12]
        created_by = e.created_by
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:42] + "..."
        records.append(
            Record(
                ID=shown,
                Created=ago(e.created),
                CreatedSince=ago(e.created),
                CreatedAt=go_time(e.created),
                CreatedBy=created_by,
                Size=human_size(e.size),
                Comment=e.comment,
                Tags=[],  # podman 4 leaves it empty
            )
        )
    text = render_template(fmt, records, headers=HISTORY_HEADERS, noheading=noheading)
    click.echo(text, nl=False)


def location_options(f: F) -> F:
    """The flags for inspecting a TRANSPORT:… location (shared with the container inspect)."""
    for option in reversed(
        [
            click.option(
                "-f",
                "--format",
                "fmt",
                default="json",
                show_default=True,
                metavar="json|TEMPLATE",
                help="JSON, or a Go template run on each result (`{{.Id}}`, `{{.Config.Env}}`,"
                " `{{json .RootFS}}`), as podman and skopeo take it.",
            ),
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
    fmt: str = "json",
) -> None:
    """Show each IMAGE as JSON in podman's `image inspect` shape. An IMAGE written
    TRANSPORT:… (docker://HOST/REPO:TAG, oci:DIR, …) is inspected where it is, as skopeo
    does."""
    from lamina.copy import alltransports
    from lamina.ops import images as ops

    known = {*alltransports.transports(), "docker", "lamina"}
    if not any(name.partition(":")[0] in known for name in images):
        store = store_from(ctx)
        inspect_output.echo_inspected([ops.inspect(store, name) for name in images], fmt)
        return
    if (raw or config) and not is_json(fmt):
        raise click.UsageError("--format cannot be used with --raw or --config")
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
            inspect_output.echo_inspected(result, fmt)


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
    # podman writes these sizes as go-units does: `2.132MB`, no space, layers' right-aligned
    click.echo(f"Size:     {human_size(stored.size, 4).replace(' ', '')}")
    click.echo("Image Layers")
    for i, la in enumerate(layers):
        branch = "└──" if i == len(layers) - 1 else "├──"
        line = f"{branch} ID: {la.id.short} Size: {human_size(la.size, 4).replace(' ', ''):>7}"
        if la.top_of:
            line += f" Top Layer of: [{' '.join(la.top_of)}]"
        click.echo(line)
    click.echo()  # podman ends the tree with an empty line


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
    """Remove dangling images: untagged ones no other image builds on. The intermediate
    images of --layers builds (the build cache) stay unless --build-cache or --all."""
    from lamina.ops.image_list import prune as prune_images

    store = store_from(ctx)
    for image_id in prune_images(store, all=all_, build_cache=build_cache):
        click.echo(image_id)
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
