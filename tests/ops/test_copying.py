"""copy between layouts, registries and archives: verbatim, multi-arch, conversions."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from lamina import media_types as mt
from lamina.copy import BlobDone, BlobSkipped, ProgressEvent
from lamina.copy.parallel import CopyOptions
from lamina.errors import ErrorCode, IntegrityError, InvalidInput, NotFound
from lamina.image.model import Image, load
from lamina.image.validate import validate
from lamina.oci import ImageManifest
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.locations import Locations
from tests.ops.images import ARM64, image_layout, index_layout
from tests.server.servers import Server


def _load(location: str) -> tuple[bytes, Image]:
    ref = Locations().parse(location)
    src = ref.new_source()
    try:
        raw, media_type = src.get_manifest()
        img = load(raw, src, media_type)
        validate(img)
        assert isinstance(img, Image)
        return raw, img
    finally:
        src.close()


def test_layout_to_registry_and_back_is_verbatim(any_host: str, repo: str, tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=1)
    events: list[ProgressEvent] = []
    digest = copy(
        f"oci:{layout}:v1", f"docker://{any_host}/{repo}:v1", None, progress=events.append
    )
    assert digest == img.digest()
    assert sum(isinstance(e, BlobDone) for e in events) == 2
    copy(f"docker://{any_host}/{repo}:v1", f"oci:{tmp_path}/back:v1", None)
    raw, _ = _load(f"oci:{tmp_path}/back:v1")
    assert raw == img.raw_manifest()
    # Registry to registry: the blobs are already there, so nothing moves.
    events.clear()
    copy(
        f"docker://{any_host}/{repo}:v1",
        f"docker://{any_host}/{repo}:v2",
        None,
        progress=events.append,
    )
    skipped = [e for e in events if isinstance(e, BlobSkipped)]
    assert len(skipped) == 2
    assert not any(isinstance(e, BlobDone) for e in events)


def test_multi_arch_all_system_and_index_only(
    lamina_reg_host: str, repo: str, tmp_path: Path
) -> None:
    layout, index, imgs = index_layout(tmp_path, "multi", seed=10)
    every = CopyRequest(copy=CopyOptions(multi_arch="all"))
    got = copy(f"oci:{layout}:v1", f"docker://{lamina_reg_host}/{repo}:all", None, every)
    assert got == index.digest
    for img in imgs:  # each child is there by digest
        _load(f"docker://{lamina_reg_host}/{repo}@{img.digest()}")
    system = copy(f"oci:{layout}:v1", f"oci:{tmp_path}/one:x", None)
    assert system == imgs[0].digest()  # the host (amd64) image, written as a single image
    only = CopyRequest(copy=CopyOptions(multi_arch="index-only"))
    copy(
        f"docker://{lamina_reg_host}/{repo}:all",
        f"docker://{lamina_reg_host}/{repo}:idx",
        None,
        only,
    )
    raw, _ = _raw(f"docker://{lamina_reg_host}/{repo}:idx")
    assert raw == index.raw
    arm = CopyRequest(copy=CopyOptions(platform=ARM64))
    assert copy(f"oci:{layout}:v1", f"oci:{tmp_path}/arm:x", None, arm) == imgs[1].digest()


@pytest.fixture
def lamina_reg_host(lamina_reg: Server) -> str:
    return lamina_reg.host


def _raw(location: str) -> tuple[bytes, str]:
    src = Locations().parse(location).new_source()
    try:
        return src.get_manifest()
    finally:
        src.close()


def test_format_conversion_and_recompression(tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=20)
    to_docker = CopyRequest(copy=CopyOptions(manifest_format="v2s2"))
    d1 = copy(f"oci:{layout}:v1", f"oci:{tmp_path}/docker:x", None, to_docker)
    raw, _ = _load(f"oci:{tmp_path}/docker:x")
    m = ImageManifest.parse(raw)
    assert m.media_type == mt.DOCKER_MANIFEST and d1 != img.digest()
    assert m.config.media_type == mt.DOCKER_CONFIG
    assert m.config.digest == img.manifest().config.digest  # the config bytes are kept
    assert [d.digest for d in m.layers] == [d.digest for d in img.manifest().layers]
    zstd = CopyRequest(copy=CopyOptions(compression="zstd"))
    copy(f"oci:{layout}:v1", f"oci:{tmp_path}/zstd:x", None, zstd)
    raw, recompressed = _load(f"oci:{tmp_path}/zstd:x")
    layer = ImageManifest.parse(raw).layers[0]
    assert layer.media_type == mt.OCI_LAYER_ZSTD
    assert layer.digest != img.manifest().layers[0].digest
    assert recompressed.config().rootfs.diff_ids == img.config().rootfs.diff_ids  # same tar inside
    # Back to gzip and Docker: a zstd layer cannot live in schema2 unless recompressed.
    back = CopyRequest(copy=CopyOptions(manifest_format="v2s2"))
    copy(f"oci:{tmp_path}/zstd:x", f"oci:{tmp_path}/gz:x", None, back)
    raw, _ = _load(f"oci:{tmp_path}/gz:x")
    assert ImageManifest.parse(raw).layers[0].media_type == mt.DOCKER_LAYER_GZIP
    bad = CopyRequest(copy=CopyOptions(manifest_format="v2s2", compression="zstd"))
    with pytest.raises(InvalidInput, match="cannot hold zstd"):
        copy(f"oci:{layout}:v1", f"oci:{tmp_path}/never:x", None, bad)


def test_preserve_digests_refuses_before_writing(tmp_path: Path) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=30)
    req = CopyRequest(copy=CopyOptions(manifest_format="v2s2", preserve_digests=True))
    with pytest.raises(InvalidInput, match="preserve-digests") as info:
        copy(f"oci:{layout}:v1", f"oci:{tmp_path}/out:x", None, req)
    assert info.value.code == ErrorCode.UNSUPPORTED
    assert not (tmp_path / "out" / "index.json").exists()
    same = CopyRequest(copy=CopyOptions(preserve_digests=True))
    copy(f"oci:{layout}:v1", f"oci:{tmp_path}/out:x", None, same)


def test_zstd_layers_become_gzip_in_a_docker_archive(tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=40)
    copy(
        f"oci:{layout}:v1",
        f"oci:{tmp_path}/z:x",
        None,
        CopyRequest(copy=CopyOptions(compression="zstd")),
    )
    copy(f"oci:{tmp_path}/z:x", f"docker-archive:{tmp_path}/d.tar:localhost/z:1", None)
    with tarfile.open(tmp_path / "d.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        layer = tar.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        assert layer.read(262)[257:] == b"ustar"  # docker load reads it
    with pytest.raises(InvalidInput, match="preserve-digests"):
        copy(
            f"oci:{tmp_path}/z:x",
            f"docker-archive:{tmp_path}/p.tar:localhost/z:1",
            None,
            CopyRequest(copy=CopyOptions(preserve_digests=True)),
        )
    assert img.digest()


def test_malformed_locations_show_the_syntax(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        Locations().parse("docker:/no-slashes")
    assert "docker://HOST" in info.value.message
    with pytest.raises(InvalidInput) as info:
        Locations().parse("nonsense:/x")
    assert info.value.hint is not None and "docker://HOST" in info.value.hint
    assert "lamina:NAME" in info.value.hint
    with pytest.raises(InvalidInput, match="no local store"):
        Locations().parse("lamina:localhost/x")


def test_unknown_tag_and_repository(any_host: str, repo: str, tmp_path: Path) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=50)
    copy(f"oci:{layout}:v1", f"docker://{any_host}/{repo}:v1", None)
    with pytest.raises(NotFound, match="nope"):
        copy(f"docker://{any_host}/{repo}:nope", f"oci:{tmp_path}/o:x", None)
    with pytest.raises(NotFound) as info:
        copy(f"docker://{any_host}/{repo}-missing:v1", f"oci:{tmp_path}/o:x", None)
    assert any_host in info.value.message
    assert not (tmp_path / "o" / "index.json").exists()


def test_a_corrupt_source_blob_never_lands(any_host: str, repo: str, tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=60, payload=3 << 20)
    layer = img.manifest().layers[0]
    path = layout / "blobs" / "sha256" / layer.digest.hex
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    for target in (f"oci:{tmp_path}/out:x", f"docker://{any_host}/{repo}:bad", f"dir:{tmp_path}/d"):
        with pytest.raises(IntegrityError):
            copy(f"oci:{layout}:v1", target, None)
    assert not (tmp_path / "out" / "blobs" / "sha256" / layer.digest.hex).exists()
    assert not (tmp_path / "d").exists()
    with pytest.raises(NotFound):
        copy(f"docker://{any_host}/{repo}:bad", f"oci:{tmp_path}/o2:x", None)


def test_same_registry_other_repository_mounts_blobs(
    any_host: str, repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout, img = image_layout(tmp_path, "src", seed=11)
    copy(f"oci:{layout}:v1", f"docker://{any_host}/{repo}:v1", None)
    from lamina.transports.registry import RegistrySource

    def no_reads(*_: object) -> None:
        raise AssertionError("a blob was read: it should have been mounted")

    monkeypatch.setattr(RegistrySource, "open_blob", no_reads)
    events: list[ProgressEvent] = []
    digest = copy(
        f"docker://{any_host}/{repo}:v1",
        f"docker://{any_host}/{repo}-mounted:v1",
        None,
        progress=events.append,
    )
    assert digest == img.digest()
    assert sum(isinstance(e, BlobSkipped) for e in events) == 2
    monkeypatch.undo()
    raw, _ = _load(f"docker://{any_host}/{repo}-mounted:v1")
    assert raw == img.raw_manifest()
