"""The skopeo round trip beside the server figures: `skopeo copy` of one image (a 300 MB
random layer in 64 MiB blobs, new each round) from an OCI layout to the registry and back
to a fresh layout, lamina's registry vs Distribution, same run, rounds alternating.
skopeo's own work (about 2.3 s per 300 MB between two local layouts here, measured by
`time skopeo copy -q oci:SRC:v1 oci:DEST:v1` on such a layout) is in both, so the ratio is
far smaller than the server-only figures of registry_upload/registry_download.

    python -m bench.registry_skopeo [--size-mb 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.registry_harness import MB, report, servers
from bench.trust_verify import oci_layout


def skopeo(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        ["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false", *args],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("load average before: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        push: dict[str, list[float]] = {}
        pull: dict[str, list[float]] = {}
        with servers() as (lamina, dist):
            for r in range(args.rounds):
                # new layers each round: a blob either registry already holds would be mounted
                src = work / f"src-{r}"
                oci_layout(src, args.size_mb * MB)
                for server in (lamina, dist) if r % 2 == 0 else (dist, lamina):
                    ref = f"docker://{server.host}/bench/rt{r}:1"
                    push.setdefault(server.kind, []).append(skopeo(f"oci:{src}:v1", ref))
                    back = work / f"back-{server.kind}-{r}"
                    pull.setdefault(server.kind, []).append(skopeo(ref, f"oci:{back}:v1"))
                    shutil.rmtree(back)
                shutil.rmtree(src)
    rate = {k: args.size_mb / statistics.median(v) for k, v in push.items()}
    report(f"skopeo copy oci: -> registry, {args.size_mb} MB", rate, "MB/s")
    rate = {k: args.size_mb / statistics.median(v) for k, v in pull.items()}
    report(f"skopeo copy registry -> oci:, {args.size_mb} MB", rate, "MB/s")
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
