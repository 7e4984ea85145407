"""Shared CLI plumbing: opening the store named by --root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from lamina.store import Store

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
