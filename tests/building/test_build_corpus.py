"""The Containerfile corpus (`tests/building/corpus/`), each built by lamina and by
`buildah bud --format docker --isolation chroot --layers`: the config fields and the whole
file trees (type, mode, owner, size, content hash, link target, xattrs, link count) must
be equal, except for the differences a case names in its `case.json`.

Differences documented for every case:
- buildah adds the label `io.buildah.version`;
- after a RUN, buildah's chroot isolation leaves the empty placeholders it bind-mounted
  (/etc/hostname, /etc/hosts, /etc/resolv.conf) and /run in the image; lamina leaves none.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.ops.base import make_busybox
from lamina.store import Store
from tests.building.corpus.harness import (
    RUN_PLACEHOLDERS,
    Case,
    buildah_build,
    buildah_result,
    buildah_rmi,
    cases,
    config_fields,
    lamina_build,
    lamina_result,
    prepare_context,
    without,
)

pytestmark = [pytest.mark.root, pytest.mark.interop, pytest.mark.slow]
BASE = "localhost/busybox:latest"


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One lamina store with the busybox base, also loaded into containers-storage once."""
    for tool in ("buildah", "skopeo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    tmp = tmp_path_factory.mktemp("corpus-store")
    store = Store.open(tmp / "store")
    make_busybox(store, BASE)
    archive = tmp / "busybox.tar"
    root = str(store.root)
    subprocess.run(
        ["lamina", "--root", root, "save", "--format", "oci-archive", "-o", str(archive), BASE],
        check=True,
    )
    subprocess.run(
        ["skopeo", "copy", "-q", f"oci-archive:{archive}", f"containers-storage:{BASE}"],
        check=True,
    )
    yield store
    assert containers(store) == [], "a build left working containers behind"
    store.close()


def _has_run(case: Case) -> bool:
    files = [case.dir / "Containerfile"]
    if case.parent:
        files.append(case.dir / case.parent / "Containerfile")
    return any(
        line.lstrip().upper().startswith(("RUN", "ONBUILD RUN"))
        for f in files
        for line in f.read_text().splitlines()
    )


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_corpus_matches_buildah(case: Case, corpus_store: Store, tmp_path: Path) -> None:
    store = corpus_store
    ctx = prepare_context(case, tmp_path)
    tag = f"localhost/lamina-corpus-{case.name}:{tmp_path.name[-8:].lower()}"
    made = [tag]
    try:
        if case.parent:
            assert case.parent_tag, "a case with a parent names its parent_tag"
            # a name of this session's own: concurrent runs share containers-storage
            parent = f"{case.parent_tag.rsplit(':', 1)[0]}:{tmp_path.name[-8:].lower()}"
            case.build_args = {**case.build_args, "PARENT": parent}
            made.append(parent)
            lamina_build(store, ctx / case.parent, case, parent)
            buildah_build(ctx / case.parent, case, parent)
        image_id = lamina_build(store, ctx, case)
        buildah_build(ctx, case, tag, case.buildah_file)
        ours_cfg, ours_tree = lamina_result(store, image_id)
        theirs_cfg, theirs_tree = buildah_result(tag)
    finally:
        buildah_rmi(*made)
    if case.parent_tag:
        store.untag(made[1])
    assert config_fields(ours_cfg, case.diff_config) == config_fields(theirs_cfg, case.diff_config)
    for key, value in case.lamina_config.items():
        assert ours_cfg.get(key) == value, key
    skip = list(case.diff_paths)
    if _has_run(case):
        skip += [p for p in RUN_PLACEHOLDERS if p not in ours_tree]
    ours, theirs = without(ours_tree, skip), without(theirs_tree, skip)
    only = {p: ("lamina" if p in ours else "buildah") for p in set(ours) ^ set(theirs)}
    assert only == {}, "entries only one builder made"
    diffs = {p: f"lamina {ours[p]} buildah {theirs[p]}" for p in ours if ours[p] != theirs[p]}
    assert diffs == {}, "\n".join(f"{p}: {d}" for p, d in sorted(diffs.items()))
