"""Small registry requests, the work of a sync that finds everything up to date: what the
client spends per manifest request on the lean path against urllib3's (the library it
used before), what `lamina registry` spends serving a manifest HEAD against a GET, and what
a whole up-to-date `lamina sync` costs read without click against through click.

    python -m bench.registry_small              # 500 requests each, 9 sync runs each
    python -m bench.registry_small --requests 2000
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.server.servers import Server, start_lamina
from tests.transports.registry.images import make_image, write_oci_layout

from bench.copy_registry import lamina_command
from lamina.content.blobstore import BlobStore
from lamina.ops.copying import copy
from lamina.transports.registry.lean import LeanPool
from lamina.transports.registry.source import MANIFEST_ACCEPT
from lamina.transports.registry.tls import probe_context

REPO, TAG = "small/app", "1"


def server_cpu(server: Server) -> float:
    """CPU seconds the server process has used (user + system, from /proc)."""
    fields = Path(f"/proc/{server.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request(n: int, send: Callable[[], object]) -> tuple[float, float]:
    """Wall and client-CPU microseconds per call of `send`, over `n` calls."""
    send()  # connection made, imports done
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        send()
    return (
        (time.perf_counter() - wall) / n * 1e6,
        (time.process_time() - cpu) / n * 1e6,
    )


def client_paths(server: Server, n: int) -> None:
    import urllib3

    from lamina.transports.registry.pools import HostPools

    host, port = server.host.split(":")
    target = f"/v2/{REPO}/manifests/{TAG}"
    headers = {"Accept": MANIFEST_ACCEPT, "User-Agent": "lamina-bench"}
    lean = LeanPool("http", server.host, host, int(port), 30.0, probe_context)
    pools = HostPools(probe_context, retries=False, timeout=urllib3.Timeout(30.0))

    def via_lean() -> object:
        return lean.send("GET", target, headers, server.url + target).read()

    def via_urllib3() -> object:
        resp = pools.send("GET", server.url + target, headers, None)
        data = resp.read()
        resp.release_conn()
        return data

    rows = [("lean", *per_request(n, via_lean)), ("urllib3", *per_request(n, via_urllib3))]
    print(f"\nmanifest GET, sequential, {n} requests ({server.kind} registry)")
    print(f"{'client path':<14}{'wall µs':>10}{'client CPU µs':>15}")
    for name, wall, cpu in rows:
        print(f"{name:<14}{wall:>10.0f}{cpu:>15.0f}")
    print(f"client CPU ratio lean / urllib3: {rows[0][2] / rows[1][2]:.2f}")
    lean.close()
    pools.clear()

    print(f"\nserver CPU per manifest request, {n} requests each")
    for method in ("HEAD", "GET"):
        before = server_cpu(server)
        for _ in range(n):
            lean.send(method, target, headers, server.url + target)
        print(f"{method:<6}{(server_cpu(server) - before) / n * 1e6:>8.0f} µs")
    lean.close()


def sync_paths(server: Server, dest: Server, work: Path, runs: int) -> None:
    spec = work / "sync.yaml"
    spec.write_text(f"{server.host}:\n  tls-verify: false\n  images:\n    {REPO}: []\n")
    argv = [lamina_command(), "sync", "-q", "--src", "yaml", "--dest", "docker", str(spec),
            f"{dest.host}/mirror"]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True)  # the first sync copies
    # `--debug` before the command sends the same command line through click.
    timings: dict[str, list[float]] = {"without click": [], "through click": []}
    for _ in range(runs):
        for name, cmd in (
            ("without click", argv),
            ("through click", [argv[0], "--debug", *argv[1:]]),
        ):
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            timings[name].append(time.perf_counter() - start)
    print(f"\nup-to-date `lamina sync` of one image, median of {runs} runs")
    for name, values in timings.items():
        print(f"{name:<16}{statistics.median(values) * 1000:>8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-small-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        server = start_lamina(work / "source")
        dest = start_lamina(work / "dest")
        try:
            img = make_image(BlobStore(work / "blobs"), seed=1, payload=10_000)
            write_oci_layout(img, work / "layout", "v1")
            copy(f"oci:{work / 'layout'}:v1", f"docker://{server.host}/{REPO}:{TAG}", None)
            client_paths(server, args.requests)
            sync_paths(server, dest, work, args.runs)
        finally:
            dest.stop()
            server.stop()
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
