"""lamina's file transports against skopeo, podman and umoci, in both directions."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.content.layers import apply_layer
from lamina.copy import copy_image
from lamina.copy.alltransports import parse
from lamina.image.model import Image, load
from lamina.image.validate import validate
from lamina.oci import ImageManifest
from lamina.reference import Reference
from lamina.transports.base import ImageReference
from lamina.transports.docker_archive_dest import DockerArchiveWriter
from lamina.transports.layout import LayoutReference
from lamina.transports.names import list_images
from lamina.transports.oci_archive import OCIArchiveWriter
from tests.transports.conformance import write
from tests.transports.images import layer_tar, make_image, make_index, put_index

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (shutil.which("skopeo") and shutil.which("podman")), reason="needs skopeo and podman"
    ),
]


def run(*args: str) -> bytes:
    proc = subprocess.run(args, capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc.stdout


def raw_manifest(ref: ImageReference) -> bytes:
    src = ref.new_source()
    try:
        raw, media_type = src.get_manifest()
        validate(load(raw, src, media_type))
        return raw
    finally:
        src.close()


@pytest.fixture
def podman_name() -> Iterator[str]:
    name = f"localhost/lamina-test-{uuid.uuid4().hex[:10]}:latest"
    yield name
    subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False)


WRITTEN = {
    "oci": lambda d: f"oci:{d}/layout:img",
    "oci-archive": lambda d: f"oci-archive:{d}/img.tar:img",
    "docker-archive": lambda d: f"docker-archive:{d}/img.tar:localhost/lamina/img:1",
    "dir": lambda d: f"dir:{d}/dirimg",
}


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_skopeo_reads_what_lamina_writes(kind: str, tmp_path: Path, podman_name: str) -> None:
    text = WRITTEN[kind](tmp_path)
    ref = parse(text)
    write(ref, make_image(f"skopeo-{kind}", layers=2))
    ours = raw_manifest(ref)
    assert run("skopeo", "inspect", "--raw", text) == ours
    run("skopeo", "copy", "-q", text, f"containers-storage:{podman_name}")
    listed = run("podman", "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert podman_name.encode() in listed.splitlines()
    history = run("podman", "history", "--format", "{{.CreatedBy}}", podman_name)
    assert b"layer 1 of skopeo-" in history


def test_skopeo_reads_lamina_index(tmp_path: Path) -> None:
    idx = make_index("skopeo-idx")
    ref = LayoutReference(str(tmp_path / "layout"), "multi")
    dst = ref.new_destination()
    try:
        put_index(dst, idx)
        dst.commit()
    finally:
        dst.close()
    text = f"oci:{tmp_path}/layout:multi"
    assert run("skopeo", "inspect", "--raw", text) == idx.index.raw
    run("skopeo", "copy", "-q", "--all", text, f"dir:{tmp_path}/viaskopeo")
    back = parse(f"dir:{tmp_path}/viaskopeo")
    assert raw_manifest(back) == idx.index.raw


def test_skopeo_reads_multi_image_archives(tmp_path: Path) -> None:
    a, b = make_image("multi-a", layers=2), make_image("multi-b", layers=1)
    src_a, src_b = parse(f"oci:{tmp_path}/src:a"), parse(f"oci:{tmp_path}/src:b")
    write(src_a, a)
    write(src_b, b)
    oci = OCIArchiveWriter(tmp_path / "multi-oci.tar")
    try:
        copy_image(src_a, oci.reference("a"))
        copy_image(src_b, oci.reference("b"))
        oci.commit()
    finally:
        oci.close()
    docker = DockerArchiveWriter(tmp_path / "multi-docker.tar")
    try:
        copy_image(src_a, docker.reference([Reference.parse("localhost/multi/a:1")]))
        copy_image(src_b, docker.reference([Reference.parse("localhost/multi/b:1")]))
        docker.commit()
    finally:
        docker.close()
    for name, img in (("a", a), ("b", b)):
        got = run("skopeo", "inspect", "--raw", f"oci-archive:{tmp_path}/multi-oci.tar:{name}")
        assert got == img.manifest.raw
        text = f"docker-archive:{tmp_path}/multi-docker.tar:localhost/multi/{name}:1"
        assert run("skopeo", "inspect", "--raw", text) == raw_manifest(parse(text))
    names = [n for n, _ in list_images(tmp_path / "multi-docker.tar")]
    assert names == [["localhost/multi/a:1"], ["localhost/multi/b:1"]]
    assert [n for n, _ in list_images(tmp_path / "multi-oci.tar")] == [["a"], ["b"]]


@pytest.fixture(scope="module")
def podman_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An image made by `podman import` from a tar built here."""
    d = tmp_path_factory.mktemp("podman-import")
    tar = d / "root.tar"
    tar.write_bytes(layer_tar({"etc/hello": b"hello from podman\n", "bin/tool": b"#!x\n" * 50}))
    name = f"localhost/lamina-test-import-{uuid.uuid4().hex[:10]}:1"
    run("podman", "import", "-q", str(tar), name)
    yield name
    subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False)


