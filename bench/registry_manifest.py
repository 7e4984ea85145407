"""Manifest GET requests/s and p99 latency with `wrk -c64 -d8s --latency` (Debian wrk),
lamina vs Distribution.
`python -m bench.registry_manifest [--workers N] [--duration 8s]`."""

from __future__ import annotations

import argparse
import re
import subprocess

import urllib3
from tests.server.client import Client, make_image
from tests.server.servers import Server

from bench.registry_harness import peak_rss_mb, report, servers

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(server: Server, path: str, accept: str, duration: str) -> tuple[float, float]:
    """Requests/s and the p99 latency in ms."""
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{duration}", "--latency", "-H", f"Accept: {accept}",
         server.url + path],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if m is None or p99 is None or re.search(r"Non-2xx", out):
        raise RuntimeError(f"wrk against {server.kind} failed:\n{out}")
    return float(m.group(1)), float(p99.group(1)) * _UNIT_MS[p99.group(2)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", default="8s")
    args = parser.parse_args()
    rps: dict[str, float] = {}
    p99: dict[str, float] = {}
    rss: dict[str, float] = {}
    with servers(args.workers) as (lamina, dist):
        for server in (lamina, dist):
            image = make_image("bench")
            Client(server.url, urllib3.PoolManager()).push_image("bench/m", image, "v1")
            rps[server.kind], p99[server.kind] = wrk(
                server, "/v2/bench/m/manifests/v1", image.media_type, args.duration
            )
            rss[server.kind] = peak_rss_mb(server)
    report(f"manifest GET by tag, wrk -c64 ({args.workers} lamina workers)", rps, "req/s")
    report("  p99 latency", p99, "ms", higher_is_better=False)
    report("peak RSS", rss, "MB", higher_is_better=False)


if __name__ == "__main__":
    main()
