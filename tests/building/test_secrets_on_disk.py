"""Build secrets never rest in a file others can read, and none outlives its RUN step, even
when the build is killed (the next build's start-up sweeps what a killed one left).

The scan greps every file changed since the test began (ctime, which no tool can set back)
under the store, /dev/shm, /tmp and /run for the secret values; the user's own secret source
file is the one expected holder.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.root
NOBODY = 65534


def lamina_env(root: Path, value: str) -> dict[str, str]:
    return {**os.environ, "LAMINA_ROOT": str(root), "SEC_ENV": value}


def holders(values: list[bytes], roots: list[Path], mark: Path, source: Path) -> list[Path]:
    """Files changed after `mark` under `roots` that hold any of `values` (but `source`)."""
    found: set[Path] = set()
    listing = subprocess.run(
        ["find", *map(str, roots), "-type", "f", "-cnewer", str(mark), "-print0"],
        capture_output=True,
        check=False,
    ).stdout
    files = [f for f in listing.split(b"\0") if f and Path(os.fsdecode(f)) != source]
    for value in values:
        for start in range(0, len(files), 500):
            out = subprocess.run(
                ["grep", "-lsF", "--", value, *files[start : start + 500]],
                capture_output=True,
                check=False,
            ).stdout
            found.update(Path(os.fsdecode(p)) for p in out.splitlines())
    return sorted(found)


def readable_by_others(path: Path) -> bool:
    """Whether its mode lets others read it, or user nobody can actually open it."""
    if os.stat(path).st_mode & 0o004:
        return True
    probe = subprocess.run(
        ["cat", str(path)],
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def start_build(root: Path, ctx: Path, value: str, secret_file: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina",
            "build",
            "--no-cache",
            "--isolation",
            "oci",
            "--secret",
            "id=y,env=SEC_ENV",
            "--secret",
            f"id=f,src={secret_file}",
            str(ctx),
        ],
        env=lamina_env(root, value),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> list[str]:
    """Read the build's output until its RUN says it has the secrets."""
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if line.strip() == "secrets-ready":
            return seen
    raise AssertionError(f"the RUN never got its secrets:\n{''.join(seen)}")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def runc_left(root: Path) -> list[int]:
    """Processes whose command line names the store (a killed build's runc)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmd = Path(entry.path, "cmdline").read_bytes()
            except OSError:
                continue
            if str(root).encode() in cmd:
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, Path, str, str]]:
    root = tmp_path / "store"
    subprocess.run(
        [sys.executable, "-m", "lamina", "base"],
        env={**os.environ, "LAMINA_ROOT": str(root)},
        check=True,
        capture_output=True,
    )
    env_value = "env-" + secrets.token_hex(16)
    file_value = "file-" + secrets.token_hex(16)
    source = tmp_path / "secret.txt"
    fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, file_value.encode())
    os.close(fd)
    digest_env = hashlib.sha256(env_value.encode()).hexdigest()
    digest_file = hashlib.sha256(file_value.encode()).hexdigest()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM localhost/busybox\n"
        "RUN --mount=type=secret,id=y,env=SEC_ENV --mount=type=secret,id=f \\\n"
        "    --mount=type=bind,target=/ctx \\\n"
        f'    test "$(printf %s "$SEC_ENV" | sha256sum | cut -c1-64)" = {digest_env} && \\\n'
        f'    test "$(sha256sum < /run/secrets/f | cut -c1-64)" = {digest_file} && \\\n'
        "    echo secrets-ready && \\\n"
        "    for i in $(seq 600); do [ -e /ctx/go ] && break; sleep 0.1; done\n"
    )
    mark = tmp_path / "mark"
    mark.write_text("")
    time.sleep(0.05)  # ctimes after this are strictly newer
    yield root, ctx, source, mark, env_value, file_value
    deadline = time.monotonic() + 30
    while runc_left(root) and time.monotonic() < deadline:
        time.sleep(0.2)
    subprocess.run(
        [sys.executable, "-m", "lamina", "rm", "--all"],
        env={**os.environ, "LAMINA_ROOT": str(root)},
        check=False,
        capture_output=True,
    )


def test_secrets_unreadable_during_and_gone_after_a_build(
    scene: tuple[Path, Path, Path, Path, str, str],
) -> None:
    root, ctx, source, mark, env_value, file_value = scene
    values = [env_value.encode(), file_value.encode()]
    scanned = [root, Path("/dev/shm"), Path("/tmp"), Path("/run")]
    proc = start_build(root, ctx, env_value, source)
    try:
        wait_ready(proc)
        during = holders(values, scanned, mark, source)
        (ctx / "go").write_text("")  # the RUN waits for this (60 s at most)
        assert during, "the scan does not even find the file secret the RUN is reading"
        exposed = [p for p in during if readable_by_others(p)]
        assert exposed == [], f"secret readable by others in {exposed}"
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
    finally:
        stop(proc)
    assert holders(values, scanned, mark, source) == []


def test_a_killed_build_leaves_no_secret_after_the_next_start(
    scene: tuple[Path, Path, Path, Path, str, str], tmp_path: Path
) -> None:
    root, ctx, source, mark, env_value, file_value = scene
    values = [env_value.encode(), file_value.encode()]
    scanned = [root, Path("/dev/shm"), Path("/tmp"), Path("/run")]
    proc = start_build(root, ctx, env_value, source)
    try:
        wait_ready(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        stop(proc)
    left = holders(values, scanned, mark, source)
    (ctx / "go").write_text("")  # ends the orphaned RUN
    assert left, "the scan does not even find the file secret the killed RUN was reading"
    assert all(not readable_by_others(p) for p in left), left
    other = tmp_path / "other"
    other.mkdir()
    (other / "Containerfile").write_text("FROM localhost/busybox\nRUN true\n")
    subprocess.run(
        [sys.executable, "-m", "lamina", "build", "--isolation", "oci", str(other)],
        env=lamina_env(root, "unrelated"),
        check=True,
        capture_output=True,
    )
    assert holders(values, scanned, mark, source) == []
    assert [p.parent for p in left if p.parent.exists()] == [], "a stale secret dir stayed"
