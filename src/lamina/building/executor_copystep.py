"""Planning one COPY or ADD step: its sources matched, its cache key, and the action that
copies them into a working container (see executor_copy for the path rules).

`plan_copy` is given what it needs of its stage (`CopyScope`) and returns a `CopyPlan`; the
stage runner decides whether the cache answers it, runs the action on a mounted container
and commits. A `--from` tree is opened through `open_tree` and must stay open until the
action has run (the runner holds it in an ExitStack).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.building.builder import Builder
from lamina.building.containerfile import Add, Copy, Instruction, Run, expand
from lamina.building.context import SourceTree
from lamina.building.executor_copy import (
    CopyOptions,
    chown_owner,
    container_dest,
    copy_sources,
    fetch_url,
    heredoc_name,
    kept_path,
    split_pivot,
    temp_download_dir,
    write_heredocs,
)
from lamina.building.ignore import IgnoreMatcher
from lamina.building.plan import Plan, Stage
from lamina.building.rootfs.fresh import direct_upper, scratch_size
from lamina.errors import ContainerfileError, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyScope:
    """What a COPY/ADD needs of its stage: the variables in scope, the escape character,
    the working directory, the build's timestamp (for heredoc files) and whether the files
    may go straight into a fresh upper dir (layers are kept and no later step, nor another
    stage, needs them on disk; see building.rootfs.fresh)."""

    env: Mapping[str, str]
    escape: str
    working_dir: str
    timestamp: int
    direct: bool


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """A COPY/ADD ready to run: its history text, the digest its cache key covers (sources,
    excludes, flags) and the action that copies into a mounted working container."""

    created_by: str
    key: str
    action: Callable[[Builder, Path], None]


def plan_copy(
    ins: Copy | Add,
    scope: CopyScope,
    context: SourceTree,
    open_tree: Callable[[str], tuple[Path, str]],
) -> CopyPlan:
    """Match the sources of `ins` (in `context`, or in the stage or image `--from` names,
    opened with `open_tree`), hash them for the cache key and return the plan."""
    env = dict(scope.env)

    def x(w: str) -> str:
        return expand(w, env, escape=scope.escape, span=ins.span)

    docs = _heredocs(ins, env)
    srcs = [x(s) for s in ins.sources if heredoc_name(s) is None or not ins.heredocs]
    dest = container_dest(x(ins.dest), scope.working_dir)
    ref = x(ins.from_) if isinstance(ins, Copy) and ins.from_ else None
    parents = isinstance(ins, Copy) and ins.parents
    urls = [s for s in srcs if isinstance(ins, Add) and _is_url(s)]
    excludes = [x(e) for e in ins.excludes]
    exclude = IgnoreMatcher(excludes) if excludes else None
    chmod = None
    if ins.chmod:
        try:
            chmod = int(x(ins.chmod), 8)
        except ValueError:
            raise ContainerfileError(f"--chmod={ins.chmod}: not an octal mode", ins.span) from None
    if ref is not None:
        root, image_id = open_tree(ref)
        tree = SourceTree(root=root, name=f"stage {ref}")
    else:
        tree, image_id = context, ""
    local = [s for s in srcs if s not in urls]
    matched: list[str] = []
    kept: dict[str, str] = {}
    for s in local:
        pivot, _ = split_pivot(s)
        for m in tree.matches(s):
            if exclude is not None and (
                exclude.excluded(m) or exclude.excluded(posixpath.basename(m))
            ):
                continue
            matched.append(m)
            kept[m] = kept_path(m, pivot)
    if local and not matched and not docs:
        raise NotFound(f"{ins.keyword}: every source is excluded by --exclude")
    digest = (
        image_id + ":" + ",".join(matched) + f":{excludes}"
        if ref
        else tree.digest(matched, exclude)
    )
    extra = f"|{getattr(ins, 'checksum', None)}|{parents}|{sorted(kept.items())}"
    extra += "|" + "|".join(f"{n}:{c}" for n, c in docs)
    digest = hashlib.sha256((digest + "|" + "|".join(urls) + extra).encode()).hexdigest()
    count = len(matched) + len(urls) + len(docs)
    kind = "dir" if len(matched) == 1 and tree.host_path(matched[0]).is_dir() else "file"
    if count > 1:
        kind = "multi"
    created_by = f"/bin/sh -c #(nop) {ins.keyword} {kind}:{digest} in {dest} "
    owner_spec = x(ins.chown) if ins.chown else None
    checksum = ins.checksum if isinstance(ins, Add) else None
    stamp = scope.timestamp

    def action(b: Builder, root: Path) -> None:
        owner: tuple[int, int] | None = (0, 0) if ref is None else None
        if owner_spec:
            owner = chown_owner(root, owner_spec)
        opts = CopyOptions(owner=owner, mode=chmod, extract=isinstance(ins, Add), exclude=exclude)
        if b.record.mode == "overlay":
            scratch = None
            if scope.direct and not urls and isinstance(ins, Copy):
                scratch = _copy_size(tree, matched, exclude, docs)
            upper = b.dir / "upper"
            root = direct_upper(root, upper, dest, b.umount, scratch=scratch) or root
        copy_sources(
            tree, matched, root, dest, opts, many=count > 1, kept=kept if parents else None
        )
        if docs:
            with temp_download_dir(b.dir) as tmp:
                write_heredocs(Path(tmp), docs, stamp)
                hd = SourceTree(root=Path(tmp), name="heredoc")
                hd_opts = CopyOptions(owner=owner or (0, 0), mode=chmod)
                copy_sources(hd, [n for n, _ in docs], root, dest, hd_opts, many=count > 1)
        for url in urls:
            with temp_download_dir(b.dir) as tmp:
                got = fetch_url(url, Path(tmp), checksum)
                dl = SourceTree(root=Path(tmp), name="download")
                url_opts = CopyOptions(owner=owner or (0, 0), mode=chmod)
                copy_sources(dl, [got.name], root, dest, url_opts, many=count > 1)

    return CopyPlan(created_by, digest, action)


def files_needed_after(
    ins: Instruction, steps: list[Instruction], stage: Stage, plan: Plan
) -> bool:
    """Whether a step after `ins` (in `steps`, its stage's) may need this step's files on
    disk: a later step of the stage that changes files, or another stage built on or
    reading this one."""
    later = steps[next(n for n, i in enumerate(steps) if i is ins) + 1 :]
    if any(isinstance(i, Run | Copy | Add) for i in later):
        return True
    me = stage.index
    return me != plan.target or any(me in s.deps or s.base_stage == me for s in plan.stages)


def _copy_size(
    tree: SourceTree,
    matched: list[str],
    exclude: IgnoreMatcher | None,
    docs: list[tuple[str, str]],
) -> int | None:
    """A tmpfs size for this COPY's files (see building.rootfs.fresh), None if too big."""
    size = sum(len(c.encode()) for _, c in docs)
    count = len(docs)
    for rel in matched:
        for e in tree.walk(rel, exclude):
            size += e.st.st_size
            count += 1
    return scratch_size(size, count)


def _heredocs(ins: Copy | Add, env: dict[str, str]) -> list[tuple[str, str]]:
    """(file name, content) of each heredoc source; unless the delimiter was quoted,
    variables are expanded and quotes kept, with `\\` as escape (BuildKit's ExpandRaw)."""
    out: list[tuple[str, str]] = []
    for doc in ins.heredocs:
        text = doc.content
        if doc.expand:
            text = expand(text, env, escape="\\", span=ins.span, keep_quotes=True)
        out.append((doc.name, text))
    return out


def _is_url(s: str) -> bool:
    return s.startswith(("http://", "https://"))
