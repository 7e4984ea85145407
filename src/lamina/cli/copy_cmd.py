"""`copy`, plus what the registry commands share: progress display and registry flags."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lamina.cli.trust_cmd import policy_flags, sign_flags, trust_from

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressEvent
    from lamina.transports.registries_conf import RegistriesConfig
    from lamina.transports.registry import RegistryOptions

F = TypeVar("F", bound=Callable[..., Any])


def tls_option(name: str, what: str) -> Callable[[F], F]:
    """`--NAME` / `--NAME=false` as skopeo spells it (a bare flag means true)."""
    return click.option(
        f"--{name}",
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=None,
        help=f"Require HTTPS and verify certificates {what} (default true; "
        "loopback registries may use plain HTTP).",
    )


def registries_conf_option(f: F) -> F:
    return click.option(
        "--registries-conf",
        type=click.Path(dir_okay=False),
        default=None,
        help="Use this registries.conf (default: $CONTAINERS_REGISTRIES_CONF, "
        "~/.config/containers/registries.conf or /etc/containers/registries.conf).",
    )(f)


_ENDPOINT_FLAGS: tuple[Callable[[Any], Any], ...] = (
    click.option("--src-creds", default=None, metavar="USER[:PASS]", help="Source credentials."),
    click.option(
        "--dest-creds", default=None, metavar="USER[:PASS]", help="Destination credentials."
    ),
    click.option("--authfile", default=None, help="Auth file for both ends."),
    click.option("--src-authfile", default=None, help="Auth file for the source."),
    click.option("--dest-authfile", default=None, help="Auth file for the destination."),
    click.option("--src-cert-dir", default=None, help="certs.d-style directory for the source."),
    click.option(
        "--dest-cert-dir", default=None, help="certs.d-style directory for the destination."
    ),
    tls_option("src-tls-verify", "for the source"),
    tls_option("dest-tls-verify", "for the destination"),
)


def endpoint_flags(f: F) -> F:
    """Credentials, auth files, cert dirs and TLS for both ends (copy and sync share them)."""
    for option in reversed(_ENDPOINT_FLAGS):
        f = option(f)
    return f


def load_registries(path: str | None) -> RegistriesConfig:
    from lamina.transports.registries_conf import RegistriesConfig

    return RegistriesConfig.load(path)


class ProgressView:
    """Shows copy events on stderr: a rich bar per blob on a terminal, plain lines
    otherwise, nothing with `quiet`. Use as a context manager; call it with events."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.rich = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> ProgressView:
        if self.rich:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False)
        else:
            click.echo(text, err=True)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        from lamina import media_types as mt
        from lamina.cli.output import human_size
        from lamina.copy import (
            BlobDone,
            BlobProgress,
            BlobSkipped,
            BlobStarted,
            CopyDone,
            ManifestWritten,
        )

        if isinstance(event, BlobStarted):
            kind = "config" if event.media_type in mt.CONFIG_TYPES else "blob"
            label = f"Copying {kind} {event.digest.hex[:12]}"
            if self._progress is not None:
                self._tasks[str(event.digest)] = self._progress.add_task(label, total=event.size)
            else:
                self._line(f"{label} ({human_size(event.size)})")
        elif isinstance(event, BlobProgress) and self._progress is not None:
            task = self._tasks.get(str(event.digest))
            if task is not None:
                self._progress.update(task, completed=event.done)
        elif isinstance(event, BlobDone) and self._progress is not None:
            task = self._tasks.get(str(event.digest))
            if task is not None:
                self._progress.update(task, completed=event.size)
        elif isinstance(event, BlobSkipped):
            why = "already exists" if event.reason == "exists" else "foreign layer"
            self._line(f"Copying blob {event.digest.hex[:12]} skipped: {why}")
        elif isinstance(event, ManifestWritten) and not event.instance:
            self._line("Writing manifest to image destination")
        elif isinstance(event, CopyDone):
            self._line(f"Copied to {event.destination} ({event.digest})")


