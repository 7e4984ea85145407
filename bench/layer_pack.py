"""Packing a 500 MB tree into a gzip layer: lamina vs `tar | gzip -6` vs `skopeo copy`.

`python -m bench.layer_pack [--scale 0.1]`. The tree (300 MB random, 200 MB text, 5,000
small files, scaled) is generated once under /tmp and reused. Every contender runs in its
own child process, so its peak RSS is its own (os.wait4).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1 << 20
WORDS_TEXT = (
    "layer image blob digest manifest index config registry tag push pull sign verify "
    "container build stage copy run user env label volume entrypoint cmd workdir shell "
    "the of and to in is that for it as with was on be by this are or from at an"
)
WORDS = WORDS_TEXT.split(" ")


def build_tree(scale: float) -> Path:
    """The benchmark tree for `scale`, made once and reused (a marker file says done)."""
    root = Path(f"/tmp/lamina-bench-layer-tree-{scale:g}")
    if (root / ".complete").exists():
        return root / "tree"
    shutil.rmtree(root, ignore_errors=True)
    tree = root / "tree"
    rng = random.Random(1)
    (tree / "random").mkdir(parents=True)
    per = 10 * MB
    for i in range(max(1, int(300 * MB * scale) // per)):
        (tree / "random" / f"blob{i:03}.bin").write_bytes(rng.randbytes(per))
    (tree / "text").mkdir()
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(4, 16))) + "\n" for _ in range(40_000)]
    for i in range(max(1, int(200 * MB * scale) // per)):
        rng.shuffle(lines)
        text = "".join(lines).encode()
        (tree / "text" / f"doc{i:03}.txt").write_bytes((text * (per // len(text) + 1))[:per])
    for i in range(max(50, int(5000 * scale))):
        d = tree / "small" / f"d{i % 50:02}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05}.txt").write_bytes("".join(rng.choices(lines, k=rng.randint(1, 60))).encode())
    (root / ".complete").touch()
    return tree


def run(argv: list[str]) -> tuple[float, float]:
    """Run a child; (wall seconds, peak RSS in MB of it and the children it waited for).

    Through /usr/bin/time: a child forked straight from this process would inherit this
    process's RSS high-water mark."""
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.monotonic()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], check=True)
        elapsed = time.monotonic() - start
        return elapsed, int(rss.read().split()[-1]) / 1024


LAMINA_PACK = """
import sys
from pathlib import Path
from lamina.content import BlobStore
from lamina.content.layers import pack_dir
layer = pack_dir(Path(sys.argv[1]), BlobStore(sys.argv[2]), compression="gzip")
print(layer.digest, layer.size, layer.uncompressed_size)
"""


def make_dir_image(tree: Path, out: Path) -> None:
    """A skopeo `dir:` image of `tree`: one uncompressed tar layer, config, manifest."""
    out.mkdir(parents=True)
    layer = out / "layer.tmp"
    subprocess.run(["tar", "-C", str(tree), "-cf", str(layer), "."], check=True)
    h = hashlib.sha256()
    with layer.open("rb") as f:
        while chunk := f.read(MB):
            h.update(chunk)
    size = layer.stat().st_size
    layer.rename(out / h.hexdigest())
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{h.hexdigest()}"]},
        }
    ).encode()
    chex = hashlib.sha256(config).hexdigest()
    (out / chex).write_bytes(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{chex}",
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": f"sha256:{h.hexdigest()}",
                "size": size,
            }
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "version").write_text("Directory Transport Version: 1.1\n")


def table(rows: list[tuple[str, float, float]], lamina: float) -> None:
    print(f"{'what':<34} {'seconds':>8} {'lamina/ref':>10} {'peak RSS MB':>12}")
    for name, secs, rss in rows:
        ratio = f"{lamina / secs:.2f}" if not name.startswith("lamina") else "-"
        print(f"{name:<34} {secs:8.2f} {ratio:>10} {rss:12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    tree = build_tree(args.scale)
    with tempfile.TemporaryDirectory(prefix="lamina-bench-pack-", dir="/tmp") as tmp_s:
        tmp = Path(tmp_s)
        warm = ["cat", *map(str, tree.rglob("*.bin"))]
        subprocess.run(warm, check=True, stdout=subprocess.DEVNULL)
        lam_s, lam_rss = run([sys.executable, "-c", LAMINA_PACK, str(tree), str(tmp / "store")])
        tar_s, tar_rss = run(["sh", "-c", f"tar -C {tree} -cf - . | gzip -6 > {tmp}/ref.tar.gz"])
        make_dir_image(tree, tmp / "dirimg")
        sko_s, sko_rss = run(
            ["skopeo", "copy", "-q", f"dir:{tmp}/dirimg", f"oci:{tmp}/ociimg:latest"]
        )
        print(f"tree: {tree} (scale {args.scale:g})")
        table(
            [
                ("lamina pack_dir (gzip, isal L1)", lam_s, lam_rss),
                ("tar -c | gzip -6", tar_s, tar_rss),
                ("skopeo copy dir: -> oci:", sko_s, sko_rss),
            ],
            lam_s,
        )


if __name__ == "__main__":
    main()
