"""copy reads what a transport declares (`lamina.transports.base` capabilities), not its
name: a transport copy has never heard of runs in parallel when it says it may, and the
trust wrappers declare exactly what they wrap."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lamina import media_types as mt
from lamina.copy import ProgressEvent
from lamina.copy.parallel import CopyOptions, copy_with
from lamina.copy.progress import BlobStarted
from lamina.digest import Digest
from lamina.image.model import load
from lamina.image.validate import validate
from lamina.oci import Descriptor
from lamina.transports.base import (
    ConcurrentBlobs,
    GzipLayersOnly,
    ImageDestination,
    ImageSource,
    ManifestTypeLimited,
    VerifiesOnPut,
)
from lamina.transports.docker_archive import DockerArchiveReference
from lamina.transports.layout import LayoutReference
from lamina.transports.layout_dest import LayoutDestination
from lamina.trust.signed_refs import SignatureStorage, SignedReference
from tests.transports.conformance import write
from tests.transports.images import make_image


class PluginLayout:
    """`plugin:DIR`, a transport of a library user's own, over an OCI layout (lamina's
    LayoutSource and LayoutDestination, which declare their capabilities)."""

    def __init__(self, path: Path) -> None:
        self.layout = LayoutReference(str(path), "x")

    @property
    def transport(self) -> str:
        return "plugin"

    def describe(self) -> str:
        return f"plugin:{self.layout.path}"

    def new_source(self) -> ImageSource:
        return self.layout.new_source()

    def new_destination(self) -> ImageDestination:
        return self.layout.new_destination()


def test_a_transport_copy_has_never_heard_of_runs_in_parallel(tmp_path: Path) -> None:
    img = make_image("plugin", layers=5)
    write(LayoutReference(str(tmp_path / "src"), "x"), img)
    threads: set[str] = set()

    def progress(event: ProgressEvent) -> None:
        if isinstance(event, BlobStarted):
            threads.add(threading.current_thread().name)

    src, dst = PluginLayout(tmp_path / "src"), PluginLayout(tmp_path / "dst")
    digest = copy_with(src, dst, CopyOptions(workers=4), progress)
    assert digest == img.digest
    assert len(threads) > 1, threads  # one thread would mean the name decided
    opened = dst.new_source()
    try:
        raw, media_type = opened.get_manifest()
        validate(load(raw, opened, media_type))
    finally:
        opened.close()


def test_a_fresh_layout_takes_blobs_from_many_threads_at_once(tmp_path: Path) -> None:
    """Its blobs/sha256 directory is made by whichever put_blob comes first (the copy no
    longer sends the config ahead, alone)."""
    blobs = [bytes([i]) * 1000 for i in range(8)]
    for trial in range(30):
        dst = LayoutDestination(tmp_path / f"l{trial}", "x", f"oci:l{trial}")
        start = threading.Barrier(len(blobs))

        def put(
            data: bytes, dst: LayoutDestination = dst, start: threading.Barrier = start
        ) -> None:
            desc = Descriptor(
                media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(data), size=len(data)
            )
            start.wait()
            dst.put_blob(io.BytesIO(data), desc)

        with ThreadPoolExecutor(max_workers=len(blobs)) as pool:
            list(pool.map(put, blobs))
        assert len(list((tmp_path / f"l{trial}" / "blobs" / "sha256").iterdir())) == len(blobs)
        dst.close()  # no commit: everything it added goes, the directories too
        assert not (tmp_path / f"l{trial}").exists()


def test_trust_wrappers_declare_what_they_wrap(tmp_path: Path) -> None:
    storage = SignatureStorage()
    layout = SignedReference(LayoutReference(str(tmp_path / "l"), "x"), storage)
    dst = layout.new_destination()
    try:
        assert isinstance(dst, VerifiesOnPut) and isinstance(dst, ConcurrentBlobs)
        assert isinstance(dst, ManifestTypeLimited) and not isinstance(dst, GzipLayersOnly)
        assert dst.supported_manifest_types() == {mt.OCI_MANIFEST, mt.OCI_INDEX}
    finally:
        dst.close()
    archive = DockerArchiveReference.parse(f"{tmp_path}/d.tar:localhost/x:1")
    dst = SignedReference(archive, storage).new_destination()
    try:
        assert isinstance(dst, ManifestTypeLimited) and isinstance(dst, GzipLayersOnly)
        assert dst.supported_manifest_types() == mt.MANIFEST_TYPES
        assert not isinstance(dst, VerifiesOnPut) and not isinstance(dst, ConcurrentBlobs)
    finally:
        dst.close()
