"""Verification cost. (1) An image with 10 simple signatures (9 by an untrusted key, the
trusted one last, so every signature is checked) pulled from a Distribution registry to
`dir:` under a signedBy policy: lamina (CLI and library) vs `skopeo copy --policy`.
(2) The added cost of the policy check on a pull of a large image (signedBy vs
--insecure-policy). Signatures live in a file:// lookaside (registries.d under a temp $HOME).

`python -m bench.trust_verify [--size-mb 1024] [--runs 5]`"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.server.servers import start_distribution
from tests.trust.conftest import GpgKey, make_gpg_key

from lamina import media_types as mt
from lamina.digest import Digest
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.trust import TrustOptions
from lamina.ops.trust_commands import sign

MB = 1 << 20
LAYER = 64 * MB


def skopeo_copy(policy: Path, image: str, out: Path) -> list[str]:
    """skopeo's side: the same copy to `dir:` under the same policy."""
    return [
        "skopeo",
        "--policy",
        str(policy),
        "copy",
        "--src-tls-verify=false",
        image,
        f"dir:{out}",
    ]


def oci_layout(root: Path, size: int) -> None:
    """An OCI layout (tag `v1`) whose layers are `size` bytes of random data in 64 MiB
    blobs (copies never decompress them)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers = []
    left = size
    while left > 0:
        n = min(LAYER, left)
        data = os.urandom(n)
        d = Digest.of_bytes(data)
        (blobs / d.hex).write_bytes(data)
        layers.append({"mediaType": mt.OCI_LAYER_GZIP, "digest": str(d), "size": n})
        left -= n
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
        }
    ).encode()
    cd = Digest.of_bytes(config)
    (blobs / cd.hex).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": str(cd), "size": len(config)},
            "layers": layers,
        }
    ).encode()
    md = Digest.of_bytes(manifest)
    (blobs / md.hex).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(md),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def best(fn: Callable[[], object], runs: int, reset: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        reset()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed: {proc.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=256, help="large image size (part 2)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lamina-bench-trust-", dir="/var/tmp") as tmp_s:
        tmp = Path(tmp_s)
        home = tmp / "home"
        regd = home / ".config/containers/registries.d"
        regd.mkdir(parents=True)
        (regd / "default.yaml").write_text(f"default-docker:\n  lookaside: file://{tmp}/sigs\n")
        os.environ["HOME"] = str(home)
        trusted: GpgKey = make_gpg_key(tmp / "gpg-trusted", "Trusted <t@example.com>")
        other: GpgKey = make_gpg_key(tmp / "gpg-other", "Other <o@example.com>")
        policy = tmp / "policy.json"
        reg = start_distribution(tmp / "dist")
        try:
            req = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": str(trusted.public_file)}
            policy.write_text(
                json.dumps(
                    {"default": [{"type": "reject"}], "transports": {"docker": {reg.host: [req]}}}
                )
            )
            insecure = CopyRequest(trust=TrustOptions(insecure_policy=True))
            checked = CopyRequest(trust=TrustOptions(policy=str(policy)))
            # -- part 1: 10 signatures, small image ------------------------------------
            oci_layout(tmp / "small", 1 * MB)
            small = f"docker://{reg.host}/bench/small:1"
            copy(f"oci:{tmp / 'small'}:v1", small, None, insecure)
            for i in range(10):
                key = other if i < 9 else trusted
                sign(small, None, TrustOptions(sign_by=key.fingerprint, gpg_homedir=key.home))
            out = tmp / "out"

            def reset() -> None:
                shutil.rmtree(out, ignore_errors=True)

            # The script beside this interpreter, not a version-manager shim in front of it.
            beside = Path(sys.executable).with_name("lamina")
            lamina_exe = str(beside) if beside.exists() else shutil.which("lamina") or "lamina"
            results = {
                "skopeo copy --policy": best(
                    lambda: run(skopeo_copy(policy, small, out)),
                    args.runs,
                    reset,
                ),
                "lamina copy --policy (CLI)": best(
                    lambda: run(
                        [lamina_exe, "copy", "-q", "--policy", str(policy), small, f"dir:{out}"]
                    ),
                    args.runs,
                    reset,
                ),
                "lamina ops.copy (library)": best(
                    lambda: copy(small, f"dir:{out}", None, checked), args.runs, reset
                ),
                "lamina ops.copy, --insecure-policy": best(
                    lambda: copy(small, f"dir:{out}", None, insecure), args.runs, reset
                ),
            }
            print("== 1 MiB image, 10 signatures (9 untrusted, trusted last), to dir:")
            base = results["skopeo copy --policy"]
            for name, secs in results.items():
                print(f"  {name:<38} {secs * 1000:8.1f} ms  ({secs / base:.2f}x skopeo)")
            # -- part 2: a large image ---------------------------------------------------
            oci_layout(tmp / "large", args.size_mb * MB)
            large = f"docker://{reg.host}/bench/large:1"
            copy(f"oci:{tmp / 'large'}:v1", large, None, insecure)
            sign(large, None, TrustOptions(sign_by=trusted.fingerprint, gpg_homedir=trusted.home))
            runs = max(3, args.runs)
            plain_t: list[float] = []
            verified_t: list[float] = []
            for _ in range(runs):  # alternate, so cache and machine noise hit both alike
                plain_t.append(best(lambda: copy(large, f"dir:{out}", None, insecure), 1, reset))
                verified_t.append(best(lambda: copy(large, f"dir:{out}", None, checked), 1, reset))
            plain, verified = min(plain_t), min(verified_t)
            sk = best(
                lambda: run(skopeo_copy(policy, large, out)),
                runs,
                reset,
            )
            print(f"== {args.size_mb} MiB image pulled to dir: (best of {runs})")
            print(f"  lamina --insecure-policy   {plain:7.2f} s")
            print(
                f"  lamina signedBy policy     {verified:7.2f} s  "
                f"(+{(verified - plain) / plain * 100:.1f}% for verification)"
            )
            print(f"  skopeo signedBy policy     {sk:7.2f} s")
        finally:
            reg.stop()
            for gdir in (tmp / "gpg-trusted", tmp / "gpg-other"):
                subprocess.run(["gpgconf", "--homedir", str(gdir), "--kill", "all"], check=False)


if __name__ == "__main__":
    main()
