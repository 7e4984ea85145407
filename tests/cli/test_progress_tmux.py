"""Issue 15 item 8: `lamina copy`'s progress on a real 80-column terminal (tmux), read back
with capture-pane: the summary lines come once each, below the finished bars; the config
is labelled `config`; sizes are binary (MiB) as podman writes them; a blob whose bytes have
all passed but that is not yet done says so instead of sitting silently at 100 %."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.ops.images import image_layout

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux")

DONE = "LAMINA-TMUX-DONE"


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A private tmux server (its own socket) and a session name; killed afterwards."""
    sock = ["tmux", "-S", str(tmp_path / "tmux.sock")]
    try:
        yield "copy", sock
    finally:
        subprocess.run([*sock, "kill-server"], capture_output=True, check=False)


def run_on_terminal(tmux: tuple[str, list[str]], argv: list[str], env: dict[str, str]) -> str:
    """Run `argv` in an 80x30 tmux pane; return the screen once it has finished."""
    name, sock = tmux
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = f"env {exports} {shlex.join(argv)}; echo {DONE}=$?; sleep 30"
    subprocess.run(
        [*sock, "new-session", "-d", "-s", name, "-x", "80", "-y", "30", command], check=True
    )
    deadline = time.monotonic() + 60
    screen = ""
    while time.monotonic() < deadline:
        screen = subprocess.run(
            [*sock, "capture-pane", "-p", "-J", "-t", name],  # -J: wrapped lines joined
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if DONE in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"no end after 60 s:\n{screen}")


def lamina_argv(*args: str) -> list[str]:
    return [shutil.which("lamina") or "lamina", *args]


def check_finished_screen(screen: str, destination: str) -> list[str]:
    lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
    assert f"{DONE}=0" in lines, screen
    bars = [i for i, line in enumerate(lines) if line.startswith("Copying ")]
    assert all(len(lines[i]) <= 80 for i in bars), screen
    config = [lines[i] for i in bars if lines[i].startswith("Copying config ")]
    blobs = [lines[i] for i in bars if lines[i].startswith("Copying blob ")]
    assert len(config) == 1 and len(blobs) == 1, screen
    written = [i for i, line in enumerate(lines) if line == "Writing manifest to image destination"]
    copied = [i for i, line in enumerate(lines) if line.startswith(f"Copied to {destination}")]
    assert len(written) == 1 and len(copied) == 1, screen
    assert max(bars) < written[0] < copied[0], screen
    assert "MiB" in blobs[0] and " MB" not in screen and " kB" not in screen, screen
    assert "done" in blobs[0] and "done" in config[0], screen
    return lines


@pytest.mark.parametrize("dest", ["oci", "lamina"])
def test_copy_progress_on_an_80_column_terminal(
    tmux: tuple[str, list[str]], tmp_path: Path, dest: str
) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=815, payload=12_000_000)
    destination = f"oci:{tmp_path / 'dst'}:v1" if dest == "oci" else "lamina:localhost/tmux:1"
    env = {"LAMINA_ROOT": str(tmp_path / "store"), "TERM": "xterm-256color"}
    argv = lamina_argv("copy", f"oci:{layout}:v1", destination)
    check_finished_screen(run_on_terminal(tmux, argv, env), destination)


def test_skipped_config_is_labelled_config(tmux: tuple[str, list[str]], tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=816)
    destination = f"oci:{tmp_path / 'dst'}:v1"
    copy(f"oci:{layout}:v1", destination, None)
    env = {"LAMINA_ROOT": str(tmp_path / "store")}
    screen = run_on_terminal(tmux, lamina_argv("copy", f"oci:{layout}:v1", destination), env)
    config = img.manifest().config.digest.hex[:12]
    assert f"Copying config {config} skipped: already exists" in screen, screen
    assert f"Copying blob {config}" not in screen, screen
