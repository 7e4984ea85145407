"""`copy` (the image form), plus the registry flags the registry commands share (what they
share beyond flags lives in `image_copy`, re-exported here)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lamina.cli.image_copy import ProgressView, copy_image, load_registries, options_for
from lamina.cli.trust_cmd import policy_flags, sign_flags, trust_from

__all__ = ["ProgressView", "copy", "load_registries", "options_for"]

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
    click.option("--src-username", default=None, help="Source user (with --src-password)."),
    click.option("--src-password", default=None, help="Source password."),
    click.option("--dest-username", default=None, help="Destination user (with --dest-password)."),
    click.option("--dest-password", default=None, help="Destination password."),
)


def endpoint_flags(f: F) -> F:
    """Credentials, auth files, cert dirs and TLS for both ends (copy and sync share them).
    skopeo's --src-username/--src-password (and --dest-…) reach the command as its
    `src_creds` (`dest_creds`), USER:PASS."""

    @functools.wraps(f)
    def folded(*args: Any, **kwargs: Any) -> Any:
        for end in ("src", "dest"):
            user = kwargs.pop(f"{end}_username", None)
            password = kwargs.pop(f"{end}_password", None)
            if user is None and password is None:
                continue
            if user is None or password is None:
                raise click.UsageError(f"--{end}-username and --{end}-password go together")
            if kwargs.get(f"{end}_creds"):
                raise click.UsageError(
                    f"--{end}-creds and --{end}-username/--{end}-password cannot be used together"
                )
            kwargs[f"{end}_creds"] = f"{user}:{password}"
        return f(*args, **kwargs)

    g: F = folded  # type: ignore[assignment]
    for option in reversed(_ENDPOINT_FLAGS):
        g = option(g)
    return g


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
def copy(ctx: click.Context, /, source: str, destination: str, **flags: Any) -> None:
    """Copy the image at SOURCE to DESTINATION (any transport to any transport)."""
    from lamina.cli.context import store_from

    # The flags reach copy_image by their parameter names.
    copy_image(
        source,
        destination,
        store=lambda: store_from(ctx),
        trust=lambda: trust_from(ctx),
        **flags,
    )
