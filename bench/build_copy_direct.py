"""The cost per file of a COPY's writes, three ways (build/rootfs/fresh.py's note): through
an overlay mount (lowers of a few thousand files, as a base image), straight into the
overlay's upper dir on the same disk (what `direct_upper` does), and into an upper dir on a
tmpfs (`scratch`, a stage's last step). Each copies the same context of small files with
lamina's own COPY code (executor_copy.copy_sources); the context is listed before the clock
starts, so only the writes are timed. Run as root.

    python -m bench.build_copy_direct                 # 5,000 files, median of 3
    python -m bench.build_copy_direct --files 500 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from lamina.building.context import SourceTree
from lamina.building.executor_copy import CopyOptions, copy_sources
from lamina.building.rootfs.overlay import mount_overlay, sys_mount, unmount


def make_tree(root: Path, files: int, per_dir: int = 100) -> None:
    for i in range(files):
        d = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:05d}.txt").write_bytes(b"x" * (64 + i % 512))


def copy_into(tree: SourceTree, root: Path) -> float:
    t0 = time.perf_counter()
    copy_sources(tree, ["."], root, "/src/", CopyOptions(owner=(0, 0), mode=None), many=False)
    return time.perf_counter() - t0


def once(work: Path, tree: SourceTree, lowers: list[Path]) -> dict[str, float]:
    out: dict[str, float] = {}
    for way in ("overlay mount", "upper dir (disk)", "upper dir (tmpfs)"):
        run = Path(tempfile.mkdtemp(dir=work))
        upper, wd, merged = run / "upper", run / "work", run / "merged"
        for d in (upper, wd, merged):
            d.mkdir()
        try:
            if way == "overlay mount":
                mount_overlay(lowers, upper, wd, merged, volatile=True)
                out[way] = copy_into(tree, merged)
            elif way == "upper dir (disk)":
                out[way] = copy_into(tree, upper)
            else:
                sys_mount("tmpfs", str(upper), "tmpfs", 0, "size=512m,mode=0755")
                out[way] = copy_into(tree, upper)
        finally:
            unmount(merged)
            unmount(upper)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="work dir (default: $TMPDIR)")
    opts = p.parse_args()
    with tempfile.TemporaryDirectory(dir=opts.dir) as tmp:
        work = Path(tmp)
        ctx = work / "ctx"
        make_tree(ctx, opts.files)
        lowers = []
        for n in range(3):  # a base image's layers: files beside and under /src's parents
            lower = work / f"lower{n}"
            make_tree(lower / "usr" / f"lib{n}", 2000)
            lowers.append(lower)
        tree = SourceTree(root=ctx)
        list(tree.walk("."))  # listed once, as a build's cache key does before the copy
        runs = [once(work, tree, lowers) for _ in range(opts.runs)]
        for way in runs[0]:
            s = statistics.median(r[way] for r in runs)
            print(f"{way:<20} {s:7.3f}s  {s / opts.files * 1e6:7.1f} us/file")


if __name__ == "__main__":
    main()
