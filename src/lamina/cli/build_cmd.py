"""`lamina build`: build an image from a Containerfile."""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

import click

from lamina.cli.context import NETWORK_OPTIONS, REGISTRY_OPTIONS, registry_from, store_from


@click.command(
    epilog=(
        "Example: lamina build -f examples/multistage/Containerfile -t localhost/app:1 "
        "--build-arg VERSION=2 examples/multistage"
    )
)
@click.argument("context", default=".", type=click.Path(file_okay=False, exists=True))
@click.option(
    "-f",
    "--file",
    "file",
    help="The Containerfile (default: CONTEXT/Containerfile or Dockerfile; - reads stdin).",
)
@click.option("-t", "--tag", "tags", multiple=True, help="Name the image (repeatable).")
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    help="KEY=VALUE, or KEY from the environment (repeatable).",
)
@click.option(
    "--build-arg-file",
    "build_arg_files",
    multiple=True,
    type=click.Path(),
    help="A file of KEY=VALUE lines.",
)
@click.option("--target", help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not use cached steps.")
@click.option(
    "--layers/--no-layers",
    "layers",
    default=True,
    show_default=True,
    help="Keep an image per step (and use the cache).",
)
@click.option("--squash", is_flag=True, help="Squash the new layers of the target stage into one.")
@click.option("--squash-all", is_flag=True, help="Squash the whole image into one layer.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "docker"]),
    default="oci",
    show_default=True,
    help="Manifest and config format.",
)
@click.option("--secret", "secrets", multiple=True, help="id=X,src=FILE or id=X,env=VAR.")
@click.option("--iidfile", type=click.Path(dir_okay=False), help="Write the image ID here.")
@click.option(
    "-o",
    "--output",
    metavar="type=local|tar|oci,dest=PATH",
    help="Also write the result: the filesystem to a directory (local, or a bare PATH) or "
    "a tar, or the image as an OCI archive (oci).",
)
@click.option(
    "--timestamp",
    type=int,
    help="Created time (seconds since 1970) for reproducible images (default: $SOURCE_DATE_EPOCH).",
)
@click.option("--label", "labels", multiple=True, help="KEY=VALUE label on the image.")
@click.option("--omit-history", is_flag=True, help="Leave the history out of the image config.")
@click.option("--annotation", "annotations", multiple=True, help="KEY=VALUE manifest annotation.")
@click.option(
    "--env",
    "env",
    multiple=True,
    help="KEY=VALUE (or KEY, from the environment) in the image's Env (repeatable).",
)
@click.option("--unsetenv", multiple=True, metavar="KEY", help="Drop KEY from the image's Env.")
@click.option(
    "--ignorefile",
    type=click.Path(dir_okay=False),
    help="Ignore file to use instead of .containerignore/.dockerignore.",
)
@click.option(
    "--rm/--no-rm",
    "rm_",
    default=True,
    help="Accepted for podman compatibility: lamina keeps no intermediate containers.",
)
@click.option(
    "--force-rm",
    is_flag=True,
    help="Accepted for podman compatibility: a failed step's container is always removed.",
)
@click.option(
    "--pull",
    type=click.Choice(["never", "missing", "always"]),
    default="missing",
    show_default=True,
    help="When to pull FROM images.",
)
@click.option("--isolation", type=click.Choice(["oci", "chroot"]), help="How RUN is isolated.")
@REGISTRY_OPTIONS
@NETWORK_OPTIONS
@click.option("--platform", help="OS/ARCH[/VARIANT] to build for (must run on this host).")
@click.option("--os", "os_", help="OS part of --platform (default: the host's).")
@click.option("--arch", help="ARCH part of --platform (default: the host's).")
@click.option("--variant", help="VARIANT part of --platform.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Stages to build in parallel.")
@click.option("--cache-ttl", type=float, help="Ignore cached steps unused for this many seconds.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID (no step output).")
@click.option(
    "--logfile",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the steps, their output and the summary to this file instead.",
)
@click.pass_context
def build(
    ctx: click.Context,
    context: str,
    file: str | None,
    tags: tuple[str, ...],
    build_args: tuple[str, ...],
    build_arg_files: tuple[str, ...],
    target: str | None,
    no_cache: bool,
    layers: bool,
    squash: bool,
    squash_all: bool,
    fmt: str,
    secrets: tuple[str, ...],
    iidfile: str | None,
    output: str | None,
    timestamp: int | None,
    labels: tuple[str, ...],
    omit_history: bool,
    annotations: tuple[str, ...],
    env: tuple[str, ...],
    unsetenv: tuple[str, ...],
    ignorefile: str | None,
    rm_: bool,
    force_rm: bool,
    pull: str,
    isolation: str | None,
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    retry: int | None,
    retry_delay: str | None,
    tls_verify: bool | None,
    network: str | None,
    dns: tuple[str, ...],
    add_hosts: tuple[str, ...],
    platform: str | None,
    os_: str | None,
    arch: str | None,
    variant: str | None,
    jobs: int,
    cache_ttl: float | None,
    quiet: bool,
    logfile: str | None,
) -> None:
    """Build an image from a Containerfile in CONTEXT (default: the current directory).

    Steps and their output go to stdout, whose last line is the full image ID; the summary
    goes to stderr. A failing RUN makes lamina exit with that command's exit code."""
    from lamina.errors import RunFailed
    from lamina.ops.build import BuildOptions, build_image

    if os_ or arch or variant:
        if platform:
            raise click.UsageError("--platform cannot be used with --os, --arch or --variant")
        platform = _platform_from(os_, arch, variant)
    options = BuildOptions(
        file=file,
        tags=list(tags),
        build_args=list(build_args),
        build_arg_files=list(build_arg_files),
        target=target,
        no_cache=no_cache,
        layers=layers,
        squash=squash,
        squash_all=squash_all,
        format=fmt,
        secrets=list(secrets),
        iidfile=iidfile,
        output=output,
        timestamp=timestamp,
        labels=list(labels),
        omit_history=omit_history,
        annotations=list(annotations),
        env=list(env),
        unsetenv=list(unsetenv),
        ignorefile=ignorefile,
        pull=pull,
        isolation=isolation,
        network=network or "private",
        dns=list(dns),
        add_hosts=list(add_hosts),
        platform=platform,
        jobs=jobs,
        cache_ttl=cache_ttl,
    )
    with contextlib.ExitStack() as stack:
        stream: TextIO | None = None if quiet else sys.stdout
        summary: TextIO | None = None if quiet else sys.stderr
        if logfile and not quiet:
            try:
                stream = summary = stack.enter_context(open(logfile, "w", encoding="utf-8"))
            except OSError as exc:
                raise click.BadParameter(
                    f"{logfile}: {exc.strerror}", param_hint="--logfile"
                ) from None
        try:
            result = build_image(
                store_from(ctx),
                context,
                options,
                stream=stream,
                summary_stream=summary,
                registry=registry_from(creds, authfile, cert_dir, tls_verify, retry, retry_delay),
            )
        except RunFailed as err:
            if logfile and not quiet:
                err.hint = f"its output is in {logfile}"
            raise
    click.echo(result.image.id)  # the last line on stdout, as podman's: scripts read it


def _platform_from(os_: str | None, arch: str | None, variant: str | None) -> str:
    """podman's --os/--arch/--variant as one --platform OS/ARCH[/VARIANT], the host's
    OS and architecture filling what is not given."""
    from lamina.platform import Platform

    host = Platform.host()
    text = f"{os_ or host.os}/{arch or host.architecture}"
    return f"{text}/{variant}" if variant else text
