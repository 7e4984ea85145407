"""Upload throughput: a 300 MB blob by POST + monolithic PUT, by monolithic POST ?digest=
(lamina only: Distribution 2.8 ignores the body), and by 16 MB chunked PATCHes — with curl
(a process per chunk) and with a thin keep-alive client (sendfile of each chunk on one
connection, reconnecting when a server answers `Connection: close`, so the servers' own
cost shows) — then server peak RSS during a 1 GB upload. Rounds alternate lamina and
Distribution; medians are shown, with the load average before and after (other work on the
machine skews single runs). `--tls`: both servers serve HTTPS with the same certificate (the
thin client then sends through an `ssl` socket).
`python -m bench.registry_upload [--tls] [--size-mb N] [--rounds N]`."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import tempfile
from functools import partial
from pathlib import Path

from tests.server.servers import Server

from bench import registry_harness
from bench.registry_harness import (
    MB,
    curl,
    peak_rss_mb,
    random_file,
    report,
    servers,
    start_upload,
    timed,
    transport,
    with_query,
)

CHUNK = 16 * MB


def monolithic(server: Server, repo: str, path: Path, digest: str) -> None:
    url = start_upload(server, repo)
    curl("-X", "PUT", "-T", str(path), "-H", "Content-Type: application/octet-stream",
         with_query(url, digest=digest))  # fmt: skip


def split(path: Path, workdir: Path) -> list[Path]:
    """The chunk files, made once outside the timed part (the client's work is not measured)."""
    parts: list[Path] = []
    with path.open("rb") as f:
        while data := f.read(CHUNK):
            part = workdir / f"part-{len(parts)}"
            part.write_bytes(data)
            parts.append(part)
    return parts


def chunked(server: Server, repo: str, parts: list[Path], digest: str) -> None:
    url = start_upload(server, repo)
    start = 0
    for part in parts:
        size = part.stat().st_size
        headers = curl(
            "-X", "PATCH", "-T", str(part), "-D", "-", "-o", "/dev/null",
            "-H", f"Content-Range: {start}-{start + size - 1}",
            "-H", "Content-Type: application/octet-stream", url,
        )  # fmt: skip
        start += size
        for line in headers.splitlines():
            if line.lower().startswith("location:"):
                loc = line.split(":", 1)[1].strip()
                url = loc if loc.startswith("http") else server.url + loc
    curl("-X", "PUT", "-o", "/dev/null", with_query(url, digest=digest))


class ThinClient:
    """One keep-alive HTTP/1.1 connection that writes request heads itself and sends bodies
    with sendfile(2): the thinnest uploader, so the server's cost shows (curl costs a process
    start, 10-16 ms, per chunk: `time curl -s -o /dev/null <registry>/v2/`). The same
    client measures both servers."""

    def __init__(self, server: Server) -> None:
        self.host = server.host
        self.tls = server.scheme == "https"
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        host, port = self.host.split(":")
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        if self.tls:  # (sendfile on an ssl socket sends what it reads)
            ca = registry_harness.CA
            ctx = ssl.create_default_context(cafile=None if ca is None else str(ca))
            return ctx.wrap_socket(sock, server_hostname=host)
        return sock

    def request(
        self, method: str, path: str, headers: dict[str, str], body: Path | None = None
    ) -> tuple[int, dict[str, str]]:
        if self.sock is None:
            self.sock = self._connect()
        size = body.stat().st_size if body is not None else 0
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {size}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.sock.sendall(head.encode())
        if body is not None:
            with body.open("rb") as f:
                self.sock.sendfile(f)
        status, fields = self._response(self.sock, f"{method} {path}")
        if fields.get("connection", "").lower() == "close":  # as any client: reconnect
            self.close()
        return status, fields

    def _response(self, sock: socket.socket, what: str) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            more = sock.recv(65536)
            if not more:
                raise RuntimeError(f"{what}: connection closed")
            self.buf += more
        raw, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(self.buf) < length:
            more = sock.recv(65536)
            if not more:
                raise RuntimeError(f"{what}: body cut short")
            self.buf += more
        self.buf = self.buf[length:]
        return status, fields

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _path(location: str) -> str:
    return "/" + location.split("://", 1)[1].split("/", 1)[1] if "://" in location else location


def chunked_thin(server: Server, repo: str, parts: list[Path], digest: str) -> None:
    c = ThinClient(server)
    try:
        status, h = c.request("POST", f"/v2/{repo}/blobs/uploads/", {})
        assert status == 202, status
        path, start = _path(h["location"]), 0
        for part in parts:
            size = part.stat().st_size
            status, h = c.request(
                "PATCH",
                path,
                {
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{start}-{start + size - 1}",
                },
                part,
            )
            assert status == 202, (status, h)
            path, start = _path(h["location"]), start + size
        status, h = c.request("PUT", _path(with_query(path, digest=digest)), {})
        assert status == 201, (status, h)
    finally:
        c.close()


def post(server: Server, repo: str, path: Path, digest: str) -> None:
    curl("-X", "POST", "-T", str(path), "-o", "/dev/null",
         "-H", "Content-Type: application/octet-stream",
         with_query(f"{server.url}/v2/{repo}/blobs/uploads", digest=digest))  # fmt: skip


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rss-size-mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tls", action="store_true", help="both servers serve HTTPS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/dev/shm") as tmp:
        work = Path(tmp)
        blob, digest = random_file(work, args.size_mb * MB)
        parts = split(blob, work)
        runs: dict[str, dict[str, list[float]]] = {"mono": {}, "post": {}, "chunk": {}, "thin": {}}
        rss: dict[str, float] = {}
        print(f"load average before: {load()}; {transport(args.tls)}")
        with servers(tls=args.tls) as (lamina, dist):
            for r in range(args.rounds):
                for server in (lamina, dist) if r % 2 == 0 else (dist, lamina):
                    repo = f"bench/r{r}"
                    for kind, fn in (
                        ("mono", partial(monolithic, server, repo + "m", blob, digest)),
                        ("chunk", partial(chunked, server, repo + "c", parts, digest)),
                        ("thin", partial(chunked_thin, server, repo + "t", parts, digest)),
                        ("post", partial(post, server, repo + "p", blob, digest)),
                    ):
                        if kind == "post" and server.kind != "lamina":
                            continue
                        runs[kind].setdefault(server.kind, []).append(args.size_mb / timed(fn))
            print(f"load average after uploads: {load()}")
            big, big_digest = random_file(work, args.rss_size_mb * MB)
            for server in (lamina, dist):
                monolithic(server, "bench/big", big, big_digest)
                rss[server.kind] = peak_rss_mb(server)
        med = {k: {s: statistics.median(v) for s, v in d.items()} for k, d in runs.items()}
        report(
            f"upload {args.size_mb} MB, POST + PUT (median of {args.rounds})", med["mono"], "MB/s"
        )
        report(f"upload {args.size_mb} MB, 16 MB PATCH chunks", med["chunk"], "MB/s")
        report("  the same, thin keep-alive client", med["thin"], "MB/s")
        print(f"upload {args.size_mb} MB, POST ?digest= (lamina)      lamina "
              f"{med['post']['lamina']:9.1f} MB/s")  # fmt: skip
        report(f"peak RSS after {args.rss_size_mb} MB upload", rss, "MB", higher_is_better=False)
        for kind, d in runs.items():
            for name, values in d.items():
                print(f"  {kind:5} {name:12} " + " ".join(f"{v:7.1f}" for v in values))


if __name__ == "__main__":
    main()
