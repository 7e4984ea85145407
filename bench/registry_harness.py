"""Shared set-up for the registry benchmarks: lamina and Distribution side by side, curl as
the client (so the client is never the bottleneck), peak RSS from /proc.

With `tls=True` both servers serve HTTPS with the same certificate (IP:127.0.0.1, from a
CA made for the run); `curl` and `pool` trust it through `CA` (curl `--cacert`).
`$LAMINA_SERVER_LOOP` (asyncio or uvloop) reaches lamina's server: compare the loops."""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import urllib3
from tests.server.servers import Server, start_distribution, start_lamina
from tests.transports.registry.servers import make_tls

MB = 1 << 20
CA: Path | None = None  # the run's CA while `servers(tls=True)` runs


def peak_rss_mb(server: Server) -> float:
    """VmHWM of the server process (and of its children, for --workers)."""
    pids = [server.proc.pid]
    children = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peak = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
    return peak / 1024


@contextmanager
def servers(workers: int = 1, tls: bool = False) -> Iterator[list[Server]]:
    global CA
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/var/tmp") as tmp:
        extra: tuple[str, ...] = ("--workers", str(workers)) if workers > 1 else ()
        files = make_tls(Path(tmp) / "tls") if tls else None
        if files is not None:
            extra += ("--tls-cert", str(files.cert), "--tls-key", str(files.key))
            CA = files.ca
        pair = None if files is None else (files.cert, files.key)
        lamina = start_lamina(Path(tmp) / "lamina", *extra, ca=CA)
        dist = start_distribution(Path(tmp) / "distribution", tls=pair, ca=CA)
        try:
            yield [lamina, dist]
        finally:
            lamina.stop()
            dist.stop()
            CA = None


def pool() -> urllib3.PoolManager:
    """A client pool that trusts the run's CA (when TLS is on)."""
    if CA is None:
        return urllib3.PoolManager()
    return urllib3.PoolManager(ssl_context=ssl.create_default_context(cafile=str(CA)))


def transport(tls: bool) -> str:
    return "TLS" if tls else "plain HTTP"


def random_file(directory: Path, size: int) -> tuple[Path, str]:
    path = directory / f"blob-{size}"
    h = hashlib.sha256()
    with path.open("wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(16 * MB, left))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return path, "sha256:" + h.hexdigest()


def curl(*args: str) -> str:
    trust = ("--cacert", str(CA)) if CA is not None else ()
    proc = subprocess.run(
        ["curl", "-sS", "-f", *trust, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def start_upload(server: Server, repo: str) -> str:
    r = pool().request("POST", f"{server.url}/v2/{repo}/blobs/uploads/", redirect=False)
    assert r.status == 202, r.data
    location = str(r.headers["Location"])
    return location if location.startswith("http") else server.url + location


def with_query(url: str, **params: str) -> str:
    import urllib.parse

    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(title: str, results: dict[str, float], unit: str, higher_is_better: bool = True) -> None:
    lamina, dist = results["lamina"], results["distribution"]
    ratio = lamina / dist if higher_is_better else dist / lamina
    print(
        f"{title:<44} lamina {lamina:9.1f} {unit}   distribution {dist:9.1f} {unit}   x{ratio:.2f}"
    )
