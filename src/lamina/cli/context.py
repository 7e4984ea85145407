"""Shared CLI plumbing: opening the store named by --root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from lamina.store import Store
    from lamina.transports.registry.options import RegistryOptions

_F = TypeVar("_F", bound=Callable[..., Any])


def store_from(ctx: click.Context) -> Store:
    from lamina.store import Store

    root = ctx.find_root().obj.get("root") if ctx.find_root().obj else None
    return Store.open(Path(root) if root else None)


def NETWORK_OPTIONS(fn: _F) -> _F:  # noqa: N802 - used as a decorator
    """podman's --network, --dns and --add-host on a command."""
    fn = click.option(
        "--add-host",
        "add_hosts",
        multiple=True,
        metavar="NAME:IP",
        help="Add NAME:IP to /etc/hosts (IP host-gateway: the host).",
    )(fn)
    fn = click.option(
        "--dns", "dns", multiple=True, metavar="IP", help="A nameserver for /etc/resolv.conf."
    )(fn)
    return click.option(
        "--network",
        metavar="MODE",
        help="private (default; also slirp4netns): own namespace, outbound access through "
        "slirp4netns, the host's loopback out of reach unless "
        "slirp4netns:allow_host_loopback=true; host: the host's network; none: only loopback.",
    )(fn)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format; json is stable for scripts.",
)


def REGISTRY_OPTIONS(fn: _F) -> _F:  # noqa: N802 - used as a decorator
    """podman's --creds, --authfile, --cert-dir and --tls-verify for the images a command
    pulls (a build's FROM, `from`); `registry_from` turns them into RegistryOptions."""
    fn = click.option(
        "--tls-verify",
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=None,
        help="Require HTTPS and verified certificates when pulling (default true; loopback "
        "registries may use plain HTTP).",
    )(fn)
    fn = click.option(
        "--retry-delay",
        default=None,
        metavar="DURATION",
        help="First wait between pull retries (e.g. 2s, 500ms; doubles each time).",
    )(fn)
    fn = click.option(
        "--retry",
        type=click.IntRange(min=0),
        default=None,
        help="Retry a failing registry request this many times (default 3).",
    )(fn)
    fn = click.option(
        "--cert-dir", default=None, metavar="DIR", help="certs.d-style directory for the registry."
    )(fn)
    fn = click.option(
        "--authfile", default=None, metavar="FILE", help="Auth file to read when pulling."
    )(fn)
    return click.option(
        "--creds", default=None, metavar="USER[:PASS]", help="Registry credentials for pulls."
    )(fn)


def registry_from(
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
    retry: int | None = None,
    retry_delay: str | None = None,
) -> RegistryOptions | None:
    """RegistryOptions for REGISTRY_OPTIONS' flags; None when none was given."""
    given = (creds, authfile, cert_dir, tls_verify, retry, retry_delay)
    if all(v is None for v in given):
        return None
    from dataclasses import replace

    from lamina.ops.locations import registry_options

    opts = registry_options(
        creds=creds, authfile=authfile, tls_verify=tls_verify, cert_dir=cert_dir, retry_times=retry
    )
    if retry_delay is not None:
        opts = replace(opts, retry_delay=_seconds(retry_delay))
    return opts


def _seconds(text: str) -> float:
    """A duration as podman takes it (500ms, 2s, 1m; a bare number: seconds), read by the
    one duration reader the registry config uses too."""
    from lamina.errors import InvalidInput
    from lamina.server.config import parse_duration

    try:
        return parse_duration(text, "--retry-delay")
    except InvalidInput:
        raise click.BadParameter(f"{text!r}: expected a duration such as 2s or 500ms") from None
