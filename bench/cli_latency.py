"""Wall time of `lamina --help` and `lamina images` against `podman images` (same store size),
and of an image copy ending with `cli.main`'s fast exit (`os._exit`) against the same copy
ending with the interpreter's full teardown (`main(argv)`, as a caller in-process gets).

Run: python -m bench.cli_latency [--runs N]
The lamina script is resolved past any pyenv shim so the figure is lamina's, not the shim's.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def lamina_argv() -> list[str]:
    """The console script run by the real interpreter (no shell shim in between)."""
    script = shutil.which("lamina")
    if script and Path(script).read_bytes()[:2] == b"#!":
        first = Path(script).read_text(errors="replace").splitlines()[0]
        if "python" in first:
            return [first[2:].strip(), script]
    return [sys.executable, "-c", "from lamina.cli.main import main; main()"]


def timed(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float, int]:
    """(median s, min s, peak RSS KiB) over `runs` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
        )
        times.append(time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return statistics.median(times), min(times), rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    lamina = lamina_argv()
    # An installed package has its bytecode compiled; a session may forbid writing it
    # (PYTHONDONTWRITEBYTECODE), which would time the compiler, not lamina.
    import lamina as pkg

    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(pkg.__file__).parent)], check=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, LAMINA_ROOT=str(Path(tmp) / "store"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([*lamina, "base"], env=env, check=True, stdout=subprocess.DEVNULL)
        rows = []
        base_med, base_best, base_rss = timed([lamina[0], "-c", "pass"], args.runs, env)
        rows.append(("python -c pass", base_med, base_best, base_rss))
        for label, argv in (
            ("lamina --help", [*lamina, "--help"]),
            ("lamina images", [*lamina, "images"]),
        ):
            med, best, rss = timed(argv, args.runs, env)
            rows.append((label, med, best, rss))
        copy_args = ["copy", "-q", "lamina:localhost/busybox:latest", f"oci:{tmp}/out:x"]
        in_process = f"from lamina.cli.main import main; main({copy_args!r})"
        subprocess.run([*lamina, *copy_args], env=env, check=True)  # later runs skip blobs
        fast: list[float] = []
        full: list[float] = []
        for _ in range(args.runs):  # interleaved: a busy machine slows both alike
            fast.append(timed([*lamina, *copy_args], 1, env)[0])
            full.append(timed([lamina[0], "-c", in_process], 1, env)[0])
        for label, times in (("copy, fast exit", fast), ("copy, teardown", full)):
            rows.append((label, statistics.median(times), min(times), 0))
        ref_med = None
        if shutil.which("podman"):
            ref_med, ref_best, ref_rss = timed(["podman", "images"], args.runs, env)
            rows.append(("podman images", ref_med, ref_best, ref_rss))
    print(f"{'command':<16} {'median ms':>10} {'best ms':>9} {'ratio':>7}  target")
    for label, med, best, _ in rows:
        ratio = f"{med / ref_med:.2f}x" if ref_med and label.startswith("lamina") else "-"
        target = "< 150 ms" if label.startswith("lamina") else ""
        print(f"{label:<16} {med * 1000:>10.1f} {best * 1000:>9.1f} {ratio:>7}  {target}")
    print("(ratio = lamina median / podman images median; interpreter start included —")
    print(" the `python -c pass` row is the interpreter and site start-up alone on this machine)")


if __name__ == "__main__":
    main()
