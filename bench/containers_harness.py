"""Shared set-up of the working-container benchmarks: a lamina store with the busybox base,
and a private buildah storage holding the same image (copied in with skopeo)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LAMINA = [sys.executable, "-c", "from lamina.cli.main import main; main()"]


@dataclass
class Timed:
    seconds: float
    max_rss_kib: int
    stdout: str


def timed(argv: list[str], env: dict[str, str] | None = None) -> Timed:
    """Run `argv` to completion; its wall time and its own peak RSS (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return Timed(elapsed, usage.ru_maxrss, out.decode())


@dataclass
class Tools:
    work: Path
    env: dict[str, str]  # for lamina: LAMINA_ROOT
    buildah: list[str]  # buildah with its private storage

    def lamina(self, *args: str) -> Timed:
        return timed([*LAMINA, *args], self.env)

    def bah(self, *args: str) -> Timed:
        return timed([*self.buildah, *args])


def setup(work: Path) -> Tools:
    """Both stores, each holding localhost/busybox:latest (same bytes)."""
    env = dict(os.environ, LAMINA_ROOT=str(work / "lamina"), SOURCE_DATE_EPOCH="1700000000")
    root, runroot = work / "buildah-root", work / "buildah-runroot"
    buildah = ["buildah", "--root", str(root), "--runroot", str(runroot)]
    buildah += ["--storage-driver", "overlay"]
    tools = Tools(work, env, buildah)
    tools.lamina("base", "-q")
    archive = work / "busybox.tar"
    tools.lamina("save", "--format", "oci-archive", "-o", str(archive), "localhost/busybox")
    dest = f"containers-storage:[overlay@{root}+{runroot}]localhost/busybox:latest"
    timed(["skopeo", "copy", "--quiet", f"oci-archive:{archive}", dest])
    return tools


def teardown(tools: Tools) -> None:
    subprocess.run([*tools.buildah, "rm", "--all"], capture_output=True, check=False)
    subprocess.run([*tools.buildah, "rmi", "--all", "--force"], capture_output=True, check=False)
    subprocess.run([*LAMINA, "rm", "--all"], env=tools.env, capture_output=True, check=False)
    # buildah's overlay storage keeps mounts under its root until told to shut down.
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [ln.split(" ", 5)[4] for ln in f if str(tools.work) in ln.split(" ", 5)[4]]
    for p in reversed(points):
        subprocess.run(["umount", "-l", p], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", str(tools.work)], check=False)


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"
