"""`commit` of a working container whose upper dir holds 500 MB in 20,000 files: lamina
against `buildah commit`, same machine, same run, same file contents; with lamina's peak RSS.

Run (as root): python -m bench.containers_commit [--mb 500] [--files 20000] [--runs N]
The files (half random, half text, so gzip has real work) are written through each tool's
mounted root; only the commit is timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from bench.containers_harness import Tools, ratio, setup, teardown


def fill(root: Path, total: int, files: int) -> None:
    size = total // files
    noise = os.urandom(size // 2)
    text = (b"lorem ipsum dolor sit amet " * (size // 27 + 1))[: size - len(noise)]
    for i in range(files):
        d = root / "data" / f"d{i // 1000:02d}"
        if i % 1000 == 0:
            d.mkdir(parents=True, exist_ok=True)
        with open(d / f"f{i:05d}", "wb") as f:
            f.write(i.to_bytes(4, "big") + noise[4:] + text)


def lamina_once(t: Tools, total: int, files: int) -> tuple[float, int]:
    c = t.lamina("from", "localhost/busybox").stdout.strip()
    fill(Path(t.lamina("mount", c).stdout.strip()), total, files)
    t.lamina("umount", c)
    done = t.lamina("commit", "--rm", c, "localhost/bench-big:latest")
    return done.seconds, done.max_rss_kib


def buildah_once(t: Tools, total: int, files: int) -> tuple[float, int]:
    c = t.bah("from", "--pull-never", "localhost/busybox").stdout.strip()
    fill(Path(t.bah("mount", c).stdout.strip()), total, files)
    t.bah("umount", c)
    done = t.bah("commit", "--quiet", "--rm", c, "localhost/bench-big:latest")
    return done.seconds, done.max_rss_kib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=500)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    total = args.mb * 1_000_000
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-", dir="/var/tmp"))
    tools = setup(work)
    try:
        la = [lamina_once(tools, total, args.files) for _ in range(args.runs)]
        bu = [buildah_once(tools, total, args.files) for _ in range(args.runs)]
        lt, bt = statistics.median(s for s, _ in la), statistics.median(s for s, _ in bu)
        print(f"commit of {args.mb} MB in {args.files} files, median of {args.runs}:")
        print(f"  lamina  {lt:6.2f} s  peak RSS {max(r for _, r in la) / 1024:.0f} MiB")
        print(f"  buildah {bt:6.2f} s  peak RSS {max(r for _, r in bu) / 1024:.0f} MiB")
        print(f"  lamina/buildah = {ratio(lt, bt)} (target <= 0.7x; lamina RSS < 100 MiB)")
    finally:
        teardown(tools)


if __name__ == "__main__":
    main()
