"""The worker of the concurrency test: random imports, tags, removals, prunes and gcs.

Only NotFound and Conflict are expected from racing with other workers; anything else is
reported as a failure.
"""

from __future__ import annotations

import random
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamina.content import BlobStore
from lamina.errors import Conflict, IntegrityError, NotFound
from lamina.image.mutate import Addendum, append_layers, empty_image, with_created
from lamina.image.validate import validate
from lamina.oci import History
from lamina.store import Store
from tests.store.builders import AMD64, layer

NAMES = [f"localhost/stress{i}:{t}" for i in range(4) for t in ("a", "b")]
SEEDS = 10
BASES = 3


def _image(blobs: BlobStore, rng: random.Random) -> Any:
    base = rng.randrange(BASES)
    seed = rng.randrange(SEEDS)
    adds = [
        Addendum(layer(blobs, {f"base{base}": b"base %d\n" % base}), History(created_by="base")),
        Addendum(
            layer(blobs, {f"s{seed}/data": b"seed %d " % seed * (seed + 1)}),
            History(created_by=f"seed {seed}"),
        ),
    ]
    return with_created(append_layers(empty_image(AMD64), adds), datetime(2024, 1, 1, tzinfo=UTC))


def _corrupt_put(store: Store, scratch: BlobStore, rng: random.Random) -> None:
    """A put whose new (never stored) layer is corrupt at the source must fail cleanly."""
    unique = layer(scratch, {"unique": rng.randbytes(64)})
    img = append_layers(_image(scratch, rng), [Addendum(unique, History(created_by="u"))])
    d = unique.descriptor.digest
    path = scratch.path(d)
    data = bytearray(path.read_bytes())
    data[-9] ^= 0x55
    path.write_bytes(bytes(data))
    try:
        store.put_image(img, [rng.choice(NAMES)])
    except IntegrityError:
        pass
    else:
        raise AssertionError("a corrupt layer was accepted")
    finally:
        scratch.delete(d)


def run(root: str, scratch_dir: str, worker: int, seconds: float) -> dict[str, int]:
    rng = random.Random(worker)
    counts: dict[str, int] = {}
    store = Store.open(Path(root))
    scratch = BlobStore(scratch_dir)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        op = rng.choice(
            [
                "put",
                "put",
                "put_ingest",
                "tag",
                "untag",
                "remove",
                "rmid",
                "prune",
                "gc",
                "read",
                "snapshot",
                "corrupt",
            ]
        )
        try:
            if op == "put":
                store.put_image(_image(scratch, rng), [rng.choice(NAMES)])
            elif op == "put_ingest":
                with store.ingest() as blobs:
                    store.put_image(_image(blobs, rng), [rng.choice(NAMES)])
            elif op == "tag":
                store.tag(rng.choice(NAMES), rng.choice(NAMES))
            elif op == "untag":
                store.untag(rng.choice(NAMES))
            elif op == "remove":
                store.remove(rng.choice(NAMES))
            elif op == "rmid":
                images = store.list_images()
                if images:
                    store.remove(rng.choice(images).id[:12])
            elif op == "prune":
                store.prune(all=rng.random() < 0.2)
            elif op == "gc":
                store.gc()
            elif op == "read":
                validate(store.image(store.lookup(rng.choice(NAMES))))
            elif op == "snapshot":
                # Snapshot paths are only stable while the image is pinned (as a working
                # container pins its base); unpinned, a concurrent rmi + gc may remove them.
                holder = f"stress-{worker}"
                s = store.hold(rng.choice(NAMES), holder)
                try:
                    for d in store.rootfs(s):
                        assert any(d.iterdir())
                finally:
                    store.release(s.id, holder)
            elif op == "corrupt":
                _corrupt_put(store, scratch, rng)
            counts[op] = counts.get(op, 0) + 1
        except (NotFound, Conflict):
            counts["raced"] = counts.get("raced", 0) + 1
    store.close()
    return counts


def main(root: str, scratch_dir: str, worker: int, seconds: float, out: Any) -> None:
    try:
        out.put((worker, run(root, scratch_dir, worker, seconds), ""))
    except BaseException:
        out.put((worker, {}, traceback.format_exc()))
