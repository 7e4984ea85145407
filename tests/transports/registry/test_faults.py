"""Faults between client and registry: drops, 5xx, 429, corrupt bytes, stalls, chunking."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator

import pytest

from lamina import media_types as mt
from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError, NotFound, RegistryError, TransportError
from lamina.image import model
from lamina.image.model import Image
from lamina.image.validate import validate
from lamina.oci import Descriptor
from lamina.transports.registry import RegistryOptions, RegistryReference, RegistrySource
from lamina.transports.registry.destination import MONOLITHIC_MAX, RegistryDestination
from tests.transports.registry.faultproxy import Fault, FaultProxy
from tests.transports.registry.images import make_image, push_image
from tests.transports.registry.servers import Distribution

pytestmark = pytest.mark.interop

BLOB_GET = r"^/v2/.+/blobs/sha256:"


@pytest.fixture
def proxy(distribution: Distribution) -> Iterator[FaultProxy]:
    p = FaultProxy(distribution.host).start()
    try:
        yield p
    finally:
        p.stop()


def ref(host: str, name: str, **opts: object) -> RegistryReference:
    options = RegistryOptions(retry_delay=0.05, **opts)  # type: ignore[arg-type]
    return RegistryReference.parse(f"docker://{host}/{name}", options)


@pytest.fixture
def pushed(distribution: Distribution, store: BlobStore) -> Image:
    img = make_image(store, seed=314, payload=300_000)
    push_image(img, ref(distribution.host, "faults/img:v1").new_destination())
    return img


def _layer_fault_path(img: Image) -> str:
    return rf"/blobs/{img.manifest().layers[0].digest}$"


def test_dropped_connection_mid_blob_resumes(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", _layer_fault_path(pushed), "drop", times=2))
    src = ref(proxy.host, "faults/img:v1").new_source()
    view = model.load(src.get_manifest()[0], src)
    validate(view)
    ranged = [e for e in proxy.log if "Range" in e.headers]
    assert len(ranged) == 2
    assert all(e.headers["Range"].startswith("bytes=") for e in ranged)
    assert ranged[0].headers["Range"] != "bytes=0-"


def test_resume_gives_up_after_retry_times(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", _layer_fault_path(pushed), "drop", times=10))
    src = ref(proxy.host, "faults/img:v1", retry_times=2).new_source()
    desc = pushed.manifest().layers[0]
    with pytest.raises(TransportError) as err, src.open_blob(desc) as f:
        while f.read(1 << 16):
            pass
    assert err.value.retryable
    assert proxy.host in str(err.value) and str(desc.digest) in str(err.value)


def test_server_error_once_is_retried(proxy: FaultProxy, pushed: Image) -> None:
    fault = proxy.add(Fault("GET", r"/manifests/v1$", "status", status=500))
    raw, _ = ref(proxy.host, "faults/img:v1").new_source().get_manifest()
    assert raw == pushed.raw_manifest()
    assert fault.fired == 1
    assert [e.fault for e in proxy.log if "manifests" in e.path] == ["status", None]


def test_server_errors_exhaust_retries(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", r"/manifests/v1$", "status", status=503, times=10))
    with pytest.raises(RegistryError) as err:
        ref(proxy.host, "faults/img:v1", retry_times=2).new_source().get_manifest()
    assert err.value.retryable and "503" in str(err.value)
    assert len([e for e in proxy.log if "manifests" in e.path]) == 3


def test_too_many_requests_honours_retry_after(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", r"/manifests/v1$", "status", status=429, headers={"Retry-After": "1"}))
    began = time.monotonic()
    raw, _ = ref(proxy.host, "faults/img:v1").new_source().get_manifest()
    assert time.monotonic() - began >= 0.9
    assert raw == pushed.raw_manifest()


def test_client_errors_are_not_retried(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", r"/manifests/v1$", "status", status=400, times=5))
    with pytest.raises(RegistryError) as err:
        ref(proxy.host, "faults/img:v1").new_source().get_manifest()
    assert not err.value.retryable
    assert len([e for e in proxy.log if "manifests" in e.path]) == 1


def test_corrupt_blob_raises_and_nothing_is_kept(
    proxy: FaultProxy, pushed: Image, tmp_path: object
) -> None:
    proxy.add(Fault("GET", _layer_fault_path(pushed), "corrupt"))
    src = ref(proxy.host, "faults/img:v1").new_source()
    desc = pushed.manifest().layers[0]
    local = BlobStore(f"{tmp_path}/pulled")
    with pytest.raises(IntegrityError), src.open_blob(desc) as f:
        local.put_stream(f, desc.digest, desc.size)
    assert not local.has(desc.digest)
    assert list(local) == []


def test_corrupt_manifest_by_tag_is_refused(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", r"/manifests/v1$", "corrupt"))
    with pytest.raises((IntegrityError, ValueError)) as err:
        ref(proxy.host, "faults/img:v1").new_source().get_manifest()
    if isinstance(err.value, IntegrityError):
        assert err.value.code == ErrorCode.DIGEST_INVALID


def test_stall_times_out_with_a_clear_error(proxy: FaultProxy, pushed: Image) -> None:
    proxy.add(Fault("GET", _layer_fault_path(pushed), "stall", times=5, stall_seconds=10))
    src = ref(proxy.host, "faults/img:v1", timeout=0.5, retry_times=1).new_source()
    desc = pushed.manifest().layers[0]
    began = time.monotonic()
    with pytest.raises(TransportError) as err, src.open_blob(desc) as f:
        while f.read(1 << 16):
            pass
    assert time.monotonic() - began < 8
    assert "timed out" in str(err.value) and proxy.host in str(err.value)
    assert err.value.retryable


def test_chunked_upload_when_registry_asks(proxy: FaultProxy, store: BlobStore) -> None:
    chunk_min = 400_000
    proxy.add(
        Fault(
            "POST",
            r"/blobs/uploads/$",
            "header",
            times=10,
            headers={"OCI-Chunk-Min-Length": str(chunk_min)},
        )
    )
    img = make_image(store, seed=2718, payload=MONOLITHIC_MAX + 500_000)
    dest = ref(proxy.host, "faults/chunked:v1").new_destination()
    assert isinstance(dest, RegistryDestination)
    dest.chunk_size = chunk_min
    push_image(img, dest)
    patches = [e for e in proxy.log if e.method == "PATCH"]
    layer_size = img.manifest().layers[0].size
    assert len(patches) == -(-layer_size // chunk_min)
    assert patches[0].headers["Content-Range"] == f"0-{chunk_min - 1}"
    assert patches[-1].headers["Content-Range"].endswith(f"-{layer_size - 1}")
    src = ref(proxy.host, "faults/chunked:v1").new_source()
    validate(model.load(src.get_manifest()[0], src))


def test_streamed_upload_of_wrong_bytes_is_refused_and_cancelled(
    proxy: FaultProxy, distribution: Distribution
) -> None:
    """The client counts a streamed blob; the registry's digest check at the closing PUT
    refuses wrong bytes (an IntegrityError), and the session is cancelled."""
    size = MONOLITHIC_MAX + 100_000
    good = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    desc = Descriptor(media_type=mt.OCI_LAYER_GZIP, digest=Digest.of_bytes(good), size=size)
    dest = ref(proxy.host, "faults/wrong:v1").new_destination()
    bad = bytearray(good)
    bad[-1] ^= 1
    with pytest.raises(IntegrityError):
        dest.put_blob(io.BytesIO(bytes(bad)), desc)
    assert [e for e in proxy.log if e.method == "DELETE"], "the upload session is cancelled"
    assert not dest.has_blob(desc)
    src = ref(distribution.host, "faults/wrong:v1").new_source()
    assert isinstance(src, RegistrySource)
    with pytest.raises(NotFound):
        src.open_blob(desc).read(1)
