"""The skopeo round trip beside the server figures: `skopeo copy` of one image (a 300 MB
random layer in 64 MiB blobs, new each round) from an OCI layout to the registry and back
to a fresh layout, lamina's registry vs Distribution, same run, rounds alternating.
skopeo's own work (about 2.3 s per 300 MB between two local layouts here, measured by
`time skopeo copy -q oci:SRC:v1 oci:DEST:v1` on such a layout) is in both, so the ratio is
far smaller than the server-only figures of registry_upload/registry_download.

`--tls`: both servers serve HTTPS with the same certificate, which skopeo trusts through a
certs directory (`--src-cert-dir`/`--dest-cert-dir`).

    python -m bench.registry_skopeo [--tls] [--size-mb 300] [--rounds 3]
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

from bench import registry_harness
from bench.registry_harness import MB, peak_rss_mb, report, servers, transport
from bench.trust_verify import oci_layout


def skopeo(certs: Path | None, *args: str) -> float:
    trust = (
        ["--src-tls-verify=false", "--dest-tls-verify=false"]
        if certs is None
        else [f"--src-cert-dir={certs}", f"--dest-cert-dir={certs}"]
    )
    start = time.perf_counter()
    subprocess.run(["skopeo", "copy", "-q", *trust, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="both servers serve HTTPS")
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average before: {load}; {transport(args.tls)}")
    with tempfile.TemporaryDirectory(prefix="lamina-bench-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        push: dict[str, list[float]] = {}
        pull: dict[str, list[float]] = {}
        rss: dict[str, float] = {}
        with servers(tls=args.tls) as (lamina, dist):
            certs = None
            if registry_harness.CA is not None:
                certs = work / "certs"
                certs.mkdir()
                shutil.copy(registry_harness.CA, certs / "ca.crt")
            for r in range(args.rounds):
                # new layers each round: a blob either registry already holds would be mounted
                src = work / f"src-{r}"
                oci_layout(src, args.size_mb * MB)
                for server in (lamina, dist) if r % 2 == 0 else (dist, lamina):
                    ref = f"docker://{server.host}/bench/rt{r}:1"
                    push.setdefault(server.kind, []).append(skopeo(certs, f"oci:{src}:v1", ref))
                    back = work / f"back-{server.kind}-{r}"
                    pull.setdefault(server.kind, []).append(skopeo(certs, ref, f"oci:{back}:v1"))
                    shutil.rmtree(back)
                shutil.rmtree(src)
            for server in (lamina, dist):
                rss[server.kind] = peak_rss_mb(server)
    rate = {k: args.size_mb / statistics.median(v) for k, v in push.items()}
    report(f"skopeo copy oci: -> registry, {args.size_mb} MB", rate, "MB/s")
    rate = {k: args.size_mb / statistics.median(v) for k, v in pull.items()}
    report(f"skopeo copy registry -> oci:, {args.size_mb} MB", rate, "MB/s")
    report("peak RSS", rss, "MB", higher_is_better=False)
    print("load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
