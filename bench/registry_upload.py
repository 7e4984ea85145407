"""Upload throughput: a 300 MB blob by POST + monolithic PUT and by 16 MB chunked PATCHes,
then server peak RSS during a 1 GB upload. `python -m bench.registry_upload [--size-mb N]`."""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
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
    timed,
    with_query,
)

CHUNK = 16 * MB


def monolithic(server: Server, repo: str, path: Path, digest: str) -> None:
    url = start_upload(server, repo)
    curl("-X", "PUT", "-T", str(path), "-H", "Content-Type: application/octet-stream",
         with_query(url, digest=digest))  # fmt: skip


def chunked(server: Server, repo: str, path: Path, digest: str, workdir: Path) -> None:
    url = start_upload(server, repo)
    size = path.stat().st_size
    with path.open("rb") as f:
        for start in range(0, size, CHUNK):
            part = workdir / "part"
            data = f.read(CHUNK)
            part.write_bytes(data)
            headers = curl(
                "-X", "PATCH", "-T", str(part), "-D", "-", "-o", "/dev/null",
                "-H", f"Content-Range: {start}-{start + len(data) - 1}",
                "-H", "Content-Type: application/octet-stream", url,
            )  # fmt: skip
            for line in headers.splitlines():
                if line.lower().startswith("location:"):
                    loc = line.split(":", 1)[1].strip()
                    url = loc if loc.startswith("http") else server.url + loc
    curl("-X", "PUT", "-o", "/dev/null", with_query(url, digest=digest))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rss-size-mb", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        blob, digest = random_file(work, args.size_mb * MB)
        mono: dict[str, float] = {}
        chunk: dict[str, float] = {}
        rss: dict[str, float] = {}
        with servers() as (lamina, dist):
            for server in (lamina, dist):
                seconds = timed(partial(monolithic, server, "bench/mono", blob, digest))
                mono[server.kind] = args.size_mb / seconds
                seconds = timed(partial(chunked, server, "bench/chunked", blob, digest, work))
                chunk[server.kind] = args.size_mb / seconds
            big, big_digest = random_file(work, args.rss_size_mb * MB)
            for server in (lamina, dist):
                monolithic(server, "bench/big", big, big_digest)
                rss[server.kind] = peak_rss_mb(server)
        report(f"upload {args.size_mb} MB, POST + PUT", mono, "MB/s")
        report(f"upload {args.size_mb} MB, 16 MB PATCH chunks", chunk, "MB/s")
        report(f"peak RSS after {args.rss_size_mb} MB upload", rss, "MB", higher_is_better=False)


if __name__ == "__main__":
    main()
