"""Running a `RunSpec` with an OCI runtime (runc): config.json generation and the run.

The spec follows `runc spec` (rootful) and `runc spec --rootless`, with buildah's default
capabilities for RUN steps. The runtime's state lives in a private `--root` directory;
a timeout or KeyboardInterrupt kills the whole container (`runc kill ID KILL`), and the
container is always deleted (`runc delete -f ID`) before `run` returns.

The spec holds the process environment, build secrets (`RUN --mount=type=secret,env=`)
included, so it never lands in a file: `config.json` is a FIFO (mode 0600) that a thread of
this process feeds while runc reads it, once, at start. runc's own state (`state.json`)
keeps no process environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import IO, Any

from lamina.building.isolation.mountpoints import MountPoints, ensure_for
from lamina.building.isolation.slirp import NetnsHook, Slirp
from lamina.building.isolation.spec import RunSpec
from lamina.errors import BuildError

CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
]
MASKED = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
]
READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

Stdio = int | IO[Any] | None


def _id_mappings(kind: str, host_id: int, name: str) -> list[dict[str, int]]:
    maps = [{"containerID": 0, "hostID": host_id, "size": 1}]
    try:
        lines = Path(f"/etc/sub{kind}").read_text().splitlines()
    except OSError:
        return maps
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (name, str(host_id)) and parts[1].isdigit():
            maps.append({"containerID": 1, "hostID": int(parts[1]), "size": int(parts[2])})
            break
    return maps


def runtime_spec(spec: RunSpec, *, rootless: bool = False) -> dict[str, Any]:
    """The config.json for `spec`. Rootless: a user namespace mapping container root to the
    caller (plus its /etc/subuid and /etc/subgid ranges when present), /sys bind-mounted."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount")]
    if spec.network != "host":
        namespaces.append({"type": "network"})
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
            + ([] if rootless else ["gid=5"]),
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
    ]
    if rootless:
        mounts.append(
            {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        )
    else:
        mounts.append(
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            }
        )
    for dest, src in (("/etc/hosts", spec.hosts), ("/etc/resolv.conf", spec.resolv)):
        if src is not None:
            mounts.append(
                {"destination": dest, "type": "bind", "source": str(src), "options": ["bind"]}
            )
    for m in spec.mounts:
        mounts.append(
            {
                "destination": m.destination,
                "type": "bind" if m.type == "bind" else "tmpfs",
                "source": m.source,
                "options": list(m.options),
            }
        )
    user: dict[str, Any] = {"uid": spec.uid, "gid": spec.gid}
    if spec.groups:
        user["additionalGids"] = list(spec.groups)
    caps = CAPABILITIES if spec.uid == 0 else []
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "maskedPaths": MASKED,
        "readonlyPaths": READONLY,
    }
    if rootless:
        linux["namespaces"].append({"type": "user"})
        name = _login_name()
        linux["uidMappings"] = _id_mappings("uid", os.geteuid(), name)
        linux["gidMappings"] = _id_mappings("gid", os.getegid(), name)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": user,
            "args": list(spec.argv),
            "env": list(spec.env),
            "cwd": spec.cwd,
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": hard, "soft": soft}],
            "noNewPrivileges": False,
        },
        "root": {"path": str(spec.rootfs), "readonly": False},
        "hostname": spec.hostname,
        "mounts": mounts,
        "linux": linux,
    }


def _login_name() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


def runc_binary() -> str | None:
    return shutil.which("runc")


def run_oci(
    spec: RunSpec,
    bundle: Path,
    *,
    rootless: bool = False,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
    timeout: float | None = None,
) -> int:
    """Run `spec` with runc in the empty dir `bundle`; returns the command's exit code
    (128+N if killed by signal N). Missing mount targets are created in the root and
    removed afterwards."""
    runc = runc_binary()
    if runc is None:
        raise BuildError("the OCI runtime runc is not installed (use chroot isolation)")
    state = bundle / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    points = MountPoints(spec.rootfs)
    cid = f"lamina-{uuid.uuid4().hex[:16]}"
    base = [runc, "--root", str(state)]
    try:
        for dest in ("/proc", "/dev", "/sys"):
            points.ensure(dest)
        for dest, src in (("/etc/hosts", spec.hosts), ("/etc/resolv.conf", spec.resolv)):
            if src is not None:
                points.ensure(dest, is_dir=False)
        ensure_for(points, spec.mounts)
        config = runtime_spec(spec, rootless=rootless)
        hook = (
            NetnsHook(bundle, host_loopback=spec.host_loopback)
            if spec.network == "private"
            else None
        )
        if hook is not None:
            config["hooks"] = hook.hooks()
        feed = _SpecFeed(bundle / "config.json", json.dumps(config))
        slirp: Slirp | None = None
        try:
            proc = subprocess.Popen(
                [*base, "run", "--bundle", str(bundle), cid],
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                if hook is not None:
                    slirp = hook.attach(proc)
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill(base, cid, proc)
                raise BuildError(
                    f"running {spec.argv[0]}: timed out after {timeout:g}s; "
                    "the container was killed"
                ) from None
            except BaseException:
                _kill(base, cid, proc)
                raise
        finally:
            feed.close()
            if slirp is not None:
                slirp.close()
            if hook is not None:
                hook.close()
        return code if code >= 0 else 128 - code
    finally:
        # `runc run` deletes the container when its process exits; only a kill, or a
        # failure to start, can leave its state behind.
        if (state / cid).exists():
            subprocess.run([*base, "delete", "-f", cid], capture_output=True, check=False)
        points.cleanup()


class _SpecFeed:
    """`path` made a FIFO (0600) that a thread writes `text` into once a reader opens it."""

    def __init__(self, path: Path, text: str) -> None:
        self._path = path
        self._data = text.encode()
        os.mkfifo(path, 0o600)
        self._thread = threading.Thread(target=self._write, name="runc-spec", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC)  # waits for runc to open it
        except OSError:
            return
        try:
            view = memoryview(self._data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:  # runc went away without reading it all (BrokenPipeError)
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        """Let the writer finish if runc never read the spec, then remove the FIFO."""
        if self._thread.is_alive():
            # Opening the read end (and closing it) wakes a writer still waiting in open()
            # and breaks a write that runc left unread.
            with contextlib.suppress(OSError):
                os.close(os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
            self._thread.join(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


def _kill(base: list[str], cid: str, proc: subprocess.Popen[bytes]) -> None:
    subprocess.run([*base, "kill", cid, "KILL"], capture_output=True, check=False)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
