"""Live registries for tests: lamina's own (a subprocess) and the Distribution registry.

Each listens on 127.0.0.1 with a free port, is awaited until `/v2/` answers, and is stopped
by its own PID.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

LAMINA = "lamina"
DISTRIBUTION = "distribution"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(kw_only=True)
class Server:
    kind: str
    host: str
    proc: subprocess.Popen[bytes]
    storage: Path
    log: Path
    scheme: str = "http"
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def wait_ready(server: Server, timeout: float = 20.0, ca: Path | None = None) -> None:
    kw: dict[str, object] = {}
    if ca is not None:
        kw["ssl_context"] = ssl.create_default_context(cafile=str(ca))
    pool = urllib3.PoolManager(retries=False, timeout=2.0, **kw)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.kind} exited early: {server.log.read_text()[-3000:]}")
        try:
            r = pool.request("GET", f"{server.url}/v2/")
            if r.status in (200, 401):
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.kind} did not answer: {server.log.read_text()[-3000:]}")


def start_lamina(
    storage: Path, *extra: str, port: int | None = None, ca: Path | None = None
) -> Server:
    port = port or free_port()
    log = storage.parent / f"{storage.name}.log"
    args = [
        sys.executable,
        "-m",
        "lamina.server",
        "serve",
        "--storage",
        str(storage),
        "--addr",
        f"127.0.0.1:{port}",
        *extra,
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = Server(
        kind=LAMINA,
        host=f"127.0.0.1:{port}",
        proc=proc,
        storage=storage,
        log=log,
        scheme="https" if "--tls-cert" in extra else "http",
        args=args,
    )
    wait_ready(server, ca=ca)
    return server


def restart(server: Server) -> Server:
    """Start the same lamina server again (same port and storage) after it stopped."""
    with server.log.open("ab") as out:
        proc = subprocess.Popen(server.args, stdout=out, stderr=subprocess.STDOUT)
    again = Server(
        kind=server.kind,
        host=server.host,
        proc=proc,
        storage=server.storage,
        log=server.log,
        scheme=server.scheme,
        args=server.args,
    )
    wait_ready(again)
    return again


def start_distribution(
    storage: Path, *, tls: tuple[Path, Path] | None = None, ca: Path | None = None
) -> Server:
    """Distribution's registry; with `tls` (certificate, key) it serves HTTPS, trusted
    through `ca` while waiting for it."""
    port = free_port()
    storage.mkdir(parents=True, exist_ok=True)
    config = storage.parent / f"{storage.name}.yml"
    tls_lines = "" if tls is None else f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + tls_lines
    )
    log = storage.parent / f"{storage.name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(
        kind=DISTRIBUTION,
        host=f"127.0.0.1:{port}",
        proc=proc,
        storage=storage,
        log=log,
        scheme="http" if tls is None else "https",
    )
    wait_ready(server, ca=ca)
    return server
