"""registry → registry copies forward blob bytes without hashing them in the client: the
destination registry's digest check at the closing PUT is what refuses a wrong blob."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.copy import BlobDone, ProgressEvent
from lamina.errors import ErrorCode, IntegrityError, NotFound
from lamina.image.model import Image
from lamina.ops.copying import copy
from lamina.transports.registry import RegistryReference
from tests.ops.images import image_layout
from tests.server.servers import Server
from tests.transports.registry.faultproxy import Fault, FaultProxy


@pytest.fixture
def proxy(lamina_reg: Server) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the source registry (lamina's)."""
    p = FaultProxy(lamina_reg.host).start()
    try:
        yield p
    finally:
        p.stop()


def _has_blob(host: str, repo: str, img: Image, index: int) -> bool:
    dest = RegistryReference.parse(f"docker://{host}/{repo}:v1").new_destination()
    try:
        return dest.has_blob(img.manifest().layers[index])
    finally:
        dest.close()


@pytest.mark.parametrize("with_progress", [False, True], ids=["quiet", "progress"])
def test_wrong_bytes_from_the_source_registry_are_refused_and_not_kept(
    any_host: str,
    lamina_reg: Server,
    proxy: FaultProxy,
    repo: str,
    tmp_path: Path,
    with_progress: bool,
) -> None:
    # Layers above MONOLITHIC_MAX take the streamed upload (the path that does not hash).
    layout, img = image_layout(tmp_path, "src", seed=71, payload=3 << 20)
    copy(f"oci:{layout}:v1", f"docker://{lamina_reg.host}/{repo}-src:v1", None)
    layer = img.manifest().layers[0]
    proxy.add(Fault("GET", rf"/blobs/{layer.digest}$", "corrupt"))  # same size, wrong bytes
    source = f"docker://{proxy.host}/{repo}-src:v1"
    target = f"docker://{any_host}/{repo}:v1"
    events: list[ProgressEvent] = []
    with pytest.raises(IntegrityError) as info:
        copy(source, target, None, progress=events.append if with_progress else None)
    err = info.value
    # The destination registry refused it (the client did not hash it): its spec code.
    assert err.code == ErrorCode.DIGEST_INVALID, err.message
    assert str(layer.digest) in err.message
    assert any_host in err.message
    assert [f.fired for f in proxy.faults] == [1]
    assert not _has_blob(any_host, repo, img, 0)
    with pytest.raises(NotFound):
        copy(target, f"oci:{tmp_path}/back:v1", None)

    # Nothing wrong with the source: the same copy succeeds, verbatim.
    digest = copy(source, target, None)
    assert digest == img.digest()
    assert _has_blob(any_host, repo, img, 0)
    copy(target, f"oci:{tmp_path}/back:v1", None)


def test_wrong_bytes_from_a_registry_are_still_refused_before_kept_locally(
    lamina_reg: Server, proxy: FaultProxy, repo: str, tmp_path: Path
) -> None:
    """Bytes the client keeps (registry → oci:/dir:) are verified by the client."""
    layout, img = image_layout(tmp_path, "src", seed=72, payload=3 << 20)
    copy(f"oci:{layout}:v1", f"docker://{lamina_reg.host}/{repo}:v1", None)
    layer = img.manifest().layers[0]
    for target in (f"oci:{tmp_path}/out:v1", f"dir:{tmp_path}/d"):
        proxy.add(Fault("GET", rf"/blobs/{layer.digest}$", "corrupt"))
        with pytest.raises(IntegrityError):
            copy(f"docker://{proxy.host}/{repo}:v1", target, None)
    assert not (tmp_path / "out" / "blobs" / "sha256" / layer.digest.hex).exists()
    assert not (tmp_path / "d").exists()
    assert [f.fired for f in proxy.faults] == [1, 1]


def test_forwarded_blobs_resume(
    any_host: str, lamina_reg: Server, proxy: FaultProxy, repo: str, tmp_path: Path
) -> None:
    """A source connection dropped half way through a forwarded blob resumes with a Range
    request; progress still sees every blob end."""
    layout, img = image_layout(tmp_path, "src", seed=73, payload=3 << 20)
    copy(f"oci:{layout}:v1", f"docker://{lamina_reg.host}/{repo}-src:v1", None)
    layer = img.manifest().layers[0]
    proxy.add(Fault("GET", rf"/blobs/{layer.digest}$", "drop"))
    events: list[ProgressEvent] = []
    digest = copy(
        f"docker://{proxy.host}/{repo}-src:v1",
        f"docker://{any_host}/{repo}:v1",
        None,
        progress=events.append,
    )
    assert digest == img.digest()
    gets = [e for e in proxy.log if e.method == "GET" and str(layer.digest) in e.path]
    assert len(gets) == 2 and "Range" in gets[1].headers
    assert sum(isinstance(e, BlobDone) for e in events) == 2
    copy(f"docker://{any_host}/{repo}:v1", f"oci:{tmp_path}/back:v1", None)
    back = (tmp_path / "back" / "blobs" / "sha256" / layer.digest.hex).read_bytes()
    with img.open_blob(layer) as f:
        assert back == f.read()
