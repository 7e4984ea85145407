"""lamina sync vs skopeo sync, same machine, same run: N small repositories with 2 tags each
(25 by default: 50 images) from one local lamina registry to another (a fresh one per tool),
then no-op re-syncs of each (everything up to date; the median of --again N, 3 by default).
Wall time and the client's peak RSS. With `--tls` both registries serve TLS with a
certificate from a CA made for the run, which both clients trust (`cert-dir`).

    python -m bench.sync_registry            # 25 repositories x 2 tags, plain HTTP
    python -m bench.sync_registry --tls
    python -m bench.sync_registry --repos 10
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from tests.server.servers import Server, start_lamina
from tests.transports.registry.images import make_image, write_oci_layout

from bench.copy_registry import lamina_command, make_certs, run
from lamina.content.blobstore import BlobStore
from lamina.ops.copying import CopyRequest, copy
from lamina.transports.registry import RegistryOptions

TAGS = ("1.0", "2.0")


def seed(host: str, repos: int, work: Path, certs: Path | None) -> None:
    options = RegistryOptions(cert_dir=str(certs) if certs else None)
    blobs = BlobStore(work / "seed-blobs")
    for r in range(repos):
        for t, tag in enumerate(TAGS):
            img = make_image(blobs, seed=r * 10 + t, payload=200_000)
            layout = work / "seed" / f"r{r}-{tag}"
            write_oci_layout(img, layout, "v1")
            target = f"docker://{host}/src/repo{r}:{tag}"
            copy(f"oci:{layout}:v1", target, None, CopyRequest(dst_options=options))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=25, help="repositories (default 25)")
    parser.add_argument("--tls", action="store_true", help="registries serve TLS")
    parser.add_argument(
        "--again", type=int, default=3, help="incremental runs; the median is shown (default 3)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-sync-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        extra: tuple[str, ...] = ()
        ca = certs = None
        if args.tls:
            ca, cert, key = make_certs(work)
            extra = ("--tls-cert", str(cert), "--tls-key", str(key))
            certs = ca.parent / "certs"
        source: Server = start_lamina(work / "source", *extra, ca=ca)
        try:
            seed(source.host, args.repos, work, certs)
            spec = work / "sync.yaml"
            trust = f"  cert-dir: {certs}" if certs else "  tls-verify: false"
            lines = [f"{source.host}:", trust, "  images:"]
            lines += [f"    src/repo{r}: []" for r in range(args.repos)]
            spec.write_text("\n".join(lines) + "\n")
            results: dict[str, list[tuple[float, float]]] = {}
            for tool in ("lamina", "skopeo"):
                dest = start_lamina(work / f"dest-{tool}", *extra, ca=ca)
                try:
                    argv = _argv(tool, spec, f"{dest.host}/mirror", certs)
                    first = run(argv)
                    again = [run(argv) for _ in range(args.again)]
                    second = (
                        statistics.median(t for t, _ in again),
                        max(rss for _, rss in again),
                    )
                    results[tool] = [first, second]
                finally:
                    dest.stop()
        finally:
            source.stop()
    images = args.repos * len(TAGS)
    over = "TLS" if args.tls else "plain HTTP"
    print(f"\nsync {images} images ({args.repos} repositories x {len(TAGS)} tags) over {over}")
    rss = f"{'lamina RSS':>12}{'skopeo RSS':>12}"
    print(f"{'run':<16}{'lamina s':>10}{'skopeo s':>10}{'ratio':>8}{rss}")
    for i, name in enumerate(("first", "no-op (median)")):
        (lt, lr), (st, sr) = results["lamina"][i], results["skopeo"][i]
        print(f"{name:<16}{lt:>10.2f}{st:>10.2f}{lt / st:>8.2f}{lr:>10.0f}MB{sr:>10.0f}MB")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def _argv(tool: str, spec: Path, dest: str, certs: Path | None) -> list[str]:
    trust = f"--dest-cert-dir={certs}" if certs else "--dest-tls-verify=false"
    if tool == "lamina":
        lamina = lamina_command()
        return [lamina, "sync", "-q", "--src", "yaml", "--dest", "docker", trust, str(spec), dest]
    return ["skopeo", "sync", "--src", "yaml", "--dest", "docker", trust, str(spec), dest]


if __name__ == "__main__":
    main()
