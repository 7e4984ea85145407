"""Applying a gzip layer of the 500 MB tree to an empty root: lamina vs `umoci unpack`.

`python -m bench.layer_apply [--scale 0.1]`. The layer is packed by lamina once; umoci reads
it from an OCI image layout holding just that layer (umoci also writes its config.json and
an mtree manifest of the result, which is part of what it does on every unpack).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.layer_pack import build_tree, run, table
from lamina.content import BlobStore
from lamina.content.layers import LayerBlob, pack_dir

LAMINA_APPLY = """
import sys
from pathlib import Path
from lamina.content.layers import apply_layer
root = Path(sys.argv[2])
root.mkdir()
with open(sys.argv[1], "rb") as f:
    stats = apply_layer(f, root)
print(stats.entries, stats.bytes)
"""


def make_layout(store: BlobStore, layer: LayerBlob, out: Path) -> None:
    """An OCI image layout `out` with one image, tag `bench`, made of `layer`."""
    blobs = out / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    shutil.copy(store.path(layer.digest), blobs / layer.digest.hex)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id)]},
        }
    ).encode()
    cdigest = store.put_bytes(config)
    shutil.copy(store.path(cdigest), blobs / cdigest.hex)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": str(cdigest),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer.media_type, "digest": str(layer.digest), "size": layer.size}
            ],
        }
    ).encode()
    mdigest = store.put_bytes(manifest)
    shutil.copy(store.path(mdigest), blobs / mdigest.hex)
    (out / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": str(mdigest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "bench"},
            }
        ],
    }
    (out / "index.json").write_text(json.dumps(index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    tree = build_tree(args.scale)
    with tempfile.TemporaryDirectory(prefix="lamina-bench-apply-", dir="/tmp") as tmp_s:
        tmp = Path(tmp_s)
        store = BlobStore(tmp / "store")
        layer = pack_dir(tree, store, compression="gzip")
        make_layout(store, layer, tmp / "layout")
        blob = store.path(layer.digest)
        subprocess.run(["cat", str(blob)], check=True, stdout=subprocess.DEVNULL)
        lam_s, lam_rss = run([sys.executable, "-c", LAMINA_APPLY, str(blob), str(tmp / "root")])
        umoci_s, umoci_rss = run(
            ["umoci", "unpack", "--image", f"{tmp}/layout:bench", str(tmp / "bundle")]
        )
        print(f"tree: {tree} (scale {args.scale:g}); layer {layer.size / 1e6:.0f} MB gzip")
        table(
            [("lamina apply_layer", lam_s, lam_rss), ("umoci unpack", umoci_s, umoci_rss)],
            lam_s,
        )


if __name__ == "__main__":
    main()
