"""Build secrets (`--secret id=X,src=FILE` or `id=X,env=VAR`).

A secret's bytes are read only when a RUN mounts it, written to a private temporary file
outside the container's root (on /dev/shm when there is one), bind-mounted read-only for
that RUN and deleted right after. Only the id ever enters a cache key, history entry or
log line. An `env=` secret reaches the RUN's process in memory (see
`lamina.building.isolation.oci`), never through a file.

A secret file lives alone in a `lamina-secret-*` directory (mode 0700, owned by the
builder) whose process holds an flock on it while the RUN runs. A build killed meanwhile
leaves the directory behind; `sweep_stale` (run when a build starts) removes every such
directory of this user that no live process holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidInput, NotFound

log = logging.getLogger("lamina.building")
PREFIX = "lamina-secret-"


@dataclass(frozen=True, slots=True, kw_only=True)
class Secret:
    id: str
    file: str | None = None
    env: str | None = None

    def read(self, environ: Mapping[str, str] | None = None) -> bytes:
        if self.file is not None:
            try:
                return Path(self.file).read_bytes()
            except OSError as exc:
                raise NotFound(f"secret {self.id}: {self.file}: {exc.strerror}") from None
        env = os.environ if environ is None else environ
        assert self.env is not None
        if self.env not in env:
            raise NotFound(f"secret {self.id}: the environment variable {self.env} is not set")
        return env[self.env].encode()


def parse_secrets(specs: Sequence[str]) -> dict[str, Secret]:
    """`id=X,src=FILE` (also `source=`, `type=file`) or `id=X,env=VAR` (`type=env`); a
    bare `id=X` reads the environment variable X, as buildah does when no file is given."""
    out: dict[str, Secret] = {}
    for spec in specs:
        kv: dict[str, str] = {}
        for part in spec.split(","):
            k, eq, v = part.partition("=")
            if not eq:
                raise InvalidInput(f"--secret {spec!r}: expected key=value pairs")
            kv[k.strip().lower()] = v
        sid = kv.pop("id", "")
        if not sid:
            raise InvalidInput(f"--secret {spec!r}: an id= is required")
        kind = kv.pop("type", "")
        src = kv.pop("src", None) or kv.pop("source", None)
        env = kv.pop("env", None)
        if kv:
            raise InvalidInput(f"--secret {spec!r}: unknown keys {', '.join(sorted(kv))}")
        if kind == "env" and src and not env:
            env, src = src, None
        if src is None and env is None:
            env = sid
        out[sid] = Secret(id=sid, file=os.path.abspath(src) if src else None, env=env)
    return out


def _base() -> str:
    """Where secret dirs are made: /dev/shm (memory) when writable, else the temp dir."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def _locked_dir() -> tuple[str, int]:
    """A new private secret dir and an fd holding its flock."""
    while True:
        path = tempfile.mkdtemp(dir=_base(), prefix=PREFIX)  # mode 0700
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_nlink > 0:
            return path, fd
        os.close(fd)  # a sweep took it between mkdtemp and flock: make another


def _shred(dir_fd: int) -> None:
    """Zero and unlink every file in the secret dir open as `dir_fd`."""
    for name in os.listdir(dir_fd):
        with contextlib.suppress(OSError):
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                size = os.fstat(fd).st_size
                os.write(fd, b"\0" * size)
            finally:
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)


@contextlib.contextmanager
def secret_file(data: bytes, *, uid: int, gid: int, mode: int) -> Iterator[Path]:
    """A private temporary file holding `data`, zeroed and removed on exit."""
    tmp, dir_fd = _locked_dir()
    try:
        path = Path(tmp) / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        yield path
    finally:
        try:
            _shred(dir_fd)
            with contextlib.suppress(OSError):
                os.rmdir(tmp)
        finally:
            os.close(dir_fd)


def sweep_stale() -> int:
    """Remove the secret dirs of this user that no live process holds (left by a killed
    build); returns how many."""
    base = _base()
    removed = 0
    try:
        entries = [e.name for e in os.scandir(base) if e.name.startswith(PREFIX)]
    except OSError:
        return 0
    for name in entries:
        path = os.path.join(base, name)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_uid != os.geteuid():
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live build's
            _shred(fd)
            with contextlib.suppress(OSError):
                os.rmdir(path)
                removed += 1
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d secret dir(s) left by killed builds", removed)
    return removed
