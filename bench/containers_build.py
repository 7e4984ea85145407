"""`from` busybox + `run` a command creating 10,000 small files + `commit`: lamina against
buildah 1.28, same machine, same run, same isolation (chroot for both, then runc for both).

Run (as root): python -m bench.containers_build [--runs N] [--files N]
Each tool uses its own throw-away storage holding the same busybox image; the figure is the
median total wall time of the three CLI calls over N runs, with each phase's median.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.containers_harness import Tools, ratio, setup, teardown

SCRIPT = (
    'mkdir /data && i=0 && while [ $i -lt {n} ]; do echo "file $i" > /data/f$i; i=$((i+1)); done'
)


def lamina_once(t: Tools, isolation: str, script: str) -> list[float]:
    name = t.lamina("from", "localhost/busybox")
    c = name.stdout.strip()
    run = t.lamina("run", "--isolation", isolation, c, "--", "sh", "-c", script)
    commit = t.lamina("commit", "--rm", c, "localhost/bench-out:latest")
    return [name.seconds, run.seconds, commit.seconds]


def buildah_once(t: Tools, isolation: str, script: str) -> list[float]:
    name = t.bah("from", "--pull-never", "localhost/busybox")
    c = name.stdout.strip()
    iso = ["--isolation", "chroot"] if isolation == "chroot" else ["--isolation", "oci"]
    iso += ["--runtime", "runc"] if isolation == "oci" else []
    run = t.bah("run", *iso, c, "--", "sh", "-c", script)
    commit = t.bah("commit", "--quiet", "--rm", c, "localhost/bench-out:latest")
    return [name.seconds, run.seconds, commit.seconds]


def report(label: str, samples: list[list[float]]) -> float:
    phases = [statistics.median(s[i] for s in samples) for i in range(3)]
    total = statistics.median(sum(s) for s in samples)
    print(
        f"  {label:8} total {total:6.2f} s  (from {phases[0]:.2f}, run {phases[1]:.2f}, "
        f"commit {phases[2]:.2f})"
    )
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args()
    script = SCRIPT.format(n=args.files)
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-", dir="/var/tmp"))
    tools = setup(work)
    try:
        print(f"from busybox + run ({args.files} files) + commit, median of {args.runs}:")
        for isolation in ("chroot", "oci"):
            print(f"isolation {isolation}:")
            la = [lamina_once(tools, isolation, script) for _ in range(args.runs)]
            bu = [buildah_once(tools, isolation, script) for _ in range(args.runs)]
            lt, bt = report("lamina", la), report("buildah", bu)
            print(f"  lamina/buildah = {ratio(lt, bt)} (target <= 1.0x)")
    finally:
        teardown(tools)


if __name__ == "__main__":
    main()
