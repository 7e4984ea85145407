"""RUN --mount: bind (context, stage or image), cache, tmpfs and secret mounts.

`prepare` turns a RUN's mount specs into bind/tmpfs mounts for `Builder.run`, extra
environment (secret `env=`), and cache-key parts (content hashes of bind sources; ids of
cache and secret mounts — never a secret's bytes). Nothing mounted reaches a layer: the
isolation layer removes the mount points it created. Binds are read-only; an `rw` bind
sees a throw-away copy, so its writes are discarded. A bind of a context directory honours
the ignore file as COPY does: when the context has one, the RUN sees a view of the
directory without its ignored entries (hard links to the context's files where the
filesystem allows, else copies). Cache mounts persist under
`<store>/build-cache/mounts/`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from lamina.building.context import SourceTree
from lamina.building.secrets import Secret, secret_file
from lamina.content.fstree import remove_tree
from lamina.errors import InvalidInput, NotFound

# opens a stage's or image's root for reading: (root, image id)
TreeOpener = Callable[[str], AbstractContextManager[tuple[Path, str]]]


@dataclass
class RunMounts:
    mounts: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def parse_spec(spec: str) -> dict[str, str]:
    kv: dict[str, str] = {}
    for part in spec.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if k:
            kv[k] = v if eq else "true"
    kv.setdefault("type", "bind")
    for alias, name in (("src", "source"), ("dst", "target"), ("destination", "target")):
        if alias in kv:
            kv.setdefault(name, kv.pop(alias))
    if "readonly" in kv:
        kv.setdefault("ro", kv.pop("readonly"))
    return kv


def _number(kv: dict[str, str], key: str, default: str, base: int = 10) -> int:
    """`kv[key]` (else `default`) as a non-negative integer; InvalidInput if it is not one."""
    text = kv.get(key, default)
    try:
        value = int(text, base)
    except ValueError:
        value = -1
    if value < 0:
        what = "an octal mode" if base == 8 else "a number"
        raise InvalidInput(f"--mount {key}={text!r}: not {what}")
    return value


def key_parts(specs: list[str], context: SourceTree, stage_ids: Mapping[str, str]) -> list[str]:
    """What of each mount goes into the cache key (never secret bytes)."""
    parts: list[str] = []
    for spec in specs:
        kv = parse_spec(spec)
        kind = kv["type"]
        if kind == "bind":
            src = kv.get("source", ".")
            ref = kv.get("from")
            where = stage_ids.get(ref, ref) if ref else context.digest(context.matches(src))
            parts.append(f"bind:{kv.get('target')}:{src}:{where}:{kv.get('rw', '')}")
        elif kind == "secret":
            parts.append(f"secret:{kv.get('id', '')}:{kv.get('target', '')}:{kv.get('env', '')}")
        else:
            safe = {k: v for k, v in sorted(kv.items())}
            parts.append(f"{kind}:{safe}")
    return parts


@contextlib.contextmanager
def prepare(
    specs: list[str],
    *,
    context: SourceTree,
    open_tree: TreeOpener,
    cache_root: Path,
    secrets: Mapping[str, Secret],
    scratch: Path,
) -> Iterator[RunMounts]:
    """Set up the mounts of one RUN; everything is torn down on exit."""
    out = RunMounts()
    with contextlib.ExitStack() as stack:
        for spec in specs:
            kv = parse_spec(spec)
            kind = kv.pop("type")
            target = kv.get("target", "")
            if kind == "secret":
                _secret(kv, secrets, out, stack)
                continue
            if not target.startswith("/"):
                raise InvalidInput(f"--mount={spec}: target must be an absolute path")
            if kind == "tmpfs":
                size = f",tmpfs-size={kv['size']}" if "size" in kv else ""
                out.mounts.append(f"type=tmpfs,target={target}{size}")
            elif kind == "cache":
                path = stack.enter_context(_cache_dir(kv, cache_root, scratch))
                ro = ",ro" if kv.get("ro") in ("true", "1") else ""
                out.mounts.append(f"type=bind,source={path},target={target}{ro}")
            elif kind == "bind":
                viewed = False
                ref = kv.get("from")
                src = kv.get("source", ".")
                rw = kv.get("rw") in ("true", "1")
                if ref:
                    root, _ = stack.enter_context(open_tree(ref))
                    host = SourceTree(root=root, name=f"stage {ref}").host_path(src)
                else:
                    rel = context.matches(src)[0]
                    host = context.host_path(rel)
                    if context.matcher and host.is_dir():
                        view = Path(tempfile.mkdtemp(dir=scratch, prefix="bind-"))
                        stack.callback(_discard, view)
                        host = _context_view(context, rel, view / "t", link=not rw)
                        viewed = True
                if not host.exists():
                    raise NotFound(f"--mount={spec}: source {src} does not exist")
                if rw and viewed:
                    out.mounts.append(f"type=bind,source={host},target={target}")
                elif rw:
                    copy = Path(tempfile.mkdtemp(dir=scratch, prefix="bind-"))
                    stack.callback(_discard, copy)
                    if host.is_dir():
                        shutil.copytree(host, copy / "t", symlinks=True)
                    else:
                        shutil.copy2(host, copy / "t")
                    host = copy / "t"
                    out.mounts.append(f"type=bind,source={host},target={target}")
                else:
                    out.mounts.append(f"type=bind,source={host},target={target},ro")
            else:
                raise InvalidInput(
                    f"--mount={spec}: type {kind!r} is not supported (bind, cache, tmpfs, secret)"
                )
        yield out


def _context_view(context: SourceTree, rel: str, into: Path, *, link: bool) -> Path:
    """The context directory `rel` laid out at `into` without its ignored entries."""
    for e in context.walk(rel):
        out = into / e.rel if e.rel != "." else into
        mode = stat.S_IFMT(e.st.st_mode)
        if stat.S_ISDIR(e.st.st_mode):
            out.mkdir(parents=True, exist_ok=True)
            os.chmod(out, stat.S_IMODE(e.st.st_mode))
            continue
        out.parent.mkdir(parents=True, exist_ok=True)  # a re-included file's parents
        if mode == stat.S_IFLNK:
            os.symlink(os.readlink(e.path), out)
        elif mode == stat.S_IFREG:
            try:
                if not link:
                    raise OSError("copy wanted")
                os.link(e.path, out)
            except OSError:
                shutil.copy2(e.path, out)
    return into


def _secret(
    kv: dict[str, str], secrets: Mapping[str, Secret], out: RunMounts, stack: contextlib.ExitStack
) -> None:
    sid = kv.get("id") or os.path.basename(kv.get("target", ""))
    if not sid:
        raise InvalidInput("--mount=type=secret needs id= (or target=)")
    secret = secrets.get(sid)
    if secret is None:
        if kv.get("required") in ("true", "1"):
            raise NotFound(f"secret {sid!r} is required but was not given", hint="--secret id=…")
        return
    data = secret.read()
    if "env" in kv:
        out.env[kv["env"]] = data.decode("utf-8", errors="replace")
        if "target" not in kv:
            return
    target = kv.get("target") or f"/run/secrets/{sid}"
    mode = _number(kv, "mode", "0400", 8)
    path = stack.enter_context(
        secret_file(data, uid=_number(kv, "uid", "0"), gid=_number(kv, "gid", "0"), mode=mode)
    )
    out.mounts.append(f"type=bind,source={path},target={target},ro")


@contextlib.contextmanager
def _cache_dir(kv: dict[str, str], cache_root: Path, scratch: Path) -> Iterator[Path]:
    ident = kv.get("id") or kv.get("target", "")
    name = hashlib.sha256(ident.encode()).hexdigest()[:32]
    base = cache_root / name
    mode = _number(kv, "mode", "0755", 8)
    uid, gid = _number(kv, "uid", "0"), _number(kv, "gid", "0")
    if not base.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        os.chown(base, uid, gid)
        os.chmod(base, mode)
    sharing = kv.get("sharing", "shared")
    if sharing not in ("shared", "private", "locked"):
        raise InvalidInput(f"cache mount sharing={sharing}: use shared, private or locked")
    if sharing == "shared":
        yield base
        return
    fd = os.open(f"{base}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if sharing == "locked":
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield base
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            private = Path(tempfile.mkdtemp(dir=scratch, prefix="cache-"))
            os.chown(private, uid, gid)
            os.chmod(private, mode)
            try:
                yield private
            finally:
                _discard(private)
            return
        yield base
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    """Remove a scratch tree of any depth (a deep cache or bind mount must not make the
    clean-up raise), leaving what cannot be removed."""
    with contextlib.suppress(OSError):
        remove_tree(path)
