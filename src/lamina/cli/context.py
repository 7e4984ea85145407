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
        "--cert-dir", default=None, metavar="DIR", help="certs.d-style directory for the registry."
    )(fn)
    fn = click.option(
        "--authfile", default=None, metavar="FILE", help="Auth file to read when pulling."
    )(fn)
    return click.option(
        "--creds", default=None, metavar="USER[:PASS]", help="Registry credentials for pulls."
    )(fn)


def registry_from(
    creds: str | None, authfile: str | None, cert_dir: str | None, tls_verify: bool | None
) -> RegistryOptions | None:
    """RegistryOptions for REGISTRY_OPTIONS' flags; None when none was given."""
    if creds is None and authfile is None and cert_dir is None and tls_verify is None:
        return None
    from lamina.ops.locations import registry_options

    return registry_options(
        creds=creds, authfile=authfile, tls_verify=tls_verify, cert_dir=cert_dir
    )
