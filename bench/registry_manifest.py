"""Manifest GET requests/s with `wrk -c64 -d8s` (Debian wrk), lamina vs Distribution.
`python -m bench.registry_manifest [--workers N] [--duration 8s]`."""

from __future__ import annotations

import argparse
import re
import subprocess

import urllib3
from tests.server.client import Client, make_image
from tests.server.servers import Server

from bench.registry_harness import peak_rss_mb, report, servers


def wrk(server: Server, path: str, accept: str, duration: str) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c64", f"-d{duration}", "-H", f"Accept: {accept}", server.url + path],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m is None or re.search(r"Non-2xx", out):
        raise RuntimeError(f"wrk against {server.kind} failed:\n{out}")
    return float(m.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", default="8s")
    args = parser.parse_args()
    rps: dict[str, float] = {}
    rss: dict[str, float] = {}
    with servers(args.workers) as (lamina, dist):
        for server in (lamina, dist):
            image = make_image("bench")
            Client(server.url, urllib3.PoolManager()).push_image("bench/m", image, "v1")
            rps[server.kind] = wrk(
                server, "/v2/bench/m/manifests/v1", image.media_type, args.duration
            )
            rss[server.kind] = peak_rss_mb(server)
    report(f"manifest GET by tag, wrk -c64 ({args.workers} lamina workers)", rps, "req/s")
    report("peak RSS", rss, "MB", higher_is_better=False)


if __name__ == "__main__":
    main()
