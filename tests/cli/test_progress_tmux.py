# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""Issue 15 item 8: `lamina copy`'s progress on a real 80-column terminal (tmux), read back
with capture-pane: the summary lines come once each, below the finished bars; the config
is labelled `config`; sizes are binary (MiB) as podman writes them; a blob whose bytes have
all passed but that is not yet done says so instead of sitting silently at 100 %."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shlex
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg, no_user_config  # noqa: F401  (fixtures)
from tests.ops.images import image_layout
from tests.server.servers import Server

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux")

DONE = "LAMINA-TMUX-DONE"
FULL = re.compile(r" ([\d.]+)/\1 (bytes|KiB|MiB|kB|MB)\b")  # a bar whose bytes all passed


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


@needs_tmux
@pytest.mark.parametrize("dest", ["oci", "lamina"])
def test_copy_progress_on_an_80_column_terminal(
    tmux: tuple[str, list[str]], tmp_path: Path, dest: str
) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=815, payload=12_000_000)
    destination = f"oci:{tmp_path / 'dst'}:v1" if dest == "oci" else "lamina:localhost/tmux:1"
    env = {"LAMINA_ROOT": str(tmp_path / "store"), "TERM": "xterm-256color"}
    argv = lamina_argv("copy", f"oci:{layout}:v1", destination)
    check_finished_screen(run_on_terminal(tmux, argv, env), destination)


@needs_tmux
def test_skipped_config_is_labelled_config(tmux: tuple[str, list[str]], tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=816)
    destination = f"oci:{tmp_path / 'dst'}:v1"
    copy(f"oci:{layout}:v1", destination, None)
    env = {"LAMINA_ROOT": str(tmp_path / "store")}
    screen = run_on_terminal(tmux, lamina_argv("copy", f"oci:{layout}:v1", destination), env)
    config = img.manifest().config.digest.hex[:12]
    assert f"Copying config {config} skipped: already exists" in screen, screen
    assert f"Copying blob {config}" not in screen, screen


class Zeros(io.RawIOBase):
    """`size` zero bytes, read without holding them."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def zeros_layout(root: Path, size: int) -> Path:
    """An OCI layout (tag v1) of one gzip layer holding `size` zero bytes: small to move,
    slow to unpack, so the store's work after the last byte takes a while."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    raw = root / "layer.tar"
    with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("zeros")
        info.size = size
        tar.addfile(info, Zeros(size))
    diff_id = hashlib.sha256()
    with (
        raw.open("rb") as src,
        (root / "layer.gz").open("wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as gz,
    ):
        while chunk := src.read(1 << 20):
            diff_id.update(chunk)
            gz.write(chunk)
    raw.unlink()

    def put(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    layer = put((root / "layer.gz").read_bytes(), "application/vnd.oci.image.layer.v1.tar+gzip")
    (root / "layer.gz").unlink()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id.hexdigest()}"]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": put(json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
        "layers": [layer],
    }
    desc = put(json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    return root


@needs_tmux
def test_no_silent_pause_after_the_bars_are_full(
    tmux: tuple[str, list[str]], tmp_path: Path
) -> None:
    """While lamina still works after every bar is full (the store unpacks the layer), the
    screen's last line says what it is doing: a bar `finishing`, `Writing manifest…` (or,
    as the process ends, `Copied to…`), never a full bar with nothing after it."""
    layout = zeros_layout(tmp_path / "zeros", 256 << 20)
    name, sock = tmux
    env = {"LAMINA_ROOT": str(tmp_path / "store")}
    argv = lamina_argv("copy", f"oci:{layout}:v1", "lamina:localhost/zeros:1")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    command = f"env {exports} {shlex.join(argv)}; echo {DONE}=$?; sleep 30"
    subprocess.run(
        [*sock, "new-session", "-d", "-s", name, "-x", "80", "-y", "30", command], check=True
    )
    deadline = time.monotonic() + 60
    waiting: list[str] = []  # last lines seen while every bar was full and work went on
    while time.monotonic() < deadline:
        screen = subprocess.run(
            [*sock, "capture-pane", "-p", "-J", "-t", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if DONE in screen:
            break
        lines = [line.rstrip() for line in screen.splitlines() if line.strip()]
        bars = [line for line in lines if line.startswith("Copying ")]
        if len(bars) == 2 and all(FULL.search(b) for b in bars):
            waiting.append(lines[-1])
        time.sleep(0.05)
    assert f"{DONE}=0" in screen, screen
    assert waiting, "never saw the work after the last byte"
    saying = ("Writing manifest to image destination", "Copied to lamina:localhost/zeros:1 ")
    for last in waiting:
        assert last.startswith(saying) or last.endswith("finishing"), waiting


@needs_tmux
def test_pull_all_tags_gives_each_image_its_bars_and_summary(
    tmux: tuple[str, list[str]], tmp_path: Path, lamina_reg: Server, no_user_config: Path
) -> None:
    repo = f"{lamina_reg.host}/tmux/app"
    for tag, seed in (("1", 817), ("2", 818)):
        layout, _ = image_layout(tmp_path, f"src{tag}", seed=seed, payload=3_000_000)
        copy(f"oci:{layout}:v1", f"docker://{repo}:{tag}", None)
    env = {"LAMINA_ROOT": str(tmp_path / "store")}
    argv = lamina_argv("pull", "--tls-verify=false", "--all-tags", repo)
    lines = [line.rstrip() for line in run_on_terminal(tmux, argv, env).splitlines()]
    written = [i for i, line in enumerate(lines) if line == "Writing manifest to image destination"]
    copied = [i for i, line in enumerate(lines) if line.startswith(f"Copied to lamina:{repo}:")]
    bars = [i for i, line in enumerate(lines) if line.startswith("Copying blob ")]
    assert len(written) == 2 and len(copied) == 2 and len(bars) == 2, lines
    # each image: its bar, then its summary lines
    assert bars[0] < written[0] < copied[0] < bars[1] < written[1] < copied[1], lines


def test_plain_lines_off_a_terminal_use_binary_units(lamina: Run, tmp_path: Path) -> None:
    """Off a terminal (stderr is a pipe) the same events come as plain lines, in MiB."""
    layout, _ = image_layout(tmp_path, "src", seed=819, payload=3_000_000)
    r = lamina("copy", f"oci:{layout}:v1", f"oci:{tmp_path / 'dst'}:v1")
    assert r.code == 0, r.err
    lines = r.err.splitlines()
    blobs = [x for x in lines if x.startswith("Copying blob ")]
    configs = [x for x in lines if x.startswith("Copying config ")]
    assert len(blobs) == 1 and re.fullmatch(r"Copying blob [0-9a-f]{12} \(2\.\d MiB\)", blobs[0])
    assert len(configs) == 1 and re.fullmatch(
        r"Copying config [0-9a-f]{12} \(\d+ bytes\)", configs[0]
    )
    assert lines[-2] == "Writing manifest to image destination", lines
    assert lines[-1].startswith(f"Copied to oci:{tmp_path / 'dst'}:v1 (sha256:"), lines
    assert " MB" not in r.err and " kB" not in r.err
