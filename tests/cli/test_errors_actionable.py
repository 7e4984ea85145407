"""Errors a person can act on (issue 15 item 7): an ordinary user pointed at a store it
cannot write gets one line naming the path (no traceback, no advice to move the database
aside, which is only for a database SQLite reports corrupt); a COPY that cannot read its
source names the Containerfile line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run

NOBODY = 65534


@pytest.fixture
def as_nobody() -> Iterator[Run]:
    """Run the CLI as uid/gid 65534 in a fresh process; the interpreter's prefix is
    bind-mounted where that user can reach it (it may live under /root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to become another user")
    from tests.cli.conftest import Result

    work = Path(tempfile.mkdtemp(prefix="lamina-nobody-", dir="/tmp"))
    os.chmod(work, 0o755)
    (work / "py").mkdir()

    def run(*argv: str) -> Result:
        args = " ".join(f"'{a}'" for a in argv)
        inner = (
            f"mount --bind {sys.base_prefix} {work}/py && exec setpriv --reuid={NOBODY} "
            f"--regid={NOBODY} --clear-groups env -i HOME=/nonexistent PATH=/usr/bin:/bin "
            f"LD_LIBRARY_PATH={work}/py/lib "
            f"{work}/py/bin/python3 -c 'from lamina.cli.main import main; main()' {args}"
        )
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    yield run
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A root-owned directory (mode 755) every user can reach but only root can write."""
    path = Path(tempfile.mkdtemp(prefix="lamina-rootowned-", dir="/tmp"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _one_clear_error(err: str, path: Path) -> None:
    assert "Traceback" not in err
    assert "aside" not in err
    first = err.splitlines()[0]
    assert first == f"error[DENIED]: cannot write the store at {path}: permission denied", err
    assert "--root" in err  # what to do: another store, or the owner


def test_a_store_the_user_cannot_write(open_dir: Path, as_nobody: Run) -> None:
    store_root = open_dir / "store"
    made = subprocess.run(  # a store made by root, the way root's lamina leaves it
        [sys.executable, "-m", "lamina.cli.main", "--root", str(store_root), "base"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    for where, dirs, files in os.walk(store_root):
        for d in dirs:
            os.chmod(os.path.join(where, d), 0o755)
        for f in files:
            os.chmod(os.path.join(where, f), 0o644)
    os.chmod(store_root, 0o755)
    r = as_nobody("--root", str(store_root), "images")
    assert r.code == 1, r
    _one_clear_error(r.err, store_root)
    assert len([line for line in r.err.splitlines() if line.startswith("error")]) == 1


def test_a_store_under_a_directory_the_user_cannot_write(open_dir: Path, as_nobody: Run) -> None:
    r = as_nobody("--root", str(open_dir / "store"), "images")
    assert r.code == 1, r
    _one_clear_error(r.err, open_dir / "store")


def test_a_truly_corrupt_database_still_gets_the_move_aside_hint(
    lamina: Run, store_root: Path
) -> None:
    assert lamina("images").code == 0
    (store_root / "store.db").write_bytes(b"this is not a database" * 100)
    for extra in ("store.db-wal", "store.db-shm"):
        (store_root / extra).unlink(missing_ok=True)
    r = lamina("images")
    assert r.code == 1 and "Traceback" not in r.err
    assert str(store_root / "store.db") in r.err and "aside" in r.err


@pytest.mark.parametrize("source", ["locked", "tree/"])
def test_copy_of_an_unreadable_file_names_the_containerfile_line(
    lamina: Run, store_root: Path, tmp_path: Path, source: str
) -> None:
    """As root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH (setpriv), a mode-000 file is
    unreadable, as it is for an ordinary user."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop capabilities")
    assert lamina("base").code == 0
    ctx = tmp_path / "ctx"
    (ctx / "tree").mkdir(parents=True)
    for path in (ctx / "locked", ctx / "tree" / "locked"):
        path.write_text("secret\n")
        path.chmod(0)
    (ctx / "Containerfile").write_text(f"FROM localhost/busybox\nLABEL a=b\nCOPY {source} /x\n")
    done = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable, "-m",
         "lamina.cli.main", "--root", str(store_root), "build", "-q", str(ctx)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    first = done.stderr.splitlines()[0]
    unreadable = ctx / source.rstrip("/") if source == "locked" else ctx / "tree" / "locked"
    assert first.startswith("error[INVALID_INPUT]: Containerfile:3:1: COPY: "), first
    assert f"cannot read {unreadable}: permission denied" in first
    assert lamina("containers", "--format", "json").json() == []  # no half-made container


@pytest.mark.parametrize(
    "argv",
    [
        ("copy", "lamina:localhost/busybox", "docker-archive:{out}"),
        ("copy", "lamina:localhost/busybox", "oci-archive:{out}"),
        ("copy", "lamina:localhost/busybox", "dir:{out}"),
        ("save", "-o", "{out}", "localhost/busybox"),
        ("export", "localhost/busybox", "-o", "{out}"),
    ],
)
def test_a_file_that_cannot_be_written_is_named_as_given(
    lamina: Run, argv: tuple[str, ...]
) -> None:
    """/proc takes no new files, even from root: the write beside the target fails."""
    assert lamina("base").code == 0
    out = "/proc/lamina-out.tar"
    r = lamina(*(a.format(out=out) for a in argv))
    assert r.code == 2, r
    first = r.err.splitlines()[0]
    assert first == f"error[INVALID_INPUT]: cannot write {out}: No such file or directory", r.err
    assert ".tmp" not in r.err and ".lamina-" not in r.err and "Traceback" not in r.err
