"""Tag query parameters on manifest push (distribution-spec main): `PUT
/v2/<name>/manifests/<digest>?tag=a&tag=b` tags the manifest and answers one `OCI-Tag`
header per tag; `PUT /v2/<name>/manifests/<tag>?digest=<digest>` stores the manifest under
that digest (any algorithm). Distribution 2.8 has neither, so these run against lamina."""

from __future__ import annotations

import hashlib
import json

from tests.server.client import Client, error_codes, make_image
from tests.server.servers import Server


def _sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def _tags(client: Client, repo: str) -> list[str]:
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status == 200, r.data
    return list(json.loads(r.data)["tags"] or [])


def _push_blobs(client: Client, repo: str, seed: str) -> bytes:
    image = make_image(seed)
    for blob in [image.config, *image.layers]:
        client.push_blob(repo, blob)
    return image.manifest


def test_push_by_digest_with_tag_params_creates_tags(lamina_server: Server) -> None:
    client, repo = Client(lamina_server.url), "tagparams/multi"
    image = make_image(repo)
    _push_blobs(client, repo, repo)
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/{image.digest}?tag=a&tag=b",
        image.manifest,
        {"Content-Type": image.media_type},
    )
    assert r.status == 201, r.data
    assert r.headers.getlist("OCI-Tag") == ["a", "b"]
    assert r.headers["Docker-Content-Digest"] == image.digest
    for tag in ("a", "b"):
        g = client.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": "*/*"})
        assert g.status == 200 and g.data == image.manifest
    assert _tags(client, repo) == ["a", "b"]


def test_invalid_tag_param_is_manifest_invalid_and_stores_nothing(lamina_server: Server) -> None:
    client, repo = Client(lamina_server.url), "tagparams/invalid"
    image = make_image(repo)
    _push_blobs(client, repo, repo)
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/{image.digest}?tag=good&tag=-bad",
        image.manifest,
        {"Content-Type": image.media_type},
    )
    assert r.status == 400, r.data
    assert error_codes(r) == ["MANIFEST_INVALID"]
    assert "-bad" in json.loads(r.data)["errors"][0]["message"]
    g = client.request("GET", f"/v2/{repo}/manifests/{image.digest}")
    assert g.status == 404
    assert client.request("GET", f"/v2/{repo}/manifests/good").status == 404


def test_push_by_tag_with_sha512_digest_is_addressable_by_it(lamina_server: Server) -> None:
    client, repo = Client(lamina_server.url), "tagparams/sha512"
    image = make_image(repo)
    _push_blobs(client, repo, repo)
    digest = _sha512(image.manifest)
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/v1?digest={digest}",
        image.manifest,
        {"Content-Type": image.media_type},
    )
    assert r.status == 201, r.data
    assert r.headers["Docker-Content-Digest"] == digest
    assert r.headers["Location"].endswith(f"/manifests/{digest}")
    for ref in (digest, "v1"):
        g = client.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": "*/*"})
        assert g.status == 200 and g.data == image.manifest
        assert g.headers["Docker-Content-Digest"] == digest


def test_push_by_tag_with_wrong_digest_param_is_digest_invalid(lamina_server: Server) -> None:
    client, repo = Client(lamina_server.url), "tagparams/wrong"
    image = make_image(repo)
    _push_blobs(client, repo, repo)
    wrong = _sha512(image.manifest + b" ")
    r = client.request(
        "PUT",
        f"/v2/{repo}/manifests/v1?digest={wrong}",
        image.manifest,
        {"Content-Type": image.media_type},
    )
    assert r.status == 400, r.data
    assert error_codes(r) == ["DIGEST_INVALID"]
    assert client.request("GET", f"/v2/{repo}/manifests/v1").status == 404
