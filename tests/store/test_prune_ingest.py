"""Partial blobs under `ingest/`: a killed writer's are removed by prune (and by the next
store start-up), with their bytes reported; a live writer's stay.

The writers are real processes writing through `Store.ingest()`, one killed with SIGKILL
mid-blob, one still writing (holding the gc lock shared, so nothing is collected) while a
prune runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina.image.validate import validate
from lamina.store import Store

WRITER = """
import os, sys
from pathlib import Path
from lamina.store import Store
store = Store.open(Path(sys.argv[1]))
with store.ingest() as blobs, blobs.writer() as w:
    w.write(b"x" * int(sys.argv[2]))
    print(w.temp_path, flush=True)
    if sys.argv[3] == "die":
        os.kill(os.getpid(), 9)
    sys.stdin.read()
"""
MB = 1 << 20


def lamina(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lamina", *argv],
        env={**os.environ, "LAMINA_ROOT": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@contextmanager
def writer(root: Path, size: int, *, die: bool) -> Iterator[Path]:
    """A process writing a `size`-byte partial blob; killed at once with `die`, else alive
    until the block ends. Yields the partial's path."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(size), "die" if die else "live"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        path = Path(proc.stdout.readline().strip())
        if die:
            assert proc.wait(timeout=30) == -signal.SIGKILL
        yield path
    finally:
        proc.stdin.close()
        proc.stdout.close()
        proc.wait(timeout=30)


def test_prune_removes_a_killed_writers_partial_keeps_a_live_one(tmp_path: Path) -> None:
    root = tmp_path / "store"
    assert lamina(root, "base").returncode == 0
    held = lamina(root, "from", "localhost/busybox")
    assert held.returncode == 0, held.stderr
    with writer(root, MB, die=False) as live:
        with writer(root, 3 * MB, die=True) as stale:
            assert stale.stat().st_size == 3 * MB
        assert live.stat().st_size == MB
        busy = lamina(root, "image", "prune", "-a", "--build-cache")
        assert busy.returncode == 0, busy.stderr
        assert live.stat().st_size == MB  # its writer holds the store's gc lock shared
        assert stale.exists()  # so nothing is collected until it is done
    assert not live.exists()  # the writer ended without committing: it removed its own
    pruned = lamina(root, "image", "prune", "-a", "--build-cache")
    assert pruned.returncode == 0, pruned.stderr
    assert not stale.exists()
    assert list((root / "ingest").iterdir()) == []
    assert "Reclaimed 3.146 MB of blobs" in pruned.stderr  # 3 MiB, nothing else
    with Store.open(root) as store:
        assert store.check() == []
        (image,) = store.list_images()
        assert image.names == ("localhost/busybox:latest",)  # held by the container
        validate(store.image(image))
    assert lamina(root, "rm", held.stdout.strip()).returncode == 0


def test_store_start_up_removes_a_killed_writers_partial(tmp_path: Path) -> None:
    root = tmp_path / "store"
    Store.open(root).close()
    with writer(root, 2 * MB, die=True) as stale:
        assert stale.exists()
    with Store.open(root) as store:
        assert not stale.exists()
        assert store.collected.temp_files_removed == 1
        assert store.collected.bytes_freed == 2 * MB
        assert list(store.blobs.ingest_dir.iterdir()) == []
        assert store.check() == []
