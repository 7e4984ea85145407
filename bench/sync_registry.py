"""lamina sync vs skopeo sync, same machine, same run: N small repositories with 3 tags each
(50 by default) from one local lamina registry to another (a fresh one per tool), then
incremental runs of each (the median of --again N, 3 by default).

    python -m bench.sync_registry            # 50 repositories x 3 tags
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

from bench.copy_registry import lamina_command, run
from lamina.content.blobstore import BlobStore
from lamina.ops.copying import copy

TAGS = ("1.0", "1.1", "2.0")


def seed(host: str, repos: int, work: Path) -> None:
    blobs = BlobStore(work / "seed-blobs")
    for r in range(repos):
        for t, tag in enumerate(TAGS):
            img = make_image(blobs, seed=r * 10 + t, payload=200_000)
            layout = work / "seed" / f"r{r}-{tag}"
            write_oci_layout(img, layout, "v1")
            copy(f"oci:{layout}:v1", f"docker://{host}/src/repo{r}:{tag}", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=50, help="repositories (default 50)")
    parser.add_argument(
        "--again", type=int, default=3, help="incremental runs; the median is shown (default 3)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-sync-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        source: Server = start_lamina(work / "source")
        try:
            seed(source.host, args.repos, work)
            spec = work / "sync.yaml"
            lines = [f"{source.host}:", "  tls-verify: false", "  images:"]
            lines += [f"    src/repo{r}: []" for r in range(args.repos)]
            spec.write_text("\n".join(lines) + "\n")
            results: dict[str, tuple[float, float]] = {}
            for tool in ("lamina", "skopeo"):
                dest = start_lamina(work / f"dest-{tool}")
                try:
                    argv = _argv(tool, spec, f"{dest.host}/mirror")
                    first, _ = run(argv)
                    second = statistics.median(run(argv)[0] for _ in range(args.again))
                    results[tool] = (first, second)
                finally:
                    dest.stop()
        finally:
            source.stop()
    images = args.repos * len(TAGS)
    (lf, ls), (sf, ss) = results["lamina"], results["skopeo"]
    print(f"\nsync {images} images ({args.repos} repositories x {len(TAGS)} tags)")
    print(f"{'run':<12}{'lamina s':>10}{'skopeo s':>10}{'ratio':>8}")
    print(f"{'first':<12}{lf:>10.2f}{sf:>10.2f}{lf / sf:>8.2f}")
    print(f"{'again (median)':<12}{ls:>10.2f}{ss:>10.2f}{ls / ss:>8.2f}")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def _argv(tool: str, spec: Path, dest: str) -> list[str]:
    if tool == "lamina":
        lamina = lamina_command()
        return [lamina, "sync", "-q", "--src", "yaml", "--dest", "docker", str(spec), dest]
    return [
        "skopeo",
        "sync",
        "--src",
        "yaml",
        "--dest",
        "docker",
        "--dest-tls-verify=false",
        str(spec),
        dest,
    ]


if __name__ == "__main__":
    main()
