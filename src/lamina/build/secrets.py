"""Build secrets (`--secret id=X,src=FILE` or `id=X,env=VAR`).

A secret's bytes are read only when a RUN mounts it, written to a private temporary file
outside the container's root (on /dev/shm when there is one), bind-mounted read-only for
that RUN and deleted right after. Only the id ever enters a cache key, history entry or
log line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import InvalidInput, NotFound


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


@contextlib.contextmanager
def secret_file(data: bytes, *, uid: int, gid: int, mode: int) -> Iterator[Path]:
    """A private temporary file holding `data`, removed on exit."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=base, prefix="lamina-secret-") as tmp:
        os.chmod(tmp, 0o700)
        path = Path(tmp) / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError), open(path, "r+b") as f:
                f.write(b"\0" * len(data))
