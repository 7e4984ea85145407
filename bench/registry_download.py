"""Download throughput of a 300 MB blob: one client, then 4 at once (curl, to /dev/null),
lamina (`--workers 2`) against Distribution (a Go process using both cores: like for like).
Rounds alternate the two servers; medians are shown with the load average, and the server's
own CPU seconds per round (curl's receive copy bounds the throughput on loopback, so the CPU
figure is the one that shows the server's cost).
`--client splice` uses a client that splices the body to /dev/null (no copy to user space);
`--tls`: both servers serve HTTPS with the same certificate (curl only).
`python -m bench.registry_download [--tls] [--size-mb N] [--rounds N] [--workers N]
[--client C]`."""

from __future__ import annotations

import argparse
import os
import socket
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
    transport,
    with_query,
)


def fetch(server: Server, repo: str, digest: str, clients: int, thin: bool = False) -> None:
    url = f"{server.url}/v2/{repo}/blobs/{digest}"
    get = (
        (lambda _: splice_get(server, f"/v2/{repo}/blobs/{digest}"))
        if thin
        else (lambda _: curl("-o", "/dev/null", url))
    )
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(get, range(clients)))


def splice_get(server: Server, path: str) -> int:
    """A GET whose body the kernel moves from the socket to /dev/null with splice(2), never
    copying it to user space: the thinnest client, so the server's cost shows."""
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096, socket.MSG_PEEK)[len(head) :] or b""
            if not head:
                raise RuntimeError("no answer")
        head = head[: head.index(b"\r\n\r\n") + 4]
        sock.recv(len(head))  # consume exactly the header
        status = head.split(b" ", 2)[1]
        length = int(
            next(
                line.split(b":", 1)[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        if status != b"200":
            raise RuntimeError(f"GET {path}: {head[:200]!r}")
        r, w = os.pipe()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            left = length
            while left:
                n = os.splice(sock.fileno(), w, min(left, 1 << 20))
                if n == 0:
                    raise RuntimeError(f"GET {path}: closed with {left} bytes to go")
                left -= n
                while n:
                    n -= os.splice(r, null, n)
        finally:
            for fd in (r, w, null):
                os.close(fd)
        return length


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
    parser.add_argument("--client", choices=("curl", "splice"), default="curl")
    parser.add_argument("--tls", action="store_true", help="both servers serve HTTPS")
    args = parser.parse_args()
    if args.tls and args.client == "splice":
        parser.error("--client splice reads plain HTTP only")
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/dev/shm") as tmp:
        blob, digest = random_file(Path(tmp), args.size_mb * MB)
        speed: dict[int, dict[str, list[float]]] = {1: {}, 4: {}}
        cpu: dict[int, dict[str, list[float]]] = {1: {}, 4: {}}
        rss: dict[str, float] = {}
        print(f"load average before: {load()}; client: {args.client}; {transport(args.tls)}")
        with servers(args.workers, args.tls) as (lamina, dist):
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
                        fetch(server, "bench/dl", digest, clients, args.client == "splice")
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
