"""Mount targets made for one run and removed after it, so they never reach a layer.

A target that already exists in the root is used as is. A missing one is created (with
any missing parents) and, after the run, removed again if still empty; the timestamps of
the existing directory it was created in are put back, as buildah does.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from lamina.building.isolation.network import NetworkMode, hosts_text, resolv_text
from lamina.building.isolation.spec import Mount, Network, resolve_in_root


class MountPoints:
    """Track created mount targets under `rootfs`; call `cleanup()` when the run is over."""

    def __init__(self, rootfs: Path) -> None:
        self.rootfs = rootfs
        self._created: list[tuple[Path, bool]] = []
        self._times: dict[Path, tuple[int, int]] = {}

    def ensure(self, destination: str, *, is_dir: bool = True, mode: int = 0o755) -> Path:
        """The host path of container path `destination`, created if missing (a target
        directory with `mode`: runc gives a tmpfs its mount point's mode)."""
        target = resolve_in_root(self.rootfs, destination)
        if os.path.lexists(target):
            return target
        rel = target.relative_to(self.rootfs)
        cur = self.rootfs
        for i, part in enumerate(rel.parts):
            nxt = cur / part
            if not os.path.lexists(nxt):
                if cur not in self._times:
                    st = os.lstat(cur)
                    self._times[cur] = (st.st_atime_ns, st.st_mtime_ns)
                last = i == len(rel.parts) - 1
                if last and not is_dir:
                    nxt.touch(mode=0o644)
                    self._created.append((nxt, False))
                else:
                    nxt.mkdir()
                    os.chmod(nxt, mode if last else 0o755)
                    self._created.append((nxt, True))
            cur = nxt
        return target

    def cleanup(self) -> None:
        """Remove what `ensure` created and is still empty; restore parents' times."""
        for path, is_dir in reversed(self._created):
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if is_dir and stat.S_ISDIR(st.st_mode):
                    os.rmdir(path)
                elif not is_dir and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                    os.unlink(path)
        for path, (atime, mtime) in self._times.items():
            with contextlib.suppress(OSError):
                os.utime(path, ns=(atime, mtime), follow_symlinks=False)
        self._created.clear()
        self._times.clear()


def ensure_for(points: MountPoints, mounts: Sequence[Mount]) -> None:
    """Targets of volumes and `--mount`s: a dir for a tmpfs (with its `mode=`) or a dir
    source, else a file."""
    for m in mounts:
        mode = 0o755
        for opt in m.options:
            if opt.startswith("mode="):
                mode = int(opt[5:], 8)
        is_dir = m.type == "tmpfs" or os.path.isdir(m.source)
        points.ensure(m.destination, is_dir=is_dir, mode=mode)


def write_run_files(
    bundle: Path,
    hostname: str,
    *,
    network: Network = "none",
    host_loopback: bool = False,
    dns: Sequence[str] = (),
    add_hosts: Sequence[tuple[str, str]] = (),
) -> tuple[Path, Path]:
    """/etc/hosts and /etc/resolv.conf for a run, written in `bundle` (outside the root),
    as podman writes them for `network` (`lamina.building.isolation.network`; `host_loopback`
    as RunSpec's). The host's resolv.conf is the base (empty if the host has none)."""
    hosts = bundle / "hosts"
    hosts.write_text(hosts_text(hostname, NetworkMode(network, host_loopback), add_hosts))
    try:
        host_resolv = Path("/etc/resolv.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        host_resolv = ""
    resolv = bundle / "resolv.conf"
    resolv.write_text(resolv_text(host_resolv, network, dns))
    return hosts, resolv
