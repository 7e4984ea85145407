"""Shared set-up of the `lamina build` benchmarks: lamina with its own store, buildah with
its own containers-storage (`--root`/`--runroot` in the work dir, so no cache is shared
with anything else), both with the busybox base image, both with chroot isolation and
layers. Every timing is one process's wall time; RSS is its own peak (from wait4).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BASE = "localhost/busybox:latest"
LAMINA = [str(Path(sys.executable).with_name("lamina"))]


@dataclass(frozen=True, slots=True)
class Timed:
    seconds: float
    rss_mb: float
    first: float | None = None  # when the first line matching `mark` appeared


def timed(argv: list[str], mark: str | None = None) -> Timed:
    """Run `argv`; wall time, peak RSS, and (with `mark`) when that output appeared."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    out: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out.append(line)
        if first is None and mark is not None and re.search(mark, line):
            first = time.monotonic() - t0
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.stderr.write("".join(out[-30:]))
        raise SystemExit(f"{argv[0]} failed")
    return Timed(elapsed, usage.ru_maxrss / 1024, first)


@dataclass(frozen=True, slots=True)
class Tools:
    work: Path
    lamina_root: Path
    buildah_root: Path
    buildah_runroot: Path

    def lamina(self, ctx: Path, tag: str, mark: str | None = None) -> Timed:
        argv = [*LAMINA, "--root", str(self.lamina_root), "build"]
        argv += ["--isolation", "chroot", "--layers", "-t", tag, str(ctx)]
        return timed(argv, mark)

    def buildah_argv(self) -> list[str]:
        return ["buildah", "--root", str(self.buildah_root), "--runroot", str(self.buildah_runroot)]

    def buildah(self, ctx: Path, tag: str, mark: str | None = None) -> Timed:
        argv = [*self.buildah_argv(), "bud", "--isolation", "chroot", "--layers"]
        argv += ["-t", tag, str(ctx)]
        return timed(argv, mark)


def setup(parent: Path | None = None) -> Tools:
    work = Path(tempfile.mkdtemp(prefix="lamina-bench-build-", dir=parent or "/var/tmp"))
    tools = Tools(work, work / "lamina", work / "cs-root", work / "cs-run")
    lam = [*LAMINA, "--root", str(tools.lamina_root)]
    subprocess.run([*lam, "base", "-q"], check=True, capture_output=True)
    archive = work / "busybox.tar"
    subprocess.run(
        [*lam, "save", "--format", "oci-archive", "-o", str(archive), BASE],
        check=True,
        capture_output=True,
    )
    store = f"containers-storage:[overlay@{tools.buildah_root}+{tools.buildah_runroot}]{BASE}"
    subprocess.run(["skopeo", "copy", "-q", f"oci-archive:{archive}", store], check=True)
    return tools


def teardown(tools: Tools) -> None:
    subprocess.run([*tools.buildah_argv(), "rm", "-a"], check=False, capture_output=True)
    subprocess.run([*tools.buildah_argv(), "rmi", "-a", "-f"], check=False, capture_output=True)
    # containers-storage may keep its overlay home mounted; unmount what is ours only
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [ln.split(" ", 5)[4] for ln in f]
    for p in sorted((p for p in points if p.startswith(str(tools.work))), reverse=True):
        subprocess.run(["umount", "-l", p], check=False)
    shutil.rmtree(tools.work, ignore_errors=True)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"


def row(label: str, ours: Timed, theirs: Timed, target: str, *, first: bool = False) -> str:
    a = ours.first if first and ours.first is not None else ours.seconds
    b = theirs.first if first and theirs.first is not None else theirs.seconds
    return (
        f"{label:<34} lamina {a:7.2f}s {ours.rss_mb:6.0f} MB | buildah {b:7.2f}s "
        f"{theirs.rss_mb:6.0f} MB | lamina/buildah {ratio(a, b)}"
        + (f" (target <= {target})" if target else " (no target)")
    )


def args(doc: str | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--scale", type=float, default=1.0, help="shrink sizes (0.1 = a tenth)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat with fresh stores, alternating who goes first; report medians",
    )
    return p.parse_args()


def write_random(path: Path, size: int) -> None:
    chunk = 1 << 20
    with path.open("wb") as f:
        left = size
        while left > 0:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def median(runs: list[Timed]) -> Timed:
    """The median wall time (and first-line time) of `runs`, with the largest RSS."""
    firsts = [r.first for r in runs if r.first is not None]
    return Timed(
        statistics.median(r.seconds for r in runs),
        max(r.rss_mb for r in runs),
        statistics.median(firsts) if firsts else None,
    )


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def alternate(
    round_no: int, tools: Tools, ctx: Path, tag: str, mark: str | None = None
) -> tuple[Timed, Timed]:
    """(lamina, buildah) timings of building `ctx`: lamina first in even rounds, buildah
    first in odd ones."""
    if round_no % 2 == 0:
        a = tools.lamina(ctx, tag, mark)
        return a, tools.buildah(ctx, tag, mark)
    b = tools.buildah(ctx, tag, mark)
    return tools.lamina(ctx, tag, mark), b
