"""16 clients pushing the same image at once (threads, urllib3): all succeed, the image
verifies, and storage holds one verified file per blob with no upload left behind."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3

from lamina.content import BlobStore
from tests.server.client import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Client, compact, sha256
from tests.server.servers import Server, start_lamina

CLIENTS = 16


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    s = start_lamina(tmp_path / "storage", "--workers", str(request.param))
    yield s
    s.stop()


def _push(
    client: Client, n: int, blobs: list[bytes], manifest: bytes, start: threading.Barrier
) -> None:
    start.wait()
    for i, blob in enumerate(blobs):
        digest = sha256(blob)
        if (n + i) % 3 == 0:  # monolithic POST ?digest=
            r = client.request(
                "POST", "/v2/same/image/blobs/uploads/", blob,
                {"Content-Type": "application/octet-stream"}, digest=digest,
            )  # fmt: skip
            assert r.status == 201, r.data
            continue
        location = client.start_upload("same/image")
        half = len(blob) // 2
        if (n + i) % 3 == 1:  # chunked PATCH with Content-Range, then PUT
            r = client.request(
                "PATCH", location, blob[:half],
                {"Content-Range": f"0-{half - 1}", "Content-Type": "application/octet-stream"},
            )  # fmt: skip
            assert r.status == 202, r.data
            r = client.request("PUT", str(r.headers["Location"]), blob[half:], digest=digest)
        else:  # whole body on PUT
            r = client.request("PUT", location, blob, digest=digest)
        assert r.status == 201, r.data
    r = client.push_manifest("same/image", "v1", manifest, OCI_MANIFEST)
    assert r.status == 201, r.data


def test_16_clients_push_the_same_image(server: Server) -> None:
    layers = [os.urandom(1 << 20) for _ in range(3)]
    config = compact({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    manifest = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(x), "size": len(x)} for x in layers
            ],
        }
    )
    blobs = [config, *layers]
    start = threading.Barrier(CLIENTS)
    with ThreadPoolExecutor(CLIENTS) as pool:
        jobs = [
            pool.submit(
                _push,
                Client(server.url, urllib3.PoolManager(retries=False, timeout=60.0)),
                n,
                blobs,
                manifest,
                start,
            )
            for n in range(CLIENTS)
        ]
        for job in jobs:
            job.result()
    client = Client(server.url)
    r = client.request("GET", "/v2/same/image/manifests/v1")
    assert r.status == 200 and r.data == manifest
    for blob in blobs:
        got = client.request("GET", f"/v2/same/image/blobs/{sha256(blob)}")
        assert got.status == 200 and sha256(got.data) == sha256(blob)
    store = BlobStore(server.storage)
    on_disk = sorted(str(d) for d in store)
    assert on_disk == sorted({*map(sha256, blobs), sha256(manifest)})
    assert all(store.verify(d) for d in store)
    assert list((server.storage / "uploads").iterdir()) == []
    assert list((server.storage / "ingest").iterdir()) == []
