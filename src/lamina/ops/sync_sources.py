"""Which images a sync moves, and where each goes (see `sync`).

A source is read as groups of images: one per repository of a YAML file, or the one
repository or directory named. Calling a group lists what it holds (a tag list is one
request), so that a sync can check the images of one repository while it still lists
others. Each image comes with the name skopeo gives it under the destination: the
source's `host/repo:tag` (for `dir` sources, the path under the source directory),
reduced to its last path element unless `scoped`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.digest import Digest
from lamina.errors import NotFound
from lamina.ops.locations import registry_reference
from lamina.ops.sync_clients import Clients
from lamina.ops.sync_yaml import RepoSelection, load_yaml, matches, parse_constraint
from lamina.transports.base import ImageReference
from lamina.transports.registry import RegistryOptions, RegistryReference, RegistrySource

if TYPE_CHECKING:
    from lamina.ops.sync import SyncOptions

# A group: called, the images it holds and their names under the destination.
Group = Callable[[], list[tuple[ImageReference, str]]]


def source_groups(source: str, options: SyncOptions, clients: Clients) -> list[Group]:
    """What `source` names, as groups of images in the order they are reported. The
    source's own syntax (the YAML file, the repository name) is read here; what needs a
    request (a tag list) or a directory walk happens when a group is called."""
    if options.src == "yaml":
        return _yaml_groups(source, options, clients)
    if options.src == "dir":
        return [lambda: _dir_sources(source)]
    text = source.removeprefix("docker://")
    ref = registry_reference(f"//{text}", options.src_options, options.registries)
    if _names_tag(text):
        return [lambda: [(ref, str(ref.ref))]]
    return [lambda: [(r, str(r.ref)) for r in _all_tags(ref, options.src_options, clients)]]


def _names_tag(text: str) -> bool:
    slash, colon = text.rfind("/"), text.rfind(":")
    return "@" in text or colon > slash


def _all_tags(
    ref: RegistryReference, opts: RegistryOptions, clients: Clients
) -> list[RegistryReference]:
    src = RegistrySource(ref, clients.for_ref(ref))
    try:
        tags = src.list_tags()
    finally:
        src.close()
    return [RegistryReference(ref.ref.with_tag(t), opts) for t in sorted(tags)]


def _dir_sources(source: str) -> list[tuple[ImageReference, str]]:
    base = Path(source)
    if not base.is_dir():
        raise NotFound(f"sync source directory {base} does not exist")
    found: list[tuple[ImageReference, str]] = []
    for root, dirs, files in os.walk(base):
        dirs.sort()
        if "manifest.json" in files:
            rel = os.path.relpath(root, base)
            suffix = base.name if rel == "." else rel
            from lamina.transports.directory import DirReference

            found.append((DirReference(root), suffix))
            dirs[:] = []
    if not found:
        raise NotFound(f"sync source directory {base} holds no dir: images (no manifest.json)")
    return found


def _yaml_groups(path: str, options: SyncOptions, clients: Clients) -> list[Group]:
    wanted: list[tuple[RegistryReference, RegistryOptions, RepoSelection]] = []
    for section in load_yaml(path):
        opts = options.src_options
        if section.username is not None:
            opts = replace(opts, creds=f"{section.username}:{section.password or ''}")
        if section.tls_verify is not None:
            opts = replace(opts, tls_verify=section.tls_verify)
        if section.cert_dir is not None:
            opts = replace(opts, cert_dir=section.cert_dir)
        for repo in section.repos:
            base = registry_reference(
                f"//{section.registry}/{repo.repository}", opts, options.registries
            )
            wanted.append((base, opts, repo))

    def refs_of(
        base: RegistryReference, opts: RegistryOptions, repo: RepoSelection
    ) -> list[RegistryReference]:
        if repo.tags:
            return [_tagged(base, t, opts) for t in repo.tags]
        refs = _all_tags(base, opts, clients)
        if repo.regex is not None:
            pattern = re.compile(repo.regex)
            return [r for r in refs if r.ref.tag and pattern.search(r.ref.tag)]
        if repo.semver is not None:
            constraint = parse_constraint(repo.semver, f"{path}: {repo.repository}")
            return [r for r in refs if r.ref.tag and matches(r.ref.tag, constraint)]
        return refs

    def group(entry: tuple[RegistryReference, RegistryOptions, RepoSelection]) -> Group:
        return lambda: [(r, str(r.ref)) for r in refs_of(*entry)]

    return [group(entry) for entry in wanted]


def _tagged(base: RegistryReference, tag: str, opts: RegistryOptions) -> RegistryReference:
    if tag.startswith("sha256:"):
        return RegistryReference(base.ref.with_digest(Digest.parse(tag)), opts)
    return RegistryReference(base.ref.with_tag(tag), opts)


def destination_for(destination: str, suffix: str, options: SyncOptions) -> ImageReference:
    """Where the image named `suffix` (see `source_groups`) goes under `destination`."""
    if not options.scoped:
        suffix = _base(suffix)
    if options.dest == "docker":
        target = f"{destination.removeprefix('docker://').rstrip('/')}/{suffix}"
        return registry_reference(f"//{target}", options.dst_options, options.registries)
    path = os.path.join(destination, suffix)
    if options.dest == "dir":
        from lamina.transports.directory import DirReference

        return DirReference(path)
    # oci: DEST/NAME:TAG is the layout DEST/NAME holding the image under TAG
    name, tag = _split_suffix(path)
    from lamina.transports.layout import LayoutReference

    return LayoutReference(name, tag)


def _base(suffix: str) -> str:
    at = suffix.find("@")
    head = suffix if at < 0 else suffix[:at]
    return head.rsplit("/", 1)[-1] + ("" if at < 0 else suffix[at:])


def _split_suffix(path: str) -> tuple[str, str]:
    if "@" in path:
        name, _, digest = path.partition("@")
        return name, digest.replace(":", "-")
    slash, colon = path.rfind("/"), path.rfind(":")
    if colon > slash:
        return path[:colon], path[colon + 1 :]
    return path, "latest"
