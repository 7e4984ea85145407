"""Writing blobs into an OCI layout, and when they reach the disk.

`python -m bench.layout_writeback [--blobs 5] [--mb 200] [--rounds 3]`: `--blobs` random
blobs of `--mb` MB each go into a new layout under /var/tmp, one after another, through
`LayoutDestination` as a copy writes them; the time is until `commit()` returns (everything
fsynced). Three ways, interleaved per round:

- `fsync per blob`: each blob fsynced before its rename (`store_verified(durable=True)`);
- `writeback + fsync at commit`: what the layout does (writeback started as each blob is
  written, `sync_file_range`; the blobs fsynced at commit);
- `fsync at commit only`: the same without starting writeback.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from lamina import media_types as mt
from lamina.content import writeback
from lamina.digest import Digest
from lamina.oci import Descriptor, ImageManifest
from lamina.transports.layout_dest import LayoutDestination, store_verified

MB = 1 << 20


def _write(blobs: list[tuple[bytes, Descriptor]], how: str, where: Path) -> float:
    root = Path(tempfile.mkdtemp(prefix="lamina-bench-layout-", dir=where))
    saved = writeback.sync_file_range
    try:
        if how == "fsync at commit only":
            writeback.sync_file_range = None
        start = time.perf_counter()
        dst = LayoutDestination(root / "l", "x", "oci:bench")
        for blob, desc in blobs:
            if how == "fsync per blob":
                final = dst.root / "blobs" / "sha256" / desc.digest.hex
                final.parent.mkdir(parents=True, exist_ok=True)
                store_verified(io.BytesIO(blob), final, dst.root, desc, durable=True)
            else:
                dst.put_blob(io.BytesIO(blob), desc)
        config = Descriptor(media_type=mt.OCI_CONFIG, digest=Digest.of_bytes(b"{}"), size=2)
        dst.put_blob(io.BytesIO(b"{}"), config)
        layers = [desc for _, desc in blobs]
        dst.put_manifest(ImageManifest.build(config, layers).raw, mt.OCI_MANIFEST)
        dst.commit()
        dst.close()
        return time.perf_counter() - start
    finally:
        writeback.sync_file_range = saved
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blobs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    where = Path("/var/tmp")
    data = [os.urandom(args.mb * MB) for _ in range(args.blobs)]
    blobs = [
        (b, Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(b), size=len(b)))
        for b in data
    ]
    ways = ["fsync per blob", "writeback + fsync at commit", "fsync at commit only"]
    times: dict[str, list[float]] = {w: [] for w in ways}
    for _ in range(args.rounds):
        for way in ways:
            os.sync()
            times[way].append(_write(blobs, way, where))
    print(f"{args.blobs} blobs of {args.mb} MB into {where}, {args.rounds} rounds")
    print("| way | median s | min s | max s |")
    print("| --- | --- | --- | --- |")
    for way in ways:
        t = times[way]
        print(f"| {way} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |")


if __name__ == "__main__":
    main()
