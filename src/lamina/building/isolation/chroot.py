"""Running a `RunSpec` without an OCI runtime: new mount, PID, IPC, UTS (and network)
namespaces, the usual mounts made inside them, then chroot. A private network is a
namespace made beforehand with slirp4netns serving it (`slirp.HeldNetns`), joined.

No helper program is started: this process forks a keeper, which unshares the namespaces
and forks the command's process, PID 1 of the new PID namespace; that one makes the mounts
with plain system calls and execs the command (a second Python would cost 0.1-0.2 s). The
mounts live in the private mount namespace and vanish with it. PID 1 dies with the keeper
(PR_SET_PDEATHSIG), and the kernel kills the rest of the namespace with PID 1, so killing
the keeper kills the whole tree, which a timeout or KeyboardInterrupt does.

Between fork and exec the children run only os-level calls prepared beforehand (no
imports, no logging, no buffered writes), as `subprocess`'s `preexec_fn` would.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import signal
import socket
import struct
import subprocess
from pathlib import Path
from typing import Any

from lamina.building.isolation.mountpoints import MountPoints, ensure_for
from lamina.building.isolation.oci import Stdio
from lamina.building.isolation.slirp import HeldNetns
from lamina.building.isolation.spec import RunSpec
from lamina.building.rootfs.overlay import libc, sys_mount
from lamina.errors import BuildError, InvalidInput

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 0x40000
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1
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
    killed by signal N). Mount targets it creates in the root are removed afterwards.
    `bundle` is unused (the other isolation's signature)."""
    if os.geteuid() != 0:
        raise BuildError("chroot isolation needs root; use the OCI runtime rootless")
    points = MountPoints(spec.rootfs)
    for dest in ("/proc", "/dev", "/sys"):
        points.ensure(dest)
    for dest, src in (("/etc/hosts", spec.hosts), ("/etc/resolv.conf", spec.resolv)):
        if src is not None:
            points.ensure(dest, is_dir=False)
    ensure_for(points, spec.mounts)
    held: HeldNetns | None = None
    try:
        cfg = _to_json(spec)
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        if spec.network == "private":
            held = HeldNetns(host_loopback=spec.host_loopback)
            cfg["netns_fd"] = held.fd
        elif cfg["private_net"]:
            flags |= CLONE_NEWNET
        with _Stdio(stdin, stdout, stderr) as fds:
            libc()  # loaded before fork: the children must not dlopen
            pid = os.fork()
            if pid == 0:
                _keeper(cfg, flags, fds.fds)  # never returns
        try:
            code = _wait(pid, timeout)
        except TimeoutError:
            _kill(pid)
            raise BuildError(
                f"running {spec.argv[0]}: timed out after {timeout:g}s; the process tree was killed"
            ) from None
        except BaseException:
            _kill(pid)
            raise
        return code if code >= 0 else 128 - code
    finally:
        if held is not None:
            held.close()
        points.cleanup()


class _Stdio:
    """The three descriptors the command gets, as `subprocess` takes them (None: this
    process's own; stdin None: /dev/null; stderr STDOUT: the same as stdout)."""

    def __init__(self, stdin: Stdio, stdout: Stdio, stderr: Stdio) -> None:
        self._opened: list[int] = []
        self.fds: list[int | None] = [
            self._fd(stdin if stdin is not None else subprocess.DEVNULL, 0),
            self._fd(stdout, 1),
        ]
        self.fds.append(self.fds[1] if stderr == subprocess.STDOUT else self._fd(stderr, 2))
        if stderr == subprocess.STDOUT and self.fds[1] is None:
            self.fds[2] = 1

    def _fd(self, s: Stdio, n: int) -> int | None:
        if s is None:
            return None
        if s == subprocess.DEVNULL:
            fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            self._opened.append(fd)
            return fd
        if isinstance(s, int):
            if s < 0:
                raise InvalidInput(f"chroot isolation: stdio {s} is not supported (pass a fd)")
            return s
        return s.fileno()

    def __enter__(self) -> _Stdio:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._opened:
            os.close(fd)


