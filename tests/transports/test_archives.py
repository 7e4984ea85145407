"""Archive specifics and bad input: several images, @N, gzip'd archives and layers,
truncation, invalid JSON, missing blobs, unknown media types."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.copy import copy_image
from lamina.copy.alltransports import parse
from lamina.errors import InvalidInput, LaminaError, NotFound
from lamina.image.model import load
from lamina.image.validate import validate
from lamina.oci import ImageManifest
from lamina.reference import Reference
from lamina.transports.docker_archive_dest import DockerArchiveWriter
from lamina.transports.layout import LayoutReference
from lamina.transports.names import detect_archive_kind, list_images
from lamina.transports.oci_archive import OCIArchiveWriter
from tests.transports.conformance import write
from tests.transports.images import make_image, make_index, put_index


def read_validated(text: str) -> bytes:
    src = parse(text).new_source()
    try:
        raw, media_type = src.get_manifest()
        validate(load(raw, src, media_type))
        return raw
    finally:
        src.close()


def tar_of(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def two_images(tmp_path: Path) -> tuple[Path, Path]:
    """A docker-archive and an oci-archive each holding two images."""
    a, b = make_image("arch-a", layers=2), make_image("arch-b", layers=2)
    sa, sb = (
        LayoutReference(str(tmp_path / "src"), "a"),
        LayoutReference(str(tmp_path / "src"), "b"),
    )
    write(sa, a)
    write(sb, b)
    docker = DockerArchiveWriter(tmp_path / "d.tar")
    try:
        copy_image(sa, docker.reference([Reference.parse("localhost/x/a:1")]))
        copy_image(
            sb, docker.reference([Reference.parse("localhost/x/b:1"), Reference.parse("b:2")])
        )
        docker.commit()
    finally:
        docker.close()
    oci = OCIArchiveWriter(tmp_path / "o.tar")
    try:
        copy_image(sa, oci.reference("a"))
        copy_image(sb, oci.reference("b"))
        oci.commit()
    finally:
        oci.close()
    return tmp_path / "d.tar", tmp_path / "o.tar"


def test_docker_archive_several_images(two_images: tuple[Path, Path]) -> None:
    d, _ = two_images
    by_tag = read_validated(f"docker-archive:{d}:localhost/x/b:1")
    assert read_validated(f"docker-archive:{d}:@1") == by_tag
    assert read_validated(f"docker-archive:{d}:b:2") == by_tag
    assert read_validated(f"docker-archive:{d}:@0") != by_tag
    with pytest.raises(InvalidInput, match="holds 2 images"):
        read_validated(f"docker-archive:{d}")
    with pytest.raises(NotFound, match="no image @5"):
        read_validated(f"docker-archive:{d}:@5")
    with pytest.raises(NotFound, match="no image tagged"):
        read_validated(f"docker-archive:{d}:localhost/x/c:1")
    assert [n for n, _ in list_images(d)] == [
        ["localhost/x/a:1"],
        ["localhost/x/b:1", "docker.io/library/b:2"],
    ]
    assert detect_archive_kind(d) == "docker-archive"
    with tarfile.open(d) as tar:
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
    assert set(repositories) == {"localhost/x/a", "localhost/x/b", "docker.io/library/b"}


def test_oci_archive_several_images(two_images: tuple[Path, Path]) -> None:
    _, o = two_images
    assert read_validated(f"oci-archive:{o}:a") != read_validated(f"oci-archive:{o}:b")
    with pytest.raises(InvalidInput, match=r"refs: a, b"):
        read_validated(f"oci-archive:{o}")
    assert detect_archive_kind(o) == "oci-archive"
    with tarfile.open(o) as tar:
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())


def test_gzipped_archive_and_gzipped_layers(two_images: tuple[Path, Path], tmp_path: Path) -> None:
    d, _ = two_images
    want = read_validated(f"docker-archive:{d}:@0")
    gz = tmp_path / "d.tar.gz"
    gz.write_bytes(gzip.compress(d.read_bytes()))
    assert read_validated(f"docker-archive:{gz}:@0") == want
    # An archive whose layer tars are gzip'd (as some tools write them) reads as uncompressed.
    with tarfile.open(d) as tar:
        items = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        item = items[0]
        files = {item["Config"]: tar.extractfile(item["Config"]).read()}  # type: ignore[union-attr]
        for name in item["Layers"]:
            files[name + ".gz"] = gzip.compress(tar.extractfile(name).read())  # type: ignore[union-attr]
    item["Layers"] = [n + ".gz" for n in item["Layers"]]
    files["manifest.json"] = json.dumps([item]).encode()
    tar_of(tmp_path / "gzlayers.tar", files)
    assert read_validated(f"docker-archive:{tmp_path}/gzlayers.tar") == want


def test_index_to_docker_archive_needs_one_platform(tmp_path: Path) -> None:
    idx = make_index("toarchive")
    src = LayoutReference(str(tmp_path / "l"), "m")
    dst = src.new_destination()
    try:
        put_index(dst, idx)
        dst.commit()
    finally:
        dst.close()
    out = parse(f"docker-archive:{tmp_path}/out.tar:localhost/m:1")
    with pytest.raises(InvalidInput, match="cannot store an image index"):
        copy_image(src, out)
    assert not (tmp_path / "out.tar").exists()
    assert copy_image(src, out, all_platforms=False) == idx.children[0].digest
    validate_text = f"docker-archive:{tmp_path}/out.tar"
    raw = read_validated(validate_text)
    assert ImageManifest.parse(raw).config.digest == idx.children[0].config.digest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", ["oci-archive", "docker-archive"])
def test_truncated_archive(kind: str, two_images: tuple[Path, Path], tmp_path: Path) -> None:
    d, o = two_images
    original = d if kind == "docker-archive" else o
    data = original.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LaminaError) as info:
        read_validated(f"{kind}:{cut}:@0" if kind == "docker-archive" else f"{kind}:{cut}:a")
    assert "cut.tar" in info.value.message
    assert isinstance(info.value, InvalidInput | NotFound)


def test_invalid_manifest_json(tmp_path: Path) -> None:
    tar_of(tmp_path / "bad.tar", {"manifest.json": b"[{not json"})
    with pytest.raises(InvalidInput, match=r"bad.tar:manifest.json: invalid JSON"):
        read_validated(f"docker-archive:{tmp_path}/bad.tar")
    tar_of(tmp_path / "bad2.tar", {"manifest.json": b'[{"Config": 3}]'})
    with pytest.raises(InvalidInput, match=r"\[0\]: field 'Config'"):
        read_validated(f"docker-archive:{tmp_path}/bad2.tar")
    layout = tmp_path / "l"
    write(LayoutReference(str(layout), "x"), make_image("badjson", layers=1))
    (layout / "index.json").write_bytes(b'{"schemaVersion": 2, "manifests": [')
    with pytest.raises(InvalidInput, match=r"index.json: invalid JSON"):
        read_validated(f"oci:{layout}:x")


def test_manifest_naming_missing_blob(tmp_path: Path) -> None:
    tar_of(
        tmp_path / "missing.tar",
        {"manifest.json": b'[{"Config":"abc.json","RepoTags":[],"Layers":[]}]'},
    )
    with pytest.raises(NotFound, match=r"names config 'abc.json'"):
        read_validated(f"docker-archive:{tmp_path}/missing.tar")
    img = make_image("missingblob", layers=2)
    layout = tmp_path / "l"
    write(LayoutReference(str(layout), "x"), img)
    (layout / "blobs" / "sha256" / img.manifest.config.digest.hex).unlink()
    with pytest.raises(NotFound, match=img.manifest.config.digest.hex):
        read_validated(f"oci:{layout}:x")


def test_unknown_media_type(tmp_path: Path) -> None:
    img = make_image("unknown", layers=1)
    layout = tmp_path / "l"
    write(LayoutReference(str(layout), "x"), img)
    index = json.loads((layout / "index.json").read_bytes())
    index["manifests"][0]["mediaType"] = "application/vnd.example.thing+json"
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidInput, match="not an image manifest or index"):
        read_validated(f"oci:{layout}:x")
    with pytest.raises(InvalidInput, match="docker-archive holds only image configs and layers"):
        dst = parse(f"docker-archive:{tmp_path}/o.tar").new_destination()
        try:
            dst.put_blob(io.BytesIO(b"{}"), img.manifest.config.with_media_type("text/plain"))
        finally:
            dst.close()
    assert mt.is_layer(img.manifest.layers[0].media_type)


def test_detect_rejects_other_things(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(InvalidInput, match="not a readable tar"):
        detect_archive_kind(tmp_path / "plain.txt")
    tar_of(tmp_path / "other.tar", {"README": b"x"})
    with pytest.raises(InvalidInput, match="neither oci-layout"):
        detect_archive_kind(tmp_path / "other.tar")
    with pytest.raises(NotFound):
        detect_archive_kind(tmp_path / "absent")


def test_legacy_layer_paths_through_symlinks(two_images: tuple[Path, Path], tmp_path: Path) -> None:
    """Older `docker save` names layers `ID/layer.tar`; lamina writes those as symlinks to
    the real `HEX.tar`, and a manifest.json naming the symlinks still reads the same."""
    d, _ = two_images
    want = read_validated(f"docker-archive:{d}:@0")
    out = tmp_path / "legacy.tar"
    with tarfile.open(d) as src, tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as dst:
        legacy = {m.linkname.removeprefix("../"): m.name for m in src.getmembers() if m.issym()}
        for m in src.getmembers():
            if m.name == "manifest.json":
                items = json.load(src.extractfile(m))  # type: ignore[arg-type]
                items[0]["Layers"] = [legacy[n] for n in items[0]["Layers"]]
                data = json.dumps(items).encode()
                info = tarfile.TarInfo("manifest.json")
                info.size = len(data)
                dst.addfile(info, io.BytesIO(data))
            else:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    assert read_validated(f"docker-archive:{out}:@0") == want
