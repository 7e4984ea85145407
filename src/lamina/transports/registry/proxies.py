"""Which proxy a registry request goes through, from the environment as curl and Go read it.

`HTTPS_PROXY` serves https:// URLs and `HTTP_PROXY` http:// ones (the upper-case name wins,
the lower-case one is read when it is unset); a value without a scheme is an `http://`
proxy. `NO_PROXY` lists the hosts reached directly, comma-separated (`bypasses`):

- `*` alone: every host;
- an address range `127.0.0.0/8`, `fd00::/8`: hosts given as an address inside it;
- an address `10.1.2.3`, `::1` (optionally `[::1]:5000`): that address;
- a name `example.com`: that host and every host under it (`reg.example.com`); names
  match only hosts given by name (nothing is looked up);
- a name with a leading dot (or `*.`) `.example`: only hosts under it, not `example`;
- any entry may end in `:PORT`, then it matches that port only (a URL without a port has
  its scheme's default one).

Unlike Go's resolver (and like curl), loopback hosts are not exempt by themselves: a
registry on 127.0.0.1 goes through the proxy unless `NO_PROXY` names it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from lamina.errors import InvalidInput

DEFAULT_PORTS = {"http": 80, "https": 443}


def proxy_for(scheme: str, host: str, port: int | None, environ: Mapping[str, str]) -> str | None:
    """The proxy URL for a request to `scheme://host:port`, or None to connect directly.
    InvalidInput names the variable when its value is not an http:// or https:// URL."""
    name = f"{scheme.upper()}_PROXY"
    if not environ.get(name):
        name = name.lower()
    proxy = (environ.get(name) or "").strip()
    if not proxy:
        return None
    no_proxy = environ.get("NO_PROXY") or environ.get("no_proxy") or ""
    if bypasses(no_proxy, host, port or DEFAULT_PORTS.get(scheme, 0)):
        return None
    url = proxy if "://" in proxy else f"http://{proxy}"
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        valid = False
    if not valid:
        raise InvalidInput(
            f"{name}={proxy!r}: not the URL of an HTTP proxy",
            hint=f"set {name} to http://[USER:PASSWORD@]HOST:PORT, or unset it",
        )
    return url


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether `NO_PROXY`'s value `no_proxy` sends requests to `host`:`port` directly."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        pattern, wanted_port = _split_port(entry)
        if wanted_port is not None and wanted_port != port:
            continue
        if "/" in pattern:
            try:
                network = ipaddress.ip_network(pattern, strict=False)
            except ValueError:
                continue  # not a range: never matches (as Go and curl skip it)
            if address is not None and address in network:
                return True
            continue
        try:
            if ipaddress.ip_address(pattern) == address:
                return True
            continue  # an address matches only that address
        except ValueError:
            pass
        if address is not None:
            continue  # names match names (nothing is looked up)
        pattern = pattern.removeprefix("*").rstrip(".")
        if pattern.startswith("."):
            if host.endswith(pattern):
                return True
        elif host == pattern or host.endswith("." + pattern):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """`host:port` / `[v6]:port` / `v4:port` into its parts (a bare IPv6 address or range
    keeps its colons)."""
    if entry.startswith("["):
        inner, _, rest = entry[1:].partition("]")
        port = rest.removeprefix(":")
        return inner, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None
