"""Manifest GET requests/s and p99 latency with `wrk -c64 -d8s --latency` (Debian wrk),
lamina vs Distribution, rounds alternating the two; medians, with the load average.
`--tls`: both servers serve HTTPS with the same certificate (wrk's TLS, keep-alive).
`python -m bench.registry_manifest [--tls] [--workers N] [--duration 8s] [--rounds N]`."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess

from tests.server.client import Client, make_image
from tests.server.servers import Server

from bench.registry_harness import peak_rss_mb, pool, report, servers, transport

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


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", default="8s")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="both servers serve HTTPS")
    args = parser.parse_args()
    rps: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    print(f"load average before: {load()}; {transport(args.tls)}")
    with servers(args.workers, args.tls) as (lamina, dist):
        image = make_image("bench")
        for server in (lamina, dist):
            Client(server.url, pool()).push_image("bench/m", image, "v1")
        for r in range(args.rounds):
            for server in (lamina, dist) if r % 2 == 0 else (dist, lamina):
                got = wrk(server, "/v2/bench/m/manifests/v1", image.media_type, args.duration)
                rps.setdefault(server.kind, []).append(got[0])
                p99.setdefault(server.kind, []).append(got[1])
        for server in (lamina, dist):
            rss[server.kind] = peak_rss_mb(server)
    print(f"load average after: {load()}")
    med = {k: statistics.median(v) for k, v in rps.items()}
    what = f"manifest GET by tag, wrk -c64 ({args.workers} lamina workers, {transport(args.tls)})"
    report(what, med, "req/s")
    report("  p99 latency", {k: statistics.median(v) for k, v in p99.items()}, "ms", False)
    report("peak RSS", rss, "MB", higher_is_better=False)
    for name, values in rps.items():
        print(f"  {name:12} " + " ".join(f"{v:8.0f}" for v in values))


if __name__ == "__main__":
    main()
