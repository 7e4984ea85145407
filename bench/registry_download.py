"""Download throughput of a 300 MB blob: one client, then 4 at once (curl, to /dev/null).
`python -m bench.registry_download [--size-mb N]`."""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ThreadPoolExecutor
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


def fetch(server: Server, repo: str, digest: str, clients: int) -> None:
    url = f"{server.url}/v2/{repo}/blobs/{digest}"
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: curl("-o", "/dev/null", url), range(clients)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/dev/shm") as tmp:
        blob, digest = random_file(Path(tmp), args.size_mb * MB)
        one: dict[str, float] = {}
        four: dict[str, float] = {}
        rss: dict[str, float] = {}
        with servers() as (lamina, dist):
            for server in (lamina, dist):
                url = start_upload(server, "bench/dl")
                curl(
                    "-X", "PUT", "-T", str(blob), "-o", "/dev/null", with_query(url, digest=digest)
                )
                fetch(server, "bench/dl", digest, 1)  # warm the page cache
                one[server.kind] = args.size_mb / timed(
                    partial(fetch, server, "bench/dl", digest, 1)
                )
                seconds = timed(partial(fetch, server, "bench/dl", digest, 4))
                four[server.kind] = 4 * args.size_mb / seconds
                rss[server.kind] = peak_rss_mb(server)
        report(f"download {args.size_mb} MB, 1 client", one, "MB/s")
        report(f"download {args.size_mb} MB, 4 clients (total)", four, "MB/s")
        report("peak RSS", rss, "MB", higher_is_better=False)


if __name__ == "__main__":
    main()
