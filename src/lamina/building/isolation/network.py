"""Networks for a run, as podman names them: "private" (a network namespace of its own with
outbound access through slirp4netns, `lamina.building.isolation.slirp`; podman's
"slirp4netns[:OPTIONS]" too), "host" (the host's), "none" (a namespace with only `lo`):
parsing `--network`, `--dns` and `--add-host`, and the /etc/hosts and /etc/resolv.conf a
run sees.

On a private network the command has `tap0` (10.0.2.100/24), a default route through the
gateway 10.0.2.2 and a DNS forwarder at 10.0.2.3. As podman 4, the host's loopback is out of
reach unless the network is `slirp4netns:allow_host_loopback=true`: then 10.0.2.2 is the
host's 127.0.0.1, and /etc/hosts names it host.containers.internal.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.building.isolation.spec import Network
from lamina.errors import InvalidInput

SLIRP = "slirp4netns"  # podman's name for "private", the one that takes options
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
ADDRESS = "10.0.2.100"
_KINDS: dict[str, Network] = {
    "private": "private",
    "default": "private",
    SLIRP: "private",
    "host": "host",
    "none": "none",
}
_USAGE = "use none, host or private (slirp4netns[:allow_host_loopback=true|false])"


@dataclass(frozen=True, slots=True)
class NetworkMode:
    """A parsed `--network`: its kind and, on a private network, whether the gateway
    reaches the host's loopback (podman's `slirp4netns:allow_host_loopback=true`)."""

    kind: Network
    host_loopback: bool = False


def check_network(value: str, what: str = "--network") -> NetworkMode:
    """`value` as a NetworkMode: none, host, private ("default" and "slirp4netns" too), or
    "slirp4netns:OPTS" with OPTS comma-separated `allow_host_loopback=true|false` (the last
    wins, as podman); InvalidInput naming `what` and the value otherwise."""
    name, colon, opts = value.partition(":")
    if name in _KINDS and not colon:
        return NetworkMode(_KINDS[name])
    if name != SLIRP:
        raise InvalidInput(f"{what} {value!r}: {_USAGE}")
    loopback = False
    for opt in opts.split(","):
        if opt not in ("allow_host_loopback=true", "allow_host_loopback=false"):
            raise InvalidInput(
                f"{what} {value!r}: unknown option {opt!r} "
                "(slirp4netns takes allow_host_loopback=true|false)"
            )
        loopback = opt.endswith("=true")
    return NetworkMode("private", host_loopback=loopback)


def check_all(network: str, dns: Sequence[str], add_hosts: Sequence[str]) -> NetworkMode:
    """`--network`, `--dns` and `--add-host` checked together (InvalidInput if bad)."""
    net = check_network(network)
    check_dns(dns, net.kind)
    check_add_hosts(add_hosts, net)
    return net


def step_network(flag: str | None, default: str, where: object) -> str:
    """A RUN step's network: its `--network=` flag, else ("default" too) the build's;
    checked (InvalidInput naming `where`), returned as spelled."""
    if flag is None or flag == "default":
        check_network(default)
        return default
    check_network(flag, f"{where}: RUN --network")
    return flag


def check_dns(servers: Sequence[str], network: Network) -> tuple[str, ...]:
    """`--dns` values: IP addresses; refused with network "none" (no server is reachable)."""
    out = []
    for s in servers:
        try:
            out.append(str(ipaddress.ip_address(s.strip())))
        except ValueError:
            raise InvalidInput(f"--dns {s!r}: not an IP address") from None
    if out and network == "none":
        raise InvalidInput("--dns with --network none: no server would be reachable")
    return tuple(out)


def check_add_hosts(entries: Sequence[str], network: NetworkMode) -> tuple[tuple[str, str], ...]:
    """`--add-host NAME:IP` (or NAME=IP) pairs; IP "host-gateway" is the host as the
    container reaches it (10.0.2.2 on a private network that allows the host's loopback,
    127.0.0.1 on the host's); InvalidInput where the host is not reachable."""
    out = []
    for e in entries:
        sep = "=" if "=" in e else ":"
        name, found, ip = e.partition(sep)
        name, ip = name.strip(), ip.strip()
        if not found or not name or not ip or any(c.isspace() for c in name):
            raise InvalidInput(f"--add-host {e!r}: expected NAME:IP")
        if ip == "host-gateway":
            ip = _host_address(network) or ""
            if not ip:
                raise InvalidInput(
                    f"--add-host {e!r}: the host is not reachable on this network "
                    "(use --network slirp4netns:allow_host_loopback=true or host)"
                )
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            raise InvalidInput(f"--add-host {e!r}: {ip!r} is not an IP address") from None
        out.append((name, ip))
    return tuple(out)


def _host_address(network: NetworkMode) -> str | None:
    """The address the host answers on from `network`, if it is reachable at all."""
    if network.kind == "host":
        return "127.0.0.1"
    if network.kind == "private" and network.host_loopback:
        return GATEWAY
    return None


def hosts_text(
    hostname: str,
    network: NetworkMode = NetworkMode("none"),
    add_hosts: Sequence[tuple[str, str]] = (),
) -> str:
    """/etc/hosts as podman writes it: localhost, the added hosts, the container's own
    name (its slirp4netns address on a private network) and, there, the host's as
    host.containers.internal when the host is reachable (allow_host_loopback)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{ip}\t{name}" for name, ip in add_hosts]
    if network.kind == "private":
        lines.append(f"{ADDRESS}\t{hostname}")
        if network.host_loopback:
            lines.append(f"{GATEWAY}\thost.containers.internal host.docker.internal")
    else:
        lines.append(f"127.0.1.1\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_text(host_text: str, network: Network = "none", dns: Sequence[str] = ()) -> str:
    """/etc/resolv.conf from the host's: `dns` servers if given, else on a private network
    the slirp4netns forwarder first and the host's servers that are not loopback addresses
    (unreachable from the namespace), else the host's as they are. search/options kept."""
    if not dns and network != "private":
        return host_text
    keep = [line for line in host_text.splitlines() if not line.strip().startswith("nameserver")]
    servers = list(dns)
    if not servers:
        servers = [DNS]
        for line in host_text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                with contextlib.suppress(ValueError):
                    if not ipaddress.ip_address(parts[1].partition("%")[0]).is_loopback:
                        servers.append(parts[1])
    body = [line for line in keep if line.strip()] + [f"nameserver {s}" for s in servers]
    return "\n".join(body) + "\n"
