"""Running a `RunSpec` without an OCI runtime: new mount, PID, IPC, UTS (and network)
namespaces via `unshare`, the usual mounts made inside them, then chroot.

The child is this module run as PID 1 of the new PID namespace (`python -m`); its mounts
live in its private mount namespace and vanish with it. `unshare --kill-child` makes
killing `unshare` kill the whole tree, which a timeout or KeyboardInterrupt does.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from lamina.build.isolation.mountpoints import MountPoints, ensure_for
from lamina.build.isolation.oci import Stdio
from lamina.build.isolation.spec import RunSpec
from lamina.build.rootfs.overlay import sys_mount
from lamina.errors import BuildError

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
_DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
CHILD_FAILED = 125


def run_chroot(
    spec: RunSpec,
    bundle: Path,
    *,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
    timeout: float | None = None,
) -> int:
    """Run `spec` chrooted in new namespaces (root only); returns the exit code (128+N if
    killed by signal N). Mount targets it creates in the root are removed afterwards."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise BuildError("chroot isolation needs unshare(1) from util-linux")
    if os.geteuid() != 0:
        raise BuildError("chroot isolation needs root; use the OCI runtime rootless")
    points = MountPoints(spec.rootfs)
    for dest in ("/proc", "/dev", "/sys"):
        points.ensure(dest)
    for dest, src in (("/etc/hosts", spec.hosts), ("/etc/resolv.conf", spec.resolv)):
        if src is not None:
            points.ensure(dest, is_dir=False)
    ensure_for(points, spec.mounts)
    try:
        cfg = bundle / "chroot.json"
        cfg.write_text(json.dumps(_to_json(spec)))
        flags = ["--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child=SIGKILL"]
        if spec.network != "host":
            flags.append("--net")
        argv = [unshare, *flags, "--", sys.executable, "-m", __name__, str(cfg)]
        proc = subprocess.Popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise BuildError(
                f"running {spec.argv[0]}: timed out after {timeout:g}s; the process tree was killed"
            ) from None
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        return code if code >= 0 else 128 - code
    finally:
        points.cleanup()


def _to_json(spec: RunSpec) -> dict[str, Any]:
    return {
        "argv": list(spec.argv),
        "rootfs": str(spec.rootfs),
        "env": list(spec.env),
        "cwd": spec.cwd,
        "uid": spec.uid,
        "gid": spec.gid,
        "groups": list(spec.groups),
        "hostname": spec.hostname,
        "private_net": spec.network != "host",
        "hosts": str(spec.hosts) if spec.hosts else None,
        "resolv": str(spec.resolv) if spec.resolv else None,
        "mounts": [
            {"type": m.type, "source": m.source, "dest": m.destination, "options": m.options}
            for m in spec.mounts
        ],
    }


# -- the child, PID 1 of the new namespaces ----------------------------------------------


def _lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), 0x8913, req))[1]
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH14x", b"lo", flags | 1))


def _bind(src: str, dst: str, *, ro: bool = False, rec: bool = True) -> None:
    sys_mount(src, dst, None, MS_BIND | (MS_REC if rec else 0), None)
    if ro:
        sys_mount("none", dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def _setup(cfg: dict[str, Any]) -> None:
    root = cfg["rootfs"]
    sys_mount("none", "/", None, MS_REC | 0x40000, None)  # MS_PRIVATE: nothing leaks back
    sys_mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    dev = f"{root}/dev"
    sys_mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=65536k")
    for name in _DEVICES:
        Path(f"{dev}/{name}").touch()
        _bind(f"/dev/{name}", f"{dev}/{name}", rec=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        os.symlink(target, f"{dev}/{name}")
    for d in ("pts", "shm"):
        os.mkdir(f"{dev}/{d}")
    sys_mount("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666")
    sys_mount("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777")
    if cfg["private_net"]:
        sys_mount("sysfs", f"{root}/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | 1, None)
        _lo_up()
    else:
        _bind("/sys", f"{root}/sys", ro=True)
    for key, dest in (("hosts", "etc/hosts"), ("resolv", "etc/resolv.conf")):
        if cfg[key]:
            _bind(cfg[key], f"{root}/{dest}", rec=False)
    for m in cfg["mounts"]:
        dst = f"{root}/{m['dest'].lstrip('/')}"
        if m["type"] == "tmpfs":
            opts = [o for o in m["options"] if "=" in o]
            ro = MS_RDONLY if "ro" in m["options"] else 0
            sys_mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV | ro, ",".join(opts) or None)
        else:
            _bind(m["source"], dst, ro="ro" in m["options"])
    socket.sethostname(cfg["hostname"])
    os.chroot(root)
    os.chdir(cfg["cwd"])
    os.setgroups(cfg["groups"])
    os.setgid(cfg["gid"])
    os.setuid(cfg["uid"])


def _child(path: str) -> None:
    cfg = json.loads(Path(path).read_text())
    try:
        _setup(cfg)
    except OSError as exc:
        print(f"lamina chroot: setting up the container: {exc}", file=sys.stderr)
        os._exit(CHILD_FAILED)
    env = dict(e.partition("=")[::2] for e in cfg["env"])
    try:
        os.execvpe(cfg["argv"][0], cfg["argv"], env)
    except OSError as exc:
        print(f"lamina chroot: running {cfg['argv'][0]}: {exc.strerror}", file=sys.stderr)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(127)


if __name__ == "__main__":
    _child(sys.argv[1])
