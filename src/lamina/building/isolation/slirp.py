"""slirp4netns for a private network (`lamina.building.isolation.network`): it gives the
namespace `tap0` (10.0.2.100/24, MTU 65520), a default route through the gateway 10.0.2.2
and a DNS forwarder at 10.0.2.3 that asks the host's resolvers; started, as podman 4 does,
with `--disable-host-loopback` unless the host's loopback is asked for. It runs as this
process's child, attached to the command's namespace by PID, and exits when
`Slirp.close()` closes its `--exit-fd`: no process outlives the run.

The OCI runtime creates the command's namespaces itself, so a `createRuntime` hook
(`NetnsHook`) hands the container's PID to this process through a FIFO and waits, while
slirp4netns attaches, before runc starts the command. Rootless this works the same way:
slirp4netns joins the container's user namespace with its network namespace. The chroot
isolation joins a namespace made beforehand (`HeldNetns`: `unshare --net` holding it).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from lamina.errors import BuildError

TUN = "/dev/net/tun"
_READY_TIMEOUT = 30.0


def slirp_binary() -> str:
    path = shutil.which("slirp4netns")
    if path is None:
        raise BuildError(
            "--network private needs slirp4netns, which is not installed",
            hint="apt-get install slirp4netns, or use --network host or none",
        )
    if not os.access(TUN, os.R_OK | os.W_OK):
        raise BuildError(
            f"--network private: {TUN}, which slirp4netns needs, cannot be opened by this user",
            hint=f"make it usable (chmod 0666 {TUN}, Debian's default), "
            "or use --network host or none",
        )
    return path


class Slirp:
    """slirp4netns serving the network namespace of `pid` (`--configure`d: tap0 up, the
    default route and DNS set; the host's loopback reachable at the gateway only if
    `host_loopback`). Ready when the constructor returns; `close()` ends it."""

    def __init__(
        self, pid: int, *, host_loopback: bool = False, timeout: float = _READY_TIMEOUT
    ) -> None:
        binary = slirp_binary()
        loopback = [] if host_loopback else ["--disable-host-loopback"]
        ready_r, ready_w = os.pipe()
        self._exit_r, self._exit_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [
                    binary,
                    "--configure",
                    "--mtu=65520",
                    *loopback,
                    f"--ready-fd={ready_w}",
                    f"--exit-fd={self._exit_r}",
                    str(pid),
                    "tap0",
                ],
                pass_fds=(ready_w, self._exit_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError:
            for fd in (ready_r, ready_w, self._exit_r, self._exit_w):
                os.close(fd)
            raise
        os.close(ready_w)
        os.close(self._exit_r)
        try:
            ready = select.select([ready_r], [], [], timeout)[0] and os.read(ready_r, 1)
        finally:
            os.close(ready_r)
        if not ready:
            why = self.close() or f"not ready after {timeout:g}s"
            raise BuildError(f"slirp4netns for the run's network: {why}")

    def close(self) -> str:
        """End slirp4netns (closing its exit fd) and wait for it; its stderr if it failed."""
        if self._exit_w >= 0:
            os.close(self._exit_w)
            self._exit_w = -1
        try:
            _, err = self._proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        text = err.decode(errors="replace").strip().splitlines()
        return " | ".join(text[-4:]) if text and self._proc.returncode != 0 else ""


class NetnsHook:
    """A runc `createRuntime` hook that writes the container's state (its PID) into a FIFO
    in `bundle` and waits, reading a second FIFO, until `attach` has set the network up
    (slirp4netns, with the host's loopback reachable only if `host_loopback`)."""

    def __init__(self, bundle: Path, *, host_loopback: bool = False) -> None:
        slirp_binary()  # its absence (or an unusable /dev/net/tun) said before runc starts
        self._state = bundle / "net-state"
        self._go = bundle / "net-go"
        self._host_loopback = host_loopback
        for p in (self._state, self._go):
            os.mkfifo(p, 0o600)
        # Opened now, non-blocking: a reader that exists before runc starts sees the hook's
        # data, and select() reports nothing until a writer has come and gone.
        self._state_fd = os.open(self._state, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)

    def hooks(self) -> dict[str, Any]:
        sh = shutil.which("sh") or "/bin/sh"
        script = 'cat >"$0" && read -r _ <"$1"'
        hook = {
            "path": sh,
            "args": ["sh", "-c", script, str(self._state), str(self._go)],
            "timeout": int(_READY_TIMEOUT) + 30,
        }
        return {"createRuntime": [hook]}

    def attach(self, proc: subprocess.Popen[bytes], timeout: float = _READY_TIMEOUT) -> Slirp:
        """slirp4netns on the container runc `proc` is creating; then let runc go on.
        BuildError if runc exits first or the hook does not report in `timeout`."""
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            if select.select([self._state_fd], [], [], 0.05)[0]:
                chunk = os.read(self._state_fd, 65536)
                if not chunk:
                    break
                data += chunk
                continue
            if proc.poll() is not None:
                raise BuildError("runc exited before its network could be set up")
            if time.monotonic() > deadline:
                raise BuildError(f"runc's network hook did not report within {timeout:g}s")
        try:
            pid = int(json.loads(data)["pid"])
        except (ValueError, KeyError, TypeError):
            raise BuildError(f"runc's network hook sent no PID: {data[:200]!r}") from None
        slirp = Slirp(pid, host_loopback=self._host_loopback)
        try:
            self._release(proc, deadline)
        except BaseException:
            slirp.close()
            raise
        return slirp

    def _release(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        while True:
            try:
                fd = os.open(self._go, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:  # ENXIO: the hook has not opened its end yet
                if proc.poll() is not None:
                    raise BuildError("runc exited before its network was set up") from None
                if time.monotonic() > deadline:
                    raise BuildError("runc's network hook went away") from None
                time.sleep(0.005)
                continue
            try:
                os.write(fd, b"go\n")
            finally:
                os.close(fd)
            return

    def close(self) -> None:
        """Release a hook still waiting (runc was killed under it), then remove the FIFOs."""
        with contextlib.suppress(OSError):
            fd = os.open(self._go, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.write(fd, b"go\n")
            finally:
                os.close(fd)
        with contextlib.suppress(OSError):
            os.close(self._state_fd)
        for p in (self._state, self._go):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


class HeldNetns:
    """A new network namespace held by `unshare --net` (for the chroot isolation, which
    joins it through `fd`), with slirp4netns serving it (the host's loopback reachable only
    if `host_loopback`); `close()` ends both."""

    def __init__(self, *, host_loopback: bool = False) -> None:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise BuildError("--network private with chroot isolation needs unshare(1)")
        self._holder = subprocess.Popen(
            [unshare, "--net", "--", "sh", "-c", "echo ready; read -r _"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.fd = -1
        self._slirp: Slirp | None = None
        try:
            assert self._holder.stdout is not None
            if self._holder.stdout.readline() != b"ready\n":
                raise BuildError("unshare --net could not make a network namespace")
            self.fd = os.open(f"/proc/{self._holder.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            self._slirp = Slirp(self._holder.pid, host_loopback=host_loopback)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._slirp is not None:
            self._slirp.close()
            self._slirp = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        assert self._holder.stdin is not None and self._holder.stdout is not None
        with contextlib.suppress(OSError):
            self._holder.stdin.close()
        try:
            self._holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._holder.kill()
            self._holder.wait()
        self._holder.stdout.close()
