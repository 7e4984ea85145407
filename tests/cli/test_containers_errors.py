"""Bad input to the working-container commands: one clear error each, no stray mounts."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.rootfs.overlay import is_mounted
from tests.cli.conftest import Run
from tests.cli.test_containers import mounts_under

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static"),
]


@pytest.fixture(autouse=True)
def no_stray_mounts(tmp_path: Path) -> Iterator[None]:
    yield
    assert mounts_under(tmp_path) == [], "a test left mounts behind"


def one_error(r: object, code: int, text: str) -> None:
    err = getattr(r, "err", "")
    assert getattr(r, "code", None) == code, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error[")]
    assert len(lines) == 1 and text in lines[0], err
    assert "Traceback" not in err


def test_unknown_container_everywhere(lamina: Run, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    for argv in (
        ("mount", "ghost"),
        ("umount", "ghost"),
        ("run", "ghost", "true"),
        ("copy", "ghost", str(f), "/"),
        ("add", "ghost", str(f), "/"),
        ("config", "--port", "80", "ghost"),
        ("inspect", "--type", "container", "ghost"),
        ("commit", "ghost", "localhost/x"),
        ("rm", "ghost"),
    ):
        one_error(lamina(*argv), 3, "working container 'ghost' does not exist")
    one_error(
        lamina("from", "--pull", "never", "localhost/ghost"), 3, "'localhost/ghost' is not in"
    )


def test_bad_run_and_config_input(lamina: Run) -> None:
    assert lamina("base").code == 0
    c = lamina("from", "busybox").out.strip()
    one_error(lamina("run", c, "--", "no-such-binary"), 1, "no-such-binary: executable not found")
    one_error(lamina("run", c, "/bin/nope"), 1, "/bin/nope: no such executable")
    one_error(lamina("run", "--env", "NOEQUALS", c, "true"), 2, "not KEY=VALUE")
    one_error(lamina("run", "--volume", "/nonexistent-dir:/x", c, "true"), 3, "does not exist")
    one_error(lamina("run", "--user", "nobody-here", c, "true"), 1, "not found in the container")
    one_error(lamina("config", "--healthcheck-interval", "soon", c), 2, "is not a duration")
    one_error(lamina("copy", "--chmod", "rwx", c, "/etc/passwd", "/x"), 2, "not an octal mode")
    one_error(lamina("copy", c, "/no/such/source", "/x"), 3, "does not exist")
    assert lamina("rm", c).code == 0


def test_commit_after_the_mount_vanished(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    c = lamina("from", "busybox").out.strip()
    mnt = Path(lamina("mount", c).out.strip())
    (mnt / "kept.txt").write_text("kept\n")
    # Unmounted behind lamina's back: commit mounts again and keeps the upper dir's files.
    subprocess.run(["umount", str(mnt)], check=True)
    assert lamina("commit", c, "localhost/vanished:1").code == 0
    assert not is_mounted(mnt)
    out = tmp_path / "out.tar"
    assert lamina("export", "localhost/vanished:1", "-o", str(out)).code == 0
    listing = subprocess.run(["tar", "-tf", str(out)], capture_output=True, text=True, check=True)
    assert "kept.txt" in listing.stdout.split()
    # Its storage gone: a clear error naming the container, and nothing mounted.
    info = lamina("inspect", c).json()[0]
    shutil.rmtree(tmp_path / "store" / "containers" / info["ContainerID"] / "upper")
    one_error(lamina("commit", c, "localhost/vanished:2"), 1, "its storage")
    one_error(lamina("run", c, "true"), 1, "its storage")
    assert lamina("rm", c).code == 0


@pytest.fixture
def small_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "small"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(root)], check=True)
    monkeypatch.setenv("LAMINA_ROOT", str(root / "store"))
    try:
        yield root
    finally:
        for point in reversed(mounts_under(root)):
            subprocess.run(["umount", "-l", point], check=False)


def test_full_disk(lamina: Run, small_store: Path, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    c = lamina("from", "busybox").out.strip()
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(os.urandom(12 << 20))
    one_error(lamina("copy", c, str(big), "/"), 1, "no space left on the device holding")
    assert mounts_under(small_store / "store" / "containers") == []
    one_error(lamina("run", c, "true"), 1, "the device holding")
    one_error(lamina("commit", c, "localhost/full:1"), 1, "no space left on the device holding")
    assert mounts_under(small_store / "store" / "containers") == []
    assert not list((small_store / "store" / "containers").glob(".*.tmp"))
    # Removing the container gives the space back; then things work again.
    assert lamina("rm", c).code == 0
    c = lamina("from", "busybox").out.strip()
    assert lamina("commit", "--rm", c, "localhost/fits:1").code == 0


def test_run_network_error_names_every_accepted_value(tmp_path: Path) -> None:
    from lamina.errors import InvalidInput
    from lamina.ops import containers
    from lamina.store import Store

    with pytest.raises(InvalidInput, match="none, host or private"):
        containers.run(Store(tmp_path / "store"), "nope", ["true"], network="bridge")
