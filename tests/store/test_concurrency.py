from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest

from lamina.image.validate import validate
from lamina.store import Store
from tests.store import stress

WORKERS = 8
SECONDS = float(os.environ.get("LAMINA_STORE_STRESS_SECONDS", "30"))


@pytest.mark.slow
def test_many_processes_leave_a_consistent_store(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Store.open(root).close()
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=stress.main, args=(str(root), str(tmp_path / f"scratch{i}"), i, SECONDS, out)
        )
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=SECONDS + 120) for _ in procs]
    for p in procs:
        p.join(30)
    failures = [f"worker {w}:\n{tb}" for w, _, tb in results if tb]
    assert not failures, "\n".join(failures)
    assert all(p.exitcode == 0 for p in procs)
    totals: dict[str, int] = {}
    for _, counts, _ in results:
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    assert totals.get("put", 0) + totals.get("put_ingest", 0) > WORKERS
    assert totals.get("remove", 0) + totals.get("rmid", 0) > 0 and totals.get("prune", 0) > 0

    with Store.open(root) as store:
        assert store.check() == []
        for s in store.list_images(all=True):
            validate(store.image(s))
        store.gc()
        referenced = set()
        for s in store.list_images(all=True):
            img = store.image(s)
            referenced |= {img.digest(), *(d.digest for d in img.manifest().blobs())}
        assert set(store.blobs) == referenced  # gc left exactly what images need
        assert store.check() == []
        store.prune(all=True)
        assert store.list_images(all=True) == [] and list(store.blobs) == []
