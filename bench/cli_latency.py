"""`lamina --help` and `lamina images` beside `podman --help` and `podman images`, in one run.

lamina lists a store of N images (default 50, one small layer each, made with the library's
import); podman lists its own store in a temp dir (`--root`/`--runroot`) holding the same N
images, loaded from a docker-archive lamina saved. Each command runs `--runs` times (default
10), lamina and podman interleaved so that a busy machine slows both alike; the table shows
the median and best wall time, the median CPU time (user + sys, from wait4), the ratio
lamina/podman of the medians, each command's peak RSS (under GNU time), and issue 13's
goals: `lamina --help` <= 150 ms, `lamina images` <= 250 ms (median wall times). The
`python -c pass` row is the interpreter and site start-up alone.

Run: python -m bench.cli_latency [--runs 10] [--images 50]
The lamina script is resolved past any pyenv shim so the figure is lamina's, not the shim's.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TIME = "/usr/bin/time"  # GNU time, for the peak RSS of a command
GOALS_MS = {"lamina --help": 150.0, "lamina images": 250.0}


@dataclass
class Row:
    label: str
    argv: list[str]
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak_kib: int = 0

    def run(self, env: dict[str, str]) -> None:
        """One timed run (wall and CPU time); the command must succeed."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            self.argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(proc.pid, 0)
        self.times.append(time.perf_counter() - start)
        self.cpu.append(usage.ru_utime + usage.ru_stime)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(self.argv)} exited {proc.returncode}")

    def measure_memory(self, env: dict[str, str], tmp: Path) -> None:
        """Peak RSS of one run, as GNU time reports it. (A child's own ru_maxrss counts the
        memory of the process it was forked from, here this benchmark's, so the command runs
        under `time`, a small process.)"""
        report = tmp / "maxrss"
        subprocess.run(
            [TIME, "-f", "%M", "-o", str(report), *self.argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        self.peak_kib = max(self.peak_kib, int(report.read_text().split()[-1]))


def lamina_argv() -> list[str]:
    """The console script run by the real interpreter (no shell shim in between)."""
    script = shutil.which("lamina")
    if script and Path(script).read_bytes()[:2] == b"#!":
        first = Path(script).read_text(errors="replace").splitlines()[0]
        if "python" in first:
            return [first[2:].strip(), script]
    return [sys.executable, "-m", "lamina.cli.main"]


def make_stores(tmp: Path, count: int, podman: list[str]) -> None:
    """`count` one-layer images in lamina's store at tmp/lamina, and the same images loaded
    into podman's store (through a docker-archive lamina saves)."""
    from lamina.ops.archive import import_image
    from lamina.ops.saveload import save_images
    from lamina.store import Store

    store = Store.open(tmp / "lamina")
    names = []
    for i in range(count):
        ctx = tmp / "ctx" / str(i)
        (ctx / "etc").mkdir(parents=True)
        (ctx / "etc" / "image").write_text(f"image {i}\n" * (i + 1))
        name = f"localhost/bench/img{i:02d}:1"
        import_image(store, str(ctx), name, changes=[f"LABEL n={i}"])
        names.append(name)
    archive = tmp / "images.tar"
    save_images(store, names, archive, "docker-archive")
    subprocess.run([*podman, "load", "-q", "-i", str(archive)], check=True, capture_output=True)


def listed(argv: list[str], env: dict[str, str]) -> int:
    """How many images `argv` (an `images` command) lists."""
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return len(out.splitlines()) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--images", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("podman"):
        raise SystemExit("podman is not installed: this benchmark compares lamina with it")
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} (GNU time) is needed for the peak memory column")
    lamina = lamina_argv()
    # An installed package has its bytecode compiled; a session may forbid writing it
    # (PYTHONDONTWRITEBYTECODE), which would time the compiler, not lamina.
    import lamina as pkg

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(pkg.__file__).parent)], check=True
    )
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        podman = ["podman", "--root", str(tmp / "podman"), "--runroot", str(tmp / "run")]
        env = dict(os.environ, LAMINA_ROOT=str(tmp / "lamina"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        make_stores(tmp, args.images, podman)
        for argv in ([*lamina, "images"], [*podman, "images"]):
            if listed(argv, env) != args.images:
                raise SystemExit(f"{' '.join(argv)} does not list {args.images} images")
        rows = [
            Row("python -c pass", [lamina[0], "-c", "pass"]),
            Row("lamina --help", [*lamina, "--help"]),
            Row("podman --help", ["podman", "--help"]),
            Row("lamina images", [*lamina, "images"]),
            Row("podman images", [*podman, "images"]),
        ]
        for row in rows:
            row.measure_memory(env, tmp)  # also warms the page cache
        for _ in range(args.runs):
            for row in rows:
                row.run(env)
    medians = {row.label: statistics.median(row.times) * 1000 for row in rows}
    print(f"{args.runs} runs each, interleaved; stores of {args.images} images")
    print(
        f"{'command':<16} {'median ms':>9} {'best ms':>8} {'cpu ms':>7} {'peak MiB':>8}"
        f" {'ratio':>6}  goal"
    )
    missed = []
    for row in rows:
        med = medians[row.label]
        ref = medians.get(row.label.replace("lamina", "podman"))
        ratio = f"{med / ref:.2f}x" if row.label.startswith("lamina") and ref else "-"
        goal = GOALS_MS.get(row.label)
        verdict = ""
        if goal is not None:
            verdict = f"<= {goal:.0f} ms: " + ("met" if med <= goal else "MISSED")
            if med > goal:
                missed.append(row.label)
        best = min(row.times) * 1000
        cpu = statistics.median(row.cpu) * 1000
        peak = row.peak_kib / 1024
        print(
            f"{row.label:<16} {med:>9.1f} {best:>8.1f} {cpu:>7.1f} {peak:>8.1f} {ratio:>6}"
            f"  {verdict}"
        )
    start = medians["python -c pass"]
    print(
        "(cpu = median user+sys time, which a busy machine disturbs less than wall time;"
        " ratio = lamina median / podman median of the same command; over the interpreter's"
        f" start: --help {medians['lamina --help'] - start:.0f} ms,"
        f" images {medians['lamina images'] - start:.0f} ms)"
    )
    if missed:
        print(f"goals missed: {', '.join(missed)}")


if __name__ == "__main__":
    main()
