"""Download throughput of a 300 MB blob: one client, then 4 at once (curl, to /dev/null),
lamina (`--workers 2`) against Distribution (a Go process using both cores: like for like).
Rounds alternate the two servers; medians are shown with the load average, and the server's
own CPU seconds per round (curl's receive copy bounds the throughput on loopback, so the CPU
figure is the one that shows the server's cost).
`python -m bench.registry_download [--size-mb N] [--rounds N] [--workers N]`."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.server.servers import Server

from bench.registry_harness import (
    MB,
    curl,
    peak_rss_mb,
    random_file,
    report,
    servers,
    start_upload,
    with_query,
)


def fetch(server: Server, repo: str, digest: str, clients: int) -> None:
    url = f"{server.url}/v2/{repo}/blobs/{digest}"
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: curl("-o", "/dev/null", url), range(clients)))


def cpu_seconds(server: Server) -> float:
    """User + system CPU of the server process and its worker processes so far."""
    pid = server.proc.pid
    pids = [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]
    total = 0.0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/dev/shm") as tmp:
        blob, digest = random_file(Path(tmp), args.size_mb * MB)
        speed: dict[int, dict[str, list[float]]] = {1: {}, 4: {}}
        cpu: dict[int, dict[str, list[float]]] = {1: {}, 4: {}}
        rss: dict[str, float] = {}
        print(f"load average before: {load()}")
        with servers(args.workers) as (lamina, dist):
            for server in (lamina, dist):
                url = start_upload(server, "bench/dl")
                curl(
                    "-X", "PUT", "-T", str(blob), "-o", "/dev/null", with_query(url, digest=digest)
                )  # fmt: skip
                fetch(server, "bench/dl", digest, 1)  # warm the page cache
            for r in range(args.rounds):
                for server in (lamina, dist) if r % 2 == 0 else (dist, lamina):
                    for clients in (1, 4):
                        before, start = cpu_seconds(server), time.perf_counter()
                        fetch(server, "bench/dl", digest, clients)
                        seconds = time.perf_counter() - start
                        speed[clients].setdefault(server.kind, []).append(
                            clients * args.size_mb / seconds
                        )
                        cpu[clients].setdefault(server.kind, []).append(
                            1000 * (cpu_seconds(server) - before)
                        )
            for server in (lamina, dist):
                rss[server.kind] = peak_rss_mb(server)
        print(f"load average after: {load()}")
        for clients in (1, 4):
            med = {k: statistics.median(v) for k, v in speed[clients].items()}
            what = "1 client" if clients == 1 else f"{clients} clients (total)"
            report(f"download {args.size_mb} MB, {what}", med, "MB/s")
            med = {k: statistics.median(v) for k, v in cpu[clients].items()}
            report(f"  server CPU, {what}", med, "ms", higher_is_better=False)
        report("peak RSS", rss, "MB", higher_is_better=False)
        for clients in (1, 4):
            for name, values in speed[clients].items():
                print(f"  {clients} {name:12} " + " ".join(f"{v:7.0f}" for v in values))


if __name__ == "__main__":
    main()
