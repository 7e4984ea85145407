"""oci: specifics: ref names, replacing entries, ambiguity, what the layout looks like."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from lamina.errors import Conflict, InvalidInput, NotFound
from lamina.transports.directory import DirReference
from lamina.transports.layout import LAYOUT_BYTES, LayoutReference
from lamina.transports.names import detect_archive_kind, list_images
from tests.transports.conformance import write
from tests.transports.images import make_image


def test_layout_files_and_no_stray_entries(tmp_path: Path) -> None:
    img = make_image("files", layers=2)
    write(LayoutReference(str(tmp_path / "l"), "v1"), img)
    assert (tmp_path / "l" / "oci-layout").read_bytes() == LAYOUT_BYTES
    assert sorted(p.name for p in (tmp_path / "l").iterdir()) == [
        "blobs",
        "index.json",
        "oci-layout",
    ]
    assert sorted(p.name for p in (tmp_path / "l" / "blobs" / "sha256").iterdir()) == sorted(
        [d.hex for d in img.blobs] + [img.digest.hex]
    )
    index = json.loads((tmp_path / "l" / "index.json").read_bytes())
    assert index == {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": str(img.digest),
                "size": len(img.manifest.raw),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }


def test_several_refs_and_replacement(tmp_path: Path) -> None:
    path = str(tmp_path / "l")
    a, b, c = make_image("a", layers=1), make_image("b", layers=1), make_image("c", layers=1)
    write(LayoutReference(path, "a"), a)
    write(LayoutReference(path, "b"), b)
    write(LayoutReference(path, "a"), c)  # replaces the entry named a, keeps its place
    listed = list_images(path)
    assert [names for names, _ in listed] == [["a"], ["b"]]
    src = LayoutReference(path, "a").new_source()
    try:
        assert src.get_manifest()[0] == c.manifest.raw
    finally:
        src.close()
    with pytest.raises(InvalidInput, match=r"holds 2 images; name one \(refs: a, b\)"):
        LayoutReference(path).new_source().get_manifest()
    with pytest.raises(NotFound, match=r"no image named 'zzz' \(refs: a, b\)"):
        LayoutReference(path, "zzz").new_source().get_manifest()
    assert detect_archive_kind(path) == "oci"


def test_unnamed_single_image_is_read_without_ref(tmp_path: Path) -> None:
    img = make_image("unnamed", layers=1)
    write(LayoutReference(str(tmp_path / "l")), img)
    src = LayoutReference(str(tmp_path / "l")).new_source()
    try:
        assert src.get_manifest()[0] == img.manifest.raw
    finally:
        src.close()


def test_refuses_non_layout_directory(tmp_path: Path) -> None:
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "precious.txt").write_text("keep")
    with pytest.raises(Conflict, match="without oci-layout"):
        LayoutReference(str(tmp_path / "l"), "x").new_destination()
    assert (tmp_path / "l" / "precious.txt").read_text() == "keep"


def test_failed_write_into_existing_layout_keeps_it(tmp_path: Path) -> None:
    path = str(tmp_path / "l")
    write(LayoutReference(path, "a"), make_image("keep", layers=1))
    before = sorted(str(p) for p in Path(path).rglob("*"))
    index_before = (Path(path) / "index.json").read_bytes()
    dst = LayoutReference(path, "b").new_destination()
    img = make_image("abandoned", layers=2)
    for desc in img.manifest.blobs():
        dst.put_blob(io.BytesIO(img.blobs[desc.digest]), desc)
    dst.close()
    assert sorted(str(p) for p in Path(path).rglob("*")) == before
    assert (Path(path) / "index.json").read_bytes() == index_before


def test_dir_refuses_foreign_directory_and_keeps_signatures(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("x")
    with pytest.raises(Conflict, match="not a dir: image"):
        DirReference(str(tmp_path / "d")).new_destination()
    img = make_image("sig", layers=1)
    ref = DirReference(str(tmp_path / "s"))
    dst = ref.new_destination()
    try:
        for desc in img.manifest.blobs():
            dst.put_blob(io.BytesIO(img.blobs[desc.digest]), desc)
        dst.put_manifest(img.manifest.raw, img.manifest.media_type)
        dst.put_signatures(img.digest, [b"sig-one", b"sig-two"])
        dst.commit()
    finally:
        dst.close()
    root = tmp_path / "s"
    assert (root / "version").read_bytes() == b"Directory Transport Version: 1.1\n"
    assert (root / "signature-1").read_bytes() == b"sig-one"
    src = ref.new_source()
    try:
        assert src.signatures(img.digest) == [b"sig-one", b"sig-two"]
    finally:
        src.close()
    assert detect_archive_kind(root) == "dir"
    # Overwriting a dir: image replaces it whole.
    write(ref, make_image("other", layers=1))
    assert not (root / "signature-1").exists()


def test_blobs_are_made_durable_once_at_commit_before_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fsync while blobs are written; at commit every blob and its directory are fsynced
    before index.json is renamed into place (then the root, for that rename)."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    img = make_image("durable", layers=2)
    root = (tmp_path / "l").resolve()
    write(LayoutReference(str(root), "v1"), img)
    blobs = {str(root / "blobs" / "sha256" / d.hex) for d in [*img.blobs, img.digest]}
    index_at = events.index(("rename", str(root / "index.json")))
    first_fsync = next(i for i, e in enumerate(events) if e[0] == "fsync")
    renamed_blobs = [i for i, e in enumerate(events) if e[0] == "rename" and e[1] in blobs]
    assert len(renamed_blobs) == len(blobs) and max(renamed_blobs) < first_fsync
    synced = {path for kind, path in events[:index_at] if kind == "fsync"}
    assert blobs <= synced
    assert str(root / "blobs" / "sha256") in synced
    assert ("fsync", str(root)) in events[index_at:]
