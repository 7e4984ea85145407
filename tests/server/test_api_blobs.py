"""Blob and upload API (distribution-spec v1.1), run against lamina and Distribution."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import pytest

from tests.server.client import Client, deviates, error_codes, sha256
from tests.server.servers import DISTRIBUTION, Server, start_lamina


def test_base_answers_with_api_version(client: Client) -> None:
    r = client.request("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_post_then_get_head_and_range(
    registry: Server, client: Client, repo: str
) -> None:
    data = os.urandom(100_000)
    digest = sha256(data)
    r = client.request("POST", f"/v2/{repo}/blobs/uploads/", data, digest=digest)
    if r.status == 202:  # the spec lets a registry decline single-POST (Distribution does)
        assert registry.kind == DISTRIBUTION
        r = client.request("PUT", r.headers["Location"], data, digest=digest)
    assert r.status == 201, r.data
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.request("GET", r.headers["Location"]).data == data
    g = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert g.status == 200 and g.data == data
    assert g.headers["Docker-Content-Digest"] == digest
    h = client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
    assert h.status == 200 and int(h.headers["Content-Length"]) == len(data) and h.data == b""
    part = client.request("GET", f"/v2/{repo}/blobs/{digest}", headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.data == data[10:20]


def test_post_then_put_with_body(client: Client, repo: str) -> None:
    data = b"post-then-put"
    digest = client.push_blob(repo, data)
    assert client.request("GET", f"/v2/{repo}/blobs/{digest}").data == data


def test_streamed_patch_then_put(client: Client, repo: str) -> None:
    data = os.urandom(3 << 20)
    location = client.start_upload(repo)
    r = client.request("PATCH", location, data, {"Content-Type": "application/octet-stream"})
    assert r.status == 202, r.data
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    r = client.request("PUT", r.headers["Location"], digest=sha256(data))
    assert r.status == 201, r.data
    assert client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").data == data


def _chunk(client: Client, location: str, data: bytes, start: int) -> tuple[int, str]:
    r = client.request(
        "PATCH",
        location,
        data,
        {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{start}-{start + len(data) - 1}",
            "Content-Length": str(len(data)),
        },
    )
    return r.status, str(r.headers.get("Location", ""))


def test_chunked_patches_then_put_with_last_chunk(client: Client, repo: str) -> None:
    data = os.urandom(2_500_000)
    location = client.start_upload(repo)
    cuts = [0, 1_000_000, 2_000_000]
    for start, end in itertools.pairwise(cuts):
        status, location = _chunk(client, location, data[start:end], start)
        assert status == 202
    tail = data[2_000_000:]
    r = client.request(
        "PUT",
        location,
        tail,
        {"Content-Range": f"2000000-{len(data) - 1}", "Content-Length": str(len(tail))},
        digest=sha256(data),
    )
    assert r.status == 201, r.data
    assert client.request("GET", f"/v2/{repo}/blobs/{sha256(data)}").data == data


def test_out_of_order_chunk_is_416(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "accepts a chunk that does not continue the upload")
    location = client.start_upload(repo)
    status, location = _chunk(client, location, b"a" * 10, 0)
    assert status == 202
    status, _ = _chunk(client, location, b"b" * 10, 20)
    assert status == 416


def test_upload_status_and_cancel(client: Client, repo: str) -> None:
    location = client.start_upload(repo)
    status, location = _chunk(client, location, b"x" * 1000, 0)
    assert status == 202
    r = client.request("GET", location)
    assert r.status == 204
    assert r.headers["Range"] == "0-999"
    assert "/blobs/uploads/" in r.headers["Location"]
    assert client.request("DELETE", location).status == 204
    gone = client.request("GET", location)
    assert gone.status == 404
    assert error_codes(gone) == ["BLOB_UPLOAD_UNKNOWN"]


def test_wrong_digest_on_put_is_digest_invalid(client: Client, repo: str) -> None:
    location = client.start_upload(repo)
    r = client.request("PUT", location, b"some bytes", digest=sha256(b"other bytes"))
    assert r.status == 400
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert client.request("HEAD", f"/v2/{repo}/blobs/{sha256(b'other bytes')}").status == 404


def test_blob_is_not_served_through_another_repository(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, b"private to one repo " + os.urandom(8))
    r = client.request("GET", f"/v2/{repo}-other/blobs/{digest}")
    assert r.status == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


def test_cross_repository_mount(client: Client, repo: str) -> None:
    data = b"mount me " + os.urandom(8)
    digest = client.push_blob(repo, data)
    r = client.request(
        "POST", f"/v2/{repo}-copy/blobs/uploads/", query={"mount": digest, "from": repo}
    )
    assert r.status == 201, r.data
    assert r.headers["Docker-Content-Digest"] == digest
    assert client.request("GET", f"/v2/{repo}-copy/blobs/{digest}").data == data


def test_mount_of_unknown_blob_falls_back_to_an_upload(client: Client, repo: str) -> None:
    unknown = sha256(os.urandom(16))
    r = client.request(
        "POST", f"/v2/{repo}/blobs/uploads/", query={"mount": unknown, "from": repo + "x"}
    )
    assert r.status == 202
    assert "/blobs/uploads/" in r.headers["Location"]


def test_delete_blob(client: Client, repo: str) -> None:
    digest = client.push_blob(repo, b"delete me " + os.urandom(8))
    r = client.request("DELETE", f"/v2/{repo}/blobs/{digest}")
    assert r.status == 202
    assert client.request("HEAD", f"/v2/{repo}/blobs/{digest}").status == 404


def test_unknown_blob_is_404(client: Client, repo: str) -> None:
    r = client.request("GET", f"/v2/{repo}/blobs/{sha256(b'never pushed')}")
    assert r.status == 404
    assert error_codes(r) == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize(
    "digest", ["sha256:xyz", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 63]
)
def test_malformed_digest_is_400(client: Client, repo: str, digest: str) -> None:
    r = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert r.status == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_malformed_digest_param_on_put_is_400(client: Client, repo: str) -> None:
    location = client.start_upload(repo)
    r = client.request("PUT", location, b"abc", digest="sha256:nothex")
    assert r.status == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


@pytest.mark.parametrize("name", ["UPPER/case", "a//b", "-lead/x", "a/b_"])
def test_malformed_name_is_400(
    request: pytest.FixtureRequest, registry: Server, client: Client, name: str
) -> None:
    deviates(request, registry, "answers 404 for a malformed repository name")
    r = client.request("POST", f"/v2/{name}/blobs/uploads/")
    assert r.status == 400
    assert error_codes(r) == ["NAME_INVALID"]


def test_sha512_blob(client: Client, repo: str) -> None:
    data = os.urandom(50_000)
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    location = client.start_upload(repo)
    r = client.request("PUT", location, data, digest=digest)
    assert r.status == 201, r.data
    g = client.request("GET", f"/v2/{repo}/blobs/{digest}")
    assert g.status == 200 and g.data == data


def test_repository_named_like_a_route(client: Client, repo: str) -> None:
    for name in (f"{repo}/tags", f"{repo}/blobs/manifests", f"{repo}/blobs/uploads"):
        digest = client.push_blob(name, name.encode())
        assert client.request("GET", f"/v2/{name}/blobs/{digest}").data == name.encode()


def test_read_only_refuses_pushes(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage", "--read-only")
    try:
        client = Client(server.url)
        r = client.request("POST", "/v2/ro/blobs/uploads/")
        assert r.status == 405
        assert error_codes(r) == ["UNSUPPORTED"]
        assert client.request("GET", "/v2/").status == 200
    finally:
        server.stop()
