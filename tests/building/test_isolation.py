"""Running commands in a root filesystem with runc and with chroot + namespaces."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from lamina.building.isolation.choose import Isolation, choose
from lamina.building.isolation.mountpoints import write_run_files
from lamina.building.isolation.oci import runtime_spec
from lamina.building.isolation.spec import (
    RunSpec,
    find_executable,
    parse_mount,
    parse_volume,
    resolve_in_root,
    resolve_user,
)
from lamina.errors import BuildError, InvalidInput, NotFound
from tests.building.trees import busybox_rootfs, tree

ENV = ("PATH=/bin",)


@pytest.fixture(params=["oci", "chroot"])
def iso(request: pytest.FixtureRequest) -> Isolation:
    return choose(str(request.param))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return busybox_rootfs(tmp_path / "root")


def run(
    iso: Isolation,
    root: Path,
    script: str,
    tmp_path: Path,
    *,
    timeout: float | None = None,
    env: tuple[str, ...] = ENV,
    **kw: Any,
) -> tuple[int, str]:
    bundle = tmp_path / f"bundle-{time.monotonic_ns()}"
    bundle.mkdir()
    hosts, resolv = write_run_files(bundle, "box")
    out = tmp_path / "out.txt"
    spec = RunSpec(
        argv=("sh", "-c", script), rootfs=root, env=env, hosts=hosts, resolv=resolv, **kw
    )
    with open(out, "wb") as f:
        code = iso.run(spec, bundle, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    return code, out.read_text()


@pytest.mark.root
def test_exit_code_and_output(iso: Isolation, root: Path, tmp_path: Path) -> None:
    before = tree(root)
    code, out = run(iso, root, "echo hello; hostname; exit 7", tmp_path)
    assert (code, out) == (7, "hello\nlamina\n")
    code, _ = run(iso, root, "exit 255", tmp_path)
    assert code == 255
    # Mount points made for the run (/proc, /dev, /sys, /etc/hosts...) are gone again.
    assert tree(root) == before


@pytest.mark.root
def test_stdin_fds_and_missing_command(iso: Isolation, root: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    src = tmp_path / "in.txt"
    src.write_text("from stdin\n")
    out = tmp_path / "o.txt"
    spec = RunSpec(argv=("sh", "-c", "cat; ls /proc/self/fd | wc -l"), rootfs=root, env=ENV)
    with open(src, "rb") as i, open(out, "wb") as o:
        assert iso.run(spec, bundle, stdin=i, stdout=o, stderr=subprocess.STDOUT) == 0
    # stdin, stdout, stderr and the fd `ls` reads: nothing else of this process leaks in.
    assert out.read_text().split("\n")[:2] == ["from stdin", "4"]
    if iso.kind == "chroot":
        spec = RunSpec(argv=("/bin/nonesuch",), rootfs=root, env=ENV)
        with open(out, "wb") as o:
            assert iso.run(spec, bundle, stdout=o, stderr=o) == 127
        assert "nonesuch" in out.read_text()


@pytest.mark.root
def test_cannot_see_host_processes(iso: Isolation, root: Path, tmp_path: Path) -> None:
    marker = subprocess.Popen(["sleep", "30.123"])
    try:
        code, out = run(iso, root, "ps -o pid,args; ls /proc | grep -c '^[0-9]'", tmp_path)
    finally:
        marker.kill()
        marker.wait()
    assert code == 0
    assert "30.123" not in out and "pytest" not in out
    assert int(out.split()[-1]) < 10


@pytest.mark.root
def test_cannot_write_outside_root(iso: Isolation, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("host\n")
    script = f"cat {outside} 2>/dev/null || echo no-host-file; cd /../../..; "
    script += f"mkdir -p {tmp_path}; echo escaped > {outside}; echo x > ../../esc; pwd"
    code, out = run(iso, root, script, tmp_path)
    assert code == 0, out
    assert outside.read_text() == "host\n"
    assert out.split() == ["no-host-file", "/"]
    assert (root / "esc").read_text() == "x\n"
    assert (root / str(outside).lstrip("/")).read_text() == "escaped\n"


@pytest.mark.root
def test_network_none_has_only_lo(iso: Isolation, root: Path, tmp_path: Path) -> None:
    code, out = run(iso, root, "tail -n +3 /proc/net/dev | cut -d: -f1", tmp_path)
    assert code == 0
    assert out.split() == ["lo"]
    host_ifaces = Path("/proc/net/dev").read_text().splitlines()[2:]
    code, out = run(iso, root, "tail -n +3 /proc/net/dev | wc -l", tmp_path, network="host")
    assert int(out) == len(host_ifaces)


@pytest.mark.root
def test_user_env_cwd_and_mounts(iso: Isolation, root: Path, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in").write_text("from host\n")
    uid, gid, groups = resolve_user(root, "alice")
    assert (uid, gid) == (1000, 1000)
    (root / "work").mkdir()
    os.chown(root / "work", 1000, 1000)
    mounts = (
        parse_volume(f"{vol}:/mnt/vol:ro"),
        parse_mount("type=tmpfs,target=/scratch,tmpfs-mode=1777"),
    )
    script = (
        "id -u; id -g; pwd; echo $FOO; cat /mnt/vol/in; touch /mnt/vol/x 2>/dev/null || echo ro; "
    )
    script += "touch /scratch/t && echo tmpfs-ok; cat /etc/hosts | grep box"
    code, out = run(
        iso,
        root,
        script,
        tmp_path,
        uid=uid,
        gid=gid,
        groups=groups,
        cwd="/work",
        mounts=mounts,
        env=(*ENV, "FOO=bar baz"),
    )
    lines = out.splitlines()
    assert code == 0, out
    assert lines[:4] == ["1000", "1000", "/work", "bar baz"]
    assert "from host" in lines and "ro" in lines and "tmpfs-ok" in lines, out
    assert any("box" in line for line in lines)
    assert not (vol / "x").exists()
    assert not (root / "mnt").exists() and not (root / "scratch").exists()


@pytest.mark.root
def test_mounts_under_dev(iso: Isolation, root: Path, tmp_path: Path) -> None:
    """Targets under /dev are made in the run's own /dev (runc does; chroot too), and
    nothing made for them stays in the root."""
    (tmp_path / "file").write_text("a file\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "in").write_text("in a dir\n")
    before = tree(root)
    mounts = (
        parse_mount(f"type=bind,source={tmp_path / 'file'},target=/dev/pipes/f,ro"),
        parse_volume(f"{tmp_path / 'dir'}:/dev/sub/d"),
        parse_mount("type=tmpfs,target=/dev/t"),
    )
    script = "cat /dev/pipes/f /dev/sub/d/in && touch /dev/t/x && ls /dev/null /dev/shm"
    code, out = run(iso, root, script, tmp_path, mounts=mounts)
    assert code == 0, out
    assert out.startswith("a file\nin a dir\n")
    assert tree(root) == before


@pytest.mark.root
def test_timeout_kills_the_tree(iso: Isolation, root: Path, tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(BuildError, match="timed out"):
        run(iso, root, "sleep 40.5 & sleep 41.5; wait", tmp_path, timeout=1.0)
    assert time.monotonic() - start < 15
    time.sleep(0.2)
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert b"40.5" not in cmd and b"41.5" not in cmd, cmd


def test_user_resolution(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nbob:x:7:8::/:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nbobs:x:8:\nwheel:x:10:bob\nstaff:x:50:\n")
    assert resolve_user(root, "") == (0, 0, ())
    assert resolve_user(root, "bob") == (7, 8, (10,))
    assert resolve_user(root, "7") == (7, 8, (10,))
    assert resolve_user(root, "bob:staff") == (7, 50, (50,))  # the named group, as buildah
    assert resolve_user(root, "123:45") == (123, 45, (45,))
    with pytest.raises(BuildError, match="nobody"):
        resolve_user(root, "nobody")
    with pytest.raises(BuildError, match="nogroup"):
        resolve_user(root, "bob:nogroup")


def test_lookups_stay_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "bin").mkdir(parents=True)
    os.symlink("/../../../outside", root / "etc")
    assert resolve_in_root(root, "/etc/passwd") == root / "outside" / "passwd"
    os.symlink("loop", root / "loop")
    with pytest.raises(InvalidInput, match="too many levels"):
        resolve_in_root(root, "/loop/x")
    os.symlink("/bin/true", root / "bin" / "escape")
    with pytest.raises(BuildError, match="not found"):
        find_executable(root, "escape", ENV)
    with pytest.raises(BuildError, match="not found in the container's PATH"):
        find_executable(root, "nonexistent", ENV)


def test_volume_and_mount_parsing(tmp_path: Path) -> None:
    m = parse_volume(f"{tmp_path}:/data:ro")
    assert (m.type, m.source, m.destination, m.options) == (
        "bind",
        str(tmp_path),
        "/data",
        ("rbind", "ro"),
    )
    t = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=700")
    assert t.type == "tmpfs" and "size=1m" in t.options and "mode=700" in t.options
    for bad in ("nocolon", f"{tmp_path}:rel", f"{tmp_path}:/d:bogus"):
        with pytest.raises(InvalidInput):
            parse_volume(bad)
    with pytest.raises(NotFound):
        parse_volume("/does/not/exist:/d")
    with pytest.raises(InvalidInput):
        parse_mount("type=nfs,target=/x")
    with pytest.raises(InvalidInput):
        parse_mount("type=bind,target=/x")


def test_runtime_spec_namespaces(tmp_path: Path) -> None:
    spec = RunSpec(argv=("true",), rootfs=tmp_path, network="host", uid=5)
    cfg = runtime_spec(spec)
    kinds = {n["type"] for n in cfg["linux"]["namespaces"]}
    assert kinds == {"pid", "ipc", "uts", "mount"}
    assert cfg["process"]["capabilities"]["bounding"] == []
    rootless = runtime_spec(RunSpec(argv=("true",), rootfs=tmp_path), rootless=True)
    kinds = {n["type"] for n in rootless["linux"]["namespaces"]}
    assert kinds == {"pid", "ipc", "uts", "mount", "network", "user"}
    assert rootless["linux"]["uidMappings"][0] == {
        "containerID": 0,
        "hostID": os.geteuid(),
        "size": 1,
    }


def test_choose_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMINA_ISOLATION", raising=False)
    auto = choose()
    assert auto.kind in ("oci", "chroot") and auto.reason
    with pytest.raises(InvalidInput):
        choose("vm")
    monkeypatch.setenv("LAMINA_ISOLATION", "chroot")
    if os.geteuid() == 0:
        assert choose().kind == "chroot"
