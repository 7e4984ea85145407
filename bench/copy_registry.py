"""lamina copy vs skopeo copy, same machine, same run, fresh lamina registries for each tool:
a 5-layer gzip image (1 GB by default) oci: → registry, registry → registry, registry → oci:.
Wall time and the client's peak RSS (from wait4). With `--tls` the registries serve TLS with
a certificate from a CA made for the run, which both clients trust (`--*-cert-dir`).

    python -m bench.copy_registry            # 1 GB, plain HTTP
    python -m bench.copy_registry --tls
    python -m bench.copy_registry --size-mb 100
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from isal import igzip
from tests.server.servers import Server, start_lamina
from tests.transports.registry.servers import make_tls

MB = 1 << 20
LAYERS = 5


def make_layout(root: Path, total: int) -> None:
    """An OCI layout `root` with tag `v1`: LAYERS gzip layers of random bytes."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layers, diff_ids = [], []
    for i in range(LAYERS):
        size = total // LAYERS
        tmp = blobs / f"tmp-{i}"
        with tmp.open("wb") as out:
            packed = _HashingWriter(out)
            gz = igzip.IGzipFile(fileobj=packed, mode="wb", compresslevel=1, mtime=0)  # type: ignore[no-untyped-call]
            plain = _HashingWriter(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(f"layer{i}/data.bin")
                info.size = size
                tar.addfile(info, _RandomReader(size))
            gz.close()
        digest = packed.hash.hexdigest()
        tmp.rename(blobs / digest)
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{digest}",
                "size": (blobs / digest).stat().st_size,
            }
        )
        diff_ids.append(f"sha256:{plain.hash.hexdigest()}")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "config": {},
        }
    ).encode()
    cdig = hashlib.sha256(config).hexdigest()
    (blobs / cdig).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{cdig}",
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    mdig = hashlib.sha256(manifest).hexdigest()
    (blobs / mdig).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{mdig}",
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))


class _HashingWriter(io.RawIOBase):
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.hash.update(b)
        self.inner.write(b)  # type: ignore[attr-defined]
        return len(b)


class _RandomReader(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one command. The RSS is GNU time's `%M`: the
    rusage of a child this process starts directly would count this process's own memory
    too (Linux keeps the peak of the address space a vfork'd child execs from)."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "maxrss-kb %M", *argv],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr[-2000:]}")
    last = proc.stderr.rstrip().rsplit("\n", 1)[-1]
    return elapsed, int(last.removeprefix("maxrss-kb ")) / 1024


def lamina_command() -> str:
    """The console script installed beside this interpreter: a version manager's shim (as
    pyenv's bash `lamina` shim) costs 0.1-0.3 s per run that is not lamina's."""
    beside = Path(sys.executable).with_name("lamina")
    return str(beside) if beside.exists() else "lamina"


def command(tool: str, src: str, dst: str, certs: Path | None) -> list[str]:
    """The copy command of `tool`; with `certs`, registries are trusted through that
    certs.d-style directory, else reached over plain HTTP."""
    if tool == "lamina":
        argv = [lamina_command(), "copy", "--quiet"]
    else:
        argv = ["skopeo", "copy", "--quiet"]
    if certs is None:
        argv += ["--src-tls-verify=false", "--dest-tls-verify=false"]
    else:
        for end, ref in (("src", src), ("dest", dst)):
            if ref.startswith("docker://"):
                argv.append(f"--{end}-cert-dir={certs}")
    return [*argv, src, dst]


TOOLS = ("lamina", "skopeo")


def bench_tool(
    tool: str, layout: Path, work: Path, tls: tuple[Path, Path, Path] | None
) -> dict[str, tuple[float, float]]:
    extra: tuple[str, ...] = ()
    ca = certs = None
    if tls is not None:
        ca, cert, key = tls
        extra = ("--tls-cert", str(cert), "--tls-key", str(key))
        certs = ca.parent / "certs"
    a: Server = start_lamina(work / f"{tool}-a", *extra, ca=ca)
    b: Server = start_lamina(work / f"{tool}-b", *extra, ca=ca)
    try:
        in_a, in_b = f"docker://{a.host}/bench/big:1", f"docker://{b.host}/bench/big:1"
        steps = {
            "oci: -> registry": (f"oci:{layout}:v1", in_a),
            "registry -> registry": (in_a, in_b),
            "registry -> oci:": (in_b, f"oci:{work / (tool + '-out')}:v1"),
        }
        return {name: run(command(tool, s, d, certs)) for name, (s, d) in steps.items()}
    finally:
        a.stop()
        b.stop()


def make_certs(work: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1; the CA also in `certs/ca.crt`."""
    files = make_tls(work / "tls")
    certs = files.ca.parent / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(files.ca.read_bytes())
    return files.ca, files.cert, files.key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="image size (default 1024)")
    parser.add_argument("--tls", action="store_true", help="registries serve TLS")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-copy-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        make_layout(work / "layout", args.size_mb * MB)
        print(f"made a {args.size_mb} MB {LAYERS}-layer image in {time.perf_counter() - t0:.1f}s")
        tls = make_certs(work) if args.tls else None
        results = {tool: bench_tool(tool, work / "layout", work, tls) for tool in TOOLS}
    print(f"\n{args.size_mb} MB in {LAYERS} layers over {'TLS' if args.tls else 'plain HTTP'}")
    head = f"{'lamina s':>10}{'skopeo s':>10}{'ratio':>8}{'lamina RSS':>12}{'skopeo RSS':>12}"
    print(f"\n{'step':<24}{head}")
    for step in results["lamina"]:
        (lt, lr), (st, sr) = results["lamina"][step], results["skopeo"][step]
        print(f"{step:<24}{lt:>10.2f}{st:>10.2f}{lt / st:>8.2f}{lr:>10.0f}MB{sr:>10.0f}MB")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
