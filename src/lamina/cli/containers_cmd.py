"""Working containers with buildah's verbs: `from`, `containers`, `rm`, `mount`, `umount`,
`unshare`, `run`, `inspect` (containers, else images) and `commit`. `copy` and `add` live
in `copyin_cmd`, `config` in `config_cmd`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lamina.cli.context import NETWORK_OPTIONS, REGISTRY_OPTIONS, registry_from, store_from
from lamina.cli.images_cmd import location_options
from lamina.cli.output import echo_json, is_json, render_template, table, template_format_option


@click.command(
    "from",
    epilog="Example: lamina from --name web localhost/busybox  (or: lamina from scratch)",
)
@click.argument("image")
@click.option("--name", help="Name of the working container (default: IMAGE-working-container).")
@click.option(
    "--pull",
    type=click.Choice(["never", "missing", "always"]),
    default="missing",
    show_default=True,
    help="Pull the image: never, if missing from the store, or always.",
)
@NETWORK_OPTIONS
@REGISTRY_OPTIONS
@click.option("-q", "--quiet", is_flag=True, help="Accepted for buildah compatibility.")
@click.pass_context
def from_(
    ctx: click.Context,
    image: str,
    name: str | None,
    pull: str,
    network: str | None,
    dns: tuple[str, ...],
    add_hosts: tuple[str, ...],
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    retry: int | None,
    retry_delay: str | None,
    tls_verify: bool | None,
    quiet: bool,
) -> None:
    """Create a working container from IMAGE (or "scratch"); print its name. --network,
    --dns and --add-host are what `lamina run` uses in it unless told otherwise."""
    from lamina.ops.containers import create

    c = create(
        store_from(ctx),
        image,
        name=name,
        pull=pull,
        network=network,
        dns=dns,
        add_hosts=add_hosts,
        registry=registry_from(creds, authfile, cert_dir, tls_verify, retry, retry_delay),
    )
    click.echo(c.name)


@click.command(epilog="Example: lamina containers --format '{{.ContainerName}} {{.ImageName}}'")
@click.option("-q", "--quiet", is_flag=True, help="Print only container IDs.")
@click.option("--no-trunc", "--notruncate", "no_trunc", is_flag=True, help="Show full IDs.")
@click.option("-n", "--noheading", is_flag=True, help="Do not print the heading row.")
@click.option("--json", "json_", is_flag=True, help="Same as --format json (buildah's spelling).")
@click.option(
    "-a",
    "--all",
    "all_",
    is_flag=True,
    help="Every working container (buildah's -a; lamina's store holds only its own).",
)
@template_format_option("CONTAINER ID, BUILDER, IMAGE ID, IMAGE NAME, CONTAINER NAME;")
@click.pass_context
def containers(
    ctx: click.Context,
    quiet: bool,
    no_trunc: bool,
    noheading: bool,
    json_: bool,
    all_: bool,
    fmt: str,
) -> None:
    """List working containers (CONTAINER ID, BUILDER, IMAGE ID, IMAGE NAME, CONTAINER NAME).
    A --format template sees buildah's fields: .ContainerID .Builder .ImageID .ImageName
    .ContainerName."""
    from lamina.gotemplate import Record
    from lamina.ops.containers import listing

    rows = listing(store_from(ctx))
    if json_ or is_json(fmt):
        echo_json(rows)
        return

    def short(i: str) -> str:
        return i if no_trunc else i[:12]

    if quiet:
        for r in rows:
            click.echo(short(r["id"]))
        return
    if fmt == "table":
        body = [
            [short(r["id"]), "*", short(r["imageid"]), r["imagename"], r["containername"]]
            for r in rows
        ]
        heads = ["CONTAINER ID", "BUILDER", "IMAGE ID", "IMAGE NAME", "CONTAINER NAME"]
        click.echo(table(heads, body).partition("\n")[2] if noheading else table(heads, body))
        return
    records = [
        Record(
            ContainerID=short(r["id"]),
            Builder=bool(r["builder"]),
            ImageID=short(r["imageid"]),
            ImageName=r["imagename"],
            ContainerName=r["containername"],
        )
        for r in rows
    ]
    click.echo(render_template(fmt, records, noheading=noheading), nl=False)


@click.command(epilog="Example: lamina rm web  (or: lamina rm --all)")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every working container.")
@click.pass_context
def rm(ctx: click.Context, names: tuple[str, ...], all_: bool) -> None:
    """Remove working containers (unmounting them); print their IDs."""
    from lamina.ops.containers import remove

    if not names and not all_:
        raise click.UsageError("name at least one container, or pass --all")
    for cid in remove(store_from(ctx), names, all=all_):
        click.echo(cid)


@click.command(epilog='Example: root=$(lamina mount web) && cp app "$root/usr/bin/"')
@click.argument("name", required=False)
@click.pass_context
def mount(ctx: click.Context, name: str | None) -> None:
    """Mount NAME's root filesystem and print where (without NAME: list mounted ones).

    As an ordinary user, run it inside `lamina unshare`: the mount lives in that namespace.
    """
    from lamina.ops import containers as ops

    store = store_from(ctx)
    if name is not None:
        click.echo(ops.mount(store, name))
        return
    for row in ops.listing(store):
        info = ops.inspect(store, row["id"])
        if info["MountPoint"]:
            click.echo(f"{row['containername']} {info['MountPoint']}")


@click.command(epilog="Example: lamina umount web  (or: lamina unmount --all)")
@click.argument("names", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Unmount every working container.")
@click.pass_context
def umount(ctx: click.Context, names: tuple[str, ...], all_: bool) -> None:
    """Unmount the root filesystems of working containers (`unmount` is the same command)."""
    from lamina.ops import containers as ops

    if not names and not all_:
        raise click.UsageError("name at least one container, or pass --all")
    if names and all_:
        raise click.UsageError("name containers or pass --all, not both")
    store = store_from(ctx)
    for name in names or [row["id"] for row in ops.listing(store)]:
        ops.umount(store, name)


@click.command(
    context_settings={"allow_interspersed_args": False},
    epilog="Example: lamina unshare sh -c 'cp app \"$(lamina mount web)/usr/bin/\"'",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def unshare(ctx: click.Context, command: tuple[str, ...]) -> int:
    """Run COMMAND (default: your shell) where mounts work and files keep their owners.

    As an ordinary user: a new user and mount namespace, you mapped to root and your
    /etc/subuid and /etc/subgid ranges to the other IDs. As root: COMMAND as is.
    """
    from lamina.ops.containers import unshare as do_unshare

    return do_unshare(command, store_from(ctx).root)


@click.command(
    context_settings={"allow_interspersed_args": False},
    epilog="Example: lamina run --volume /srv:/srv:ro web -- sh -c 'ls /srv'",
)
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option(
    "--isolation",
    type=click.Choice(["oci", "runc", "chroot"]),
    envvar="LAMINA_ISOLATION",
    help="oci (runc) or chroot (default: $LAMINA_ISOLATION, else runc if it works).",
)
@NETWORK_OPTIONS
@click.option("-v", "--volume", "volumes", multiple=True, help="Bind mount SRC:DST[:ro].")
@click.option(
    "--mount",
    "mounts",
    multiple=True,
    help="type=bind,src=S,dst=D[,ro] or type=tmpfs,dst=D[,tmpfs-size=N].",
)
@click.option("-e", "--env", multiple=True, help="Set KEY=VALUE for this command.")
@click.option("-u", "--user", help="USER[:GROUP] to run as (default: the config's).")
@click.option("--workingdir", help="Directory to run in (default: the config's).")
@click.option("--timeout", type=float, help="Kill the command after this many seconds.")
@click.pass_context
def run(
    ctx: click.Context,
    name: str,
    command: tuple[str, ...],
    isolation: str | None,
    network: str | None,
    dns: tuple[str, ...],
    add_hosts: tuple[str, ...],
    volumes: tuple[str, ...],
    mounts: tuple[str, ...],
    env: tuple[str, ...],
    user: str | None,
    workingdir: str | None,
    timeout: float | None,
) -> int:
    """Run COMMAND in working container NAME; its exit code is lamina's.

    Put options before NAME; everything after NAME (or after `--`) is the command.
    Standard input, output and error pass through; Ctrl-C kills the whole process tree.
    """
    from lamina.ops.containers import run as do_run

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise click.UsageError("no command given: lamina run NAME -- CMD...")
    sys.stdout.flush()
    return do_run(
        store_from(ctx),
        name,
        argv,
        isolation=isolation,
        network=network,
        dns=dns,
        add_hosts=add_hosts,
        volumes=volumes,
        mounts=mounts,
        env=env,
        user=user,
        workdir=workingdir,
        stdin=_stdin_fd(),
        timeout=timeout,
    )


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # replaced or closed (e.g. under pytest)
        return None


@click.command(
    epilog="Example: lamina inspect web  (or: lamina inspect --type image busybox)\n\n"
    "Example: lamina inspect --raw docker://127.0.0.1:5000/app:1"
)
@click.argument("names", nargs=-1, required=True)
@click.option(
    "-t",
    "--type",
    "kind",
    type=click.Choice(["auto", "container", "image"]),
    default="auto",
    show_default=True,
    help="What NAME is; auto: a working container if one has that name, else an image.",
)
@location_options
@click.pass_context
def inspect(
    ctx: click.Context,
    names: tuple[str, ...],
    kind: str,
    raw: bool,
    config: bool,
    creds: str | None,
    authfile: str | None,
    tls_verify: bool | None,
    fmt: str,
) -> None:
    """Show each working container (with its pending config) or image, as JSON. A NAME
    written TRANSPORT:… (docker://HOST/REPO:TAG, oci:DIR, …) is inspected where it is."""
    from lamina.cli import images_cmd, inspect_output
    from lamina.ops import containers as cops
    from lamina.ops import images as iops

    remote = raw or config or any(n.partition(":")[0] in _TRANSPORTS for n in names)
    if remote and kind != "container":
        ctx.invoke(
            images_cmd.inspect,
            images=names,
            raw=raw,
            config=config,
            creds=creds,
            authfile=authfile,
            tls_verify=tls_verify,
            fmt=fmt,
        )
        return
    store = store_from(ctx)
    out: list[dict[str, object]] = []
    for name in names:
        if kind == "container" or (kind == "auto" and cops.is_container(store, name)):
            out.append(cops.inspect(store, name))
        else:
            out.append(iops.inspect(store, name))
    inspect_output.echo_inspected(out, fmt)


_TRANSPORTS = frozenset({"docker", "oci", "oci-archive", "docker-archive", "dir", "lamina"})


@click.command(epilog="Example: lamina commit --rm --format docker web localhost/web:1")
@click.argument("name")
@click.argument("image", required=False)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["oci", "docker"]),
    default="oci",
    show_default=True,
    help="Manifest and config format of the image.",
)
@click.option("--squash", is_flag=True, help="Make one layer of the whole filesystem.")
@click.option("--rm", "rm_", is_flag=True, help="Remove the working container afterwards.")
@click.option(
    "--timestamp",
    type=int,
    help="Created time (seconds since the epoch) for the image and file mtimes "
    "(default: $SOURCE_DATE_EPOCH, else now).",
)
@click.option("--iidfile", type=click.Path(dir_okay=False), help="Write the image ID here.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted for buildah compatibility.")
@click.pass_context
def commit(
    ctx: click.Context,
    name: str,
    image: str | None,
    fmt: str,
    squash: bool,
    rm_: bool,
    timestamp: int | None,
    iidfile: str | None,
    quiet: bool,
) -> None:
    """Commit working container NAME to IMAGE (unnamed if omitted); print the image ID."""
    from lamina.ops.containers import commit as do_commit

    stored = do_commit(
        store_from(ctx), name, image, format=fmt, squash=squash, rm=rm_, timestamp=timestamp
    )
    if iidfile:
        Path(iidfile).write_text(f"sha256:{stored.id}")
    click.echo(stored.id)