def options_for(
    creds: str | None,
    authfile: str | None,
    tls_verify: bool | None,
    cert_dir: str | None = None,
    retry_times: int | None = None,
) -> RegistryOptions:
    from lamina.ops.locations import registry_options

    return registry_options(
        creds=creds,
        authfile=authfile,
        tls_verify=tls_verify,
        cert_dir=cert_dir,
        retry_times=retry_times,
    )


@click.command(
    epilog="Example: lamina copy oci:./layout:1.0 docker://127.0.0.1:5000/app:1.0\n\n"
    "Transports: lamina:NAME, docker://HOST/REPO:TAG, oci:DIR[:REF], "
    "oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG], dir:DIR"
)
@click.argument("source")
@click.argument("destination")
@click.option("-a", "--all", "all_", is_flag=True, help="Copy every image of an index.")
@click.option(
    "--multi-arch",
    type=click.Choice(["system", "all", "index-only"]),
    default=None,
    help="For an index: the host's image (system), all images, or the index alone.",
)
@click.option("--platform", default=None, help="For an index: copy the image for OS/ARCH.")
@click.option("--preserve-digests", is_flag=True, help="Fail rather than change any digest.")
@click.option(
    "-f",
    "--format",
    "manifest_format",
    type=click.Choice(["oci", "v2s2"]),
    default=None,
    help="Manifest type to write (default: the source's).",
)
@click.option(
    "--dest-compress-format",
    type=click.Choice(["gzip", "zstd"]),
    default=None,
    help="Recompress layers (changes layer digests).",
)
@click.option("--remove-signatures", is_flag=True, help="Do not copy signatures.")
@endpoint_flags
@click.option("--retry-times", type=int, default=0, help="Retry a failed copy this many times.")
@click.option("--digestfile", default=None, help="Write the manifest digest to this file.")
@registries_conf_option
@policy_flags
@sign_flags
@click.option("-q", "--quiet", is_flag=True, help="Print nothing while copying.")
@click.pass_context
def copy(
    ctx: click.Context,
    source: str,
    destination: str,
    all_: bool,
    multi_arch: str | None,
    platform: str | None,
    preserve_digests: bool,
    manifest_format: str | None,
    dest_compress_format: str | None,
    remove_signatures: bool,
    src_creds: str | None,
    dest_creds: str | None,
    authfile: str | None,
    src_authfile: str | None,
    dest_authfile: str | None,
    src_cert_dir: str | None,
    dest_cert_dir: str | None,
    src_tls_verify: bool | None,
    dest_tls_verify: bool | None,
    retry_times: int,
    digestfile: str | None,
    registries_conf: str | None,
    quiet: bool,
) -> None:
    """Copy the image at SOURCE to DESTINATION (any transport to any transport)."""
    from lamina.cli.context import store_from
    from lamina.copy.parallel import CopyOptions
    from lamina.ops.copying import CopyRequest
    from lamina.ops.copying import copy as copy_op
    from lamina.platform import Platform

    mode = "all" if all_ else (multi_arch or "system")
    request = CopyRequest(
        src_options=options_for(src_creds, src_authfile or authfile, src_tls_verify, src_cert_dir),
        dst_options=options_for(
            dest_creds, dest_authfile or authfile, dest_tls_verify, dest_cert_dir
        ),
        copy=CopyOptions(
            multi_arch=mode,
            platform=Platform.parse(platform) if platform else None,
            preserve_digests=preserve_digests,
            manifest_format=manifest_format,
            compression=dest_compress_format,
            remove_signatures=remove_signatures,
        ),
        retry_times=retry_times,
        registries=load_registries(registries_conf),
        trust=trust_from(ctx),
    )
    with ProgressView(quiet) as view:
        shown = None if quiet else view
        digest = copy_op(source, destination, lambda: store_from(ctx), request, shown)
    if digestfile:
        with open(digestfile, "w", encoding="utf-8") as f:
            f.write(str(digest))