def _wait(pid: int, timeout: float | None) -> int:
    """The exit code of child `pid` (negative: killed by that signal); TimeoutError."""
    if timeout is not None:
        pidfd = os.pidfd_open(pid)
        try:
            if not select.select([pidfd], [], [], timeout)[0]:
                raise TimeoutError
        finally:
            os.close(pidfd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


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
        "netns_fd": -1,  # a namespace to join instead of a new one
        "max_fd": os.sysconf("SC_OPEN_MAX"),
        "hosts": str(spec.hosts) if spec.hosts else None,
        "resolv": str(spec.resolv) if spec.resolv else None,
        "mounts": [
            {
                "type": m.type,
                "source": m.source,
                "dest": m.destination,
                "options": m.options,
                "dir": m.type == "tmpfs" or os.path.isdir(m.source),  # else a file
            }
            for m in spec.mounts
        ],
    }


# -- the children: the keeper, and PID 1 of the new namespaces ---------------------------


def _check(rc: int, what: str) -> int:
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return rc


def _lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # close-on-exec
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, req))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS, UP


def _make_target(dev: str, path: str, is_dir: bool) -> None:
    """Create mount target `path` (a directory or an empty file, with missing parents) in
    the run's own /dev `dev`, which hides the one made in the root, as runc does; a
    symlink or `..` on the way is refused (the target stays inside /dev)."""
    parts = [p for p in path[len(dev) + 1 :].split("/") if p not in ("", ".")]
    cur = dev
    for i, part in enumerate(parts):
        cur = f"{cur}/{part}"
        if part == ".." or os.path.islink(cur):
            raise OSError(f"mount target {path[len(dev) - 4 :]}: a symlink or '..' in /dev")
        if os.path.lexists(cur):
            continue
        if is_dir or i < len(parts) - 1:
            os.mkdir(cur, 0o755)
        else:
            os.close(os.open(cur, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _bind(src: str, dst: str, *, ro: bool = False, rec: bool = True) -> None:
    sys_mount(src, dst, None, MS_BIND | (MS_REC if rec else 0), None)
    if ro:
        sys_mount("none", dst, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)


def _setup(cfg: dict[str, Any]) -> None:
    root = cfg["rootfs"]
    sys_mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # nothing leaks back
    sys_mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    dev = f"{root}/dev"
    sys_mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=65536k")
    for name in _DEVICES:
        os.close(os.open(f"{dev}/{name}", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
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
        if dst.startswith(f"{dev}/"):
            _make_target(dev, dst, m["dir"])
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


def _say(msg: str) -> None:
    try:
        os.write(2, f"lamina chroot: {msg}\n".encode(errors="replace"))
    except OSError:
        pass


def _keeper(cfg: dict[str, Any], flags: int, fds: list[int | None]) -> None:
    """The first child: take the command's stdio, unshare, fork PID 1, wait for it and exit
    with its status (128+N if it was killed by signal N). Never returns."""
    code = CHILD_FAILED
    try:
        dups = [os.dup(fd) if fd is not None else None for fd in fds]
        for n, fd in enumerate(dups):
            if fd is not None:
                os.dup2(fd, n)
                os.close(fd)
        if cfg["netns_fd"] >= 0:
            _check(libc().setns(cfg["netns_fd"], CLONE_NEWNET), "setns")
        _check(libc().unshare(flags), "unshare")
        alive_r, alive_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(alive_w)
            _init(cfg, alive_r)  # never returns
        os.close(alive_r)
        # Like unshare(1) --fork: the terminal's ^C goes to the command, not to us.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = code if code >= 0 else 128 - code
    except BaseException as exc:  # a forked child must never return
        _say(f"setting up the container: {exc}")
    finally:
        os._exit(code)


def _init(cfg: dict[str, Any], alive: int) -> None:
    """PID 1 of the new namespaces: die with the keeper, set up the root, exec. Never
    returns."""
    try:
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if select.select([alive], [], [], 0)[0]:  # EOF: the keeper died before prctl
            os._exit(CHILD_FAILED)
        _setup(cfg)
    except BaseException as exc:  # a forked child must never return
        _say(f"setting up the container: {exc}")
        os._exit(CHILD_FAILED)
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; exec keeps that
            signal.signal(sig, signal.SIG_DFL)
        env = dict(e.partition("=")[::2] for e in cfg["env"])
        os.closerange(3, cfg["max_fd"])
        os.execvpe(cfg["argv"][0], cfg["argv"], env)
    except OSError as exc:
        _say(f"running {cfg['argv'][0]}: {exc.strerror}")
    except BaseException as exc:
        _say(f"running {cfg['argv'][0]}: {exc}")
    os._exit(127)