@pytest.mark.parametrize(
    ("how", "fmt"),
    [
        ("podman", "docker-archive"),
        ("podman", "oci-archive"),
        ("skopeo", "docker-archive"),
        ("skopeo", "oci-archive"),
    ],
)
def test_lamina_reads_podman_and_skopeo_archives(
    how: str, fmt: str, podman_image: str, tmp_path: Path
) -> None:
    path = tmp_path / "saved.tar"
    if how == "podman":
        run("podman", "save", "-q", "--format", fmt, "-o", str(path), podman_image)
    else:
        suffix = f":{podman_image}" if fmt == "docker-archive" else ":img"
        run("skopeo", "copy", "-q", f"containers-storage:{podman_image}", f"{fmt}:{path}{suffix}")
    text = f"{fmt}:{path}"
    ours = raw_manifest(parse(text))
    assert run("skopeo", "inspect", "--raw", text) == ours
    manifest = ImageManifest.parse(ours)
    # Blob digests agree with what podman stores.
    inspect = json.loads(run("skopeo", "inspect", text))
    assert inspect["Layers"] == [str(d.digest) for d in manifest.layers]
    # read → write → read keeps every digest.
    for out in (
        f"{fmt}:{tmp_path}/again.tar",
        f"oci:{tmp_path}/again-layout:x",
        f"dir:{tmp_path}/again-dir",
    ):
        copy_image(parse(text), parse(out))
        if out.startswith("oci:") and manifest.media_type != mt.OCI_MANIFEST:
            # an OCI layout takes OCI types: converted, layers kept (as skopeo copy does)
            converted = ImageManifest.parse(raw_manifest(parse(out)))
            assert converted.media_type == mt.OCI_MANIFEST
            assert [d.digest for d in converted.layers] == [d.digest for d in manifest.layers]
            continue
        assert raw_manifest(parse(out)) == ours
    listed = list_images(path)
    assert len(listed) == 1
    if fmt == "docker-archive":
        assert listed[0][0] == [podman_image]


@pytest.mark.skipif(not shutil.which("umoci"), reason="needs umoci")
def test_umoci_unpack_matches_apply_layer(tmp_path: Path) -> None:
    ref = LayoutReference(str(tmp_path / "layout"), "latest")
    img = make_image("umoci", layers=3)
    write(ref, img)
    run(
        "umoci",
        "--log",
        "error",
        "unpack",
        "--image",
        f"{tmp_path}/layout:latest",
        str(tmp_path / "bundle"),
    )
    ours = tmp_path / "ours"
    ours.mkdir()
    src = ref.new_source()
    try:
        raw, media_type = src.get_manifest()
        image = load(raw, src, media_type)
        assert isinstance(image, Image)
        for layer in image.layers():
            with layer.open() as f:
                apply_layer(f, ours)
    finally:
        src.close()
    assert _tree(tmp_path / "bundle" / "rootfs") == _tree(ours)


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    out: dict[str, tuple[int, bytes | None]] = {}
    for dirpath, _, files in os.walk(root):
        for name in [*files, ""]:
            p = Path(dirpath) / name if name else Path(dirpath)
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
            out[str(p.relative_to(root))] = (st.st_mode, data)
    return out
