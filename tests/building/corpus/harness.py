"""Building one corpus case with lamina and with `buildah bud`, and reading both results.

A case is a directory here: a `Containerfile`, its context files, and
an optional `case.json`:

- `build_args`: {"K": "V"} for both builders;
- `target`: the stage to build;
- `parent`: a sub-directory built first (by both tools) and tagged `parent_tag`, for a
  child that builds FROM it (ONBUILD);
- `hardlinks`: [[existing, new], …] made in the copied context (git cannot keep them);
- `archives`: {"name.tar[.gz]": [[kind, path, data], …]} written into the context
  (kind: file, dir, symlink, hardlink; fixed owners and mtimes);
- `buildah_file`: the Containerfile buildah builds instead (a feature buildah 1.28 lacks,
  written out longhand), with `why`;
- `differences`: {"paths": [...], "config": [...], "why": "..."} — tree paths and config
  keys left out of the comparison, each a documented difference;
- `lamina_config`: {key: value} lamina's config must have where it differs.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.building.executor import BuildOptions, build
from lamina.building.executor_stage import opened_image
from lamina.store import Store
from tests.building.trees import Entry, tree

CORPUS = Path(__file__).resolve().parent
CONFIG_KEYS = (
    "Env",
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "Volumes",
    "OnBuild",
)
# buildah's chroot isolation leaves the placeholders it bind-mounts over during RUN
RUN_PLACEHOLDERS = ("etc/hostname", "etc/hosts", "etc/resolv.conf", "run")
EPOCH = 1_700_000_000


@dataclass(kw_only=True)
class Case:
    name: str
    dir: Path
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    parent: str | None = None
    parent_tag: str | None = None
    hardlinks: list[list[str]] = field(default_factory=list)
    archives: dict[str, list[list[str]]] = field(default_factory=dict)
    buildah_file: str | None = None
    diff_paths: list[str] = field(default_factory=list)
    diff_config: list[str] = field(default_factory=list)
    lamina_config: dict[str, Any] = field(default_factory=dict)


def cases() -> list[Case]:
    out: list[Case] = []
    for d in sorted(p for p in CORPUS.iterdir() if (p / "Containerfile").is_file()):
        meta: dict[str, Any] = {}
        if (d / "case.json").is_file():
            meta = json.loads((d / "case.json").read_text())
        diffs = meta.get("differences", {})
        out.append(
            Case(
                name=d.name,
                dir=d,
                build_args=meta.get("build_args", {}),
                target=meta.get("target"),
                parent=meta.get("parent"),
                parent_tag=meta.get("parent_tag"),
                hardlinks=meta.get("hardlinks", []),
                archives=meta.get("archives", {}),
                buildah_file=meta.get("buildah_file"),
                diff_paths=diffs.get("paths", []),
                diff_config=diffs.get("config", []),
                lamina_config=meta.get("lamina_config", {}),
            )
        )
    return out


def prepare_context(case: Case, into: Path) -> Path:
    """A copy of the case's directory with its hard links and archives made."""
    ctx = into / case.name
    shutil.copytree(case.dir, ctx, symlinks=True)
    (ctx / "case.json").unlink(missing_ok=True)
    for existing, new in case.hardlinks:
        (ctx / new).parent.mkdir(parents=True, exist_ok=True)  # git keeps no empty dir
        os.link(ctx / existing, ctx / new)
    for name, members in case.archives.items():
        _write_archive(ctx / name, members)
    return ctx


def _write_archive(path: Path, members: list[list[str]]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = EPOCH
            info.uid, info.gid = 1000, 50
            body = b""
            if kind == "file":
                body = data.encode()
                info.size, info.mode = len(body), 0o644
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, int(data or "755", 8)
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, data, 0o777
            elif kind == "hardlink":
                info.type, info.linkname, info.mode = tarfile.LNKTYPE, data, 0o644
            tar.addfile(info, io.BytesIO(body) if body else None)
    raw = buf.getvalue()
    if path.name.endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    path.write_bytes(raw)


# -- lamina -----------------------------------------------------------------------------------
def lamina_build(store: Store, ctx: Path, case: Case, tag: str | None = None) -> str:
    """Build with lamina; the image ID."""
    args = [f"{k}={v}" for k, v in case.build_args.items()]
    opts = BuildOptions(
        format="docker",
        build_args=args,
        target=case.target,
        tags=[tag] if tag else [],
        timestamp=EPOCH,
        isolation="chroot",
    )
    return build(store, ctx, opts).image.id


def lamina_result(store: Store, image_id: str) -> tuple[dict[str, Any], dict[str, Entry]]:
    config = json.loads(store.image(store.get(image_id)).raw_config())["config"]
    with opened_image(store, image_id) as (root, _):
        return config, tree(root)


# -- buildah ----------------------------------------------------------------------------------
def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def buildah_build(ctx: Path, case: Case, tag: str, file: str | None = None) -> None:
    argv = ["buildah", "bud", "-q", "--format", "docker", "--isolation", "chroot", "--layers"]
    argv += ["--timestamp", str(EPOCH), "-t", tag]
    for k, v in case.build_args.items():
        argv += ["--build-arg", f"{k}={v}"]
    if case.target:
        argv += ["--target", case.target]
    if file:
        argv += ["-f", str(ctx / file)]
    _run([*argv, str(ctx)])


def buildah_result(tag: str) -> tuple[dict[str, Any], dict[str, Entry]]:
    raw = _run(["skopeo", "inspect", "--config", "--raw", f"containers-storage:{tag}"])
    config: dict[str, Any] = json.loads(raw)["config"]
    cid = _run(["buildah", "from", "-q", "--pull-never", tag]).strip()
    try:
        root = Path(_run(["buildah", "mount", cid]).strip())
        return config, tree(root)
    finally:
        _run(["buildah", "rm", cid])


def buildah_rmi(*tags: str) -> None:
    subprocess.run(["buildah", "rmi", "-f", *tags], capture_output=True, check=False)


# -- comparing --------------------------------------------------------------------------------
def config_fields(config: dict[str, Any], skip: list[str]) -> dict[str, Any]:
    """The compared config fields, empty values as None, buildah's version label dropped."""
    out: dict[str, Any] = {}
    for key in CONFIG_KEYS:
        if key in skip:
            continue
        value = config.get(key)
        if key == "Labels" and value:
            value = {k: v for k, v in value.items() if k != "io.buildah.version"}
        out[key] = value or None
    return out


def without(entries: dict[str, Entry], paths: list[str]) -> dict[str, Entry]:
    def dropped(p: str) -> bool:
        return any(p == q or p.startswith(q.rstrip("/") + "/") for q in paths)

    return {p: e for p, e in entries.items() if not dropped(p)}
