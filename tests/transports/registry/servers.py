"""Real registries for tests: the Distribution registry (plain, htpasswd, TLS) on 127.0.0.1.

Each server listens on a free loopback port and is stopped by its own PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TLSFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
        str(ca), "-days", "2", "-subj", "/CN=lamina test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return TLSFiles(ca=ca, cert=cert, key=key)


class _Server:
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def _log_file(self, name: str) -> IO[bytes]:
        self._log = open(self.root / name, "wb")  # noqa: SIM115
        return self._log

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class Distribution(_Server):
    """`docker-registry serve config.yml` with filesystem storage under `root`."""

    def __init__(
        self,
        root: Path,
        *,
        htpasswd: tuple[str, str] | None = None,
        tls: TLSFiles | None = None,
        token: tuple[str, str, str, Path] | None = None,
    ) -> None:
        """`token` = (realm, service, issuer, root certificate) for Distribution's auth.token."""
        self.root = root
        self.port = free_port()
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        lines = [
            "version: 0.1",
            "log:",
            "  level: error",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {root / 'data'}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: lamina-test-secret",
        ]
        if tls is not None:
            lines += ["  tls:", f"    certificate: {tls.cert}", f"    key: {tls.key}"]
        if htpasswd is not None:
            out = subprocess.run(
                ["htpasswd", "-Bbn", *htpasswd], check=True, capture_output=True, text=True
            ).stdout
            (root / "htpasswd").write_text(out)
            lines += [
                "auth:",
                "  htpasswd:",
                "    realm: lamina-test",
                f"    path: {root / 'htpasswd'}",
            ]
        if token is not None:
            realm, service, issuer, bundle = token
            lines += [
                "auth:",
                "  token:",
                f"    realm: {realm}",
                f"    service: {service}",
                f"    issuer: {issuer}",
                f"    rootcertbundle: {bundle}",
            ]
        (root / "config.yml").write_text("\n".join(lines) + "\n")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Distribution:
        exe = shutil.which("docker-registry")
        assert exe is not None, "docker-registry is not installed (Debian docker-registry)"
        self.proc = subprocess.Popen(
            [exe, "serve", str(self.root / "config.yml")],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file("registry.log"),
        )
        wait_ready(self.host, tls=self.tls is not None, proc=self.proc)
        return self


class LaminaServer(_Server):
    """`python -m lamina.server serve --addr 127.0.0.1:PORT --storage DIR`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> LaminaServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lamina.server",
                "serve",
                "--addr",
                self.host,
                "--storage",
                str(self.root / "storage"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log_file("server.log"),
        )
        wait_ready(self.host, tls=False, proc=self.proc)
        return self


def wait_ready(host: str, *, tls: bool, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    url = f"{'https' if tls else 'http'}://{host}/v2/"
    ctx = ssl._create_unverified_context()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {host} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=ctx if tls else None):
                return
        except urllib.error.HTTPError:
            return  # 401 etc.: it answers
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server for {host} did not answer within {READY_TIMEOUT}s")
