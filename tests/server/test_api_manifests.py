"""Manifest, tag, catalog and referrers API, run against lamina and Distribution."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.server.client import (
    DOCKER_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Client,
    compact,
    descriptor,
    deviates,
    error_codes,
    make_image,
    sha256,
)
from tests.server.servers import Server


@pytest.mark.parametrize("docker", [False, True], ids=["oci", "docker"])
def test_push_and_get_manifest_by_tag_and_digest(client: Client, repo: str, docker: bool) -> None:
    image = make_image(repo, docker=docker)
    r = client.push_image(repo, image, "v1")
    assert r.headers["Docker-Content-Digest"] == image.digest
    for ref in ("v1", image.digest):
        g = client.request(
            "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": image.media_type}
        )
        assert g.status == 200
        assert g.data == image.manifest
        assert g.headers["Content-Type"] == image.media_type
        assert g.headers["Docker-Content-Digest"] == image.digest
        h = client.request(
            "HEAD", f"/v2/{repo}/manifests/{ref}", headers={"Accept": image.media_type}
        )
        assert h.status == 200 and int(h.headers["Content-Length"]) == len(image.manifest)


def test_manifest_missing_layer_is_manifest_blob_unknown(client: Client, repo: str) -> None:
    image = make_image(repo)
    client.push_blob(repo, image.config)
    r = client.push_manifest(repo, "v1", image.manifest, image.media_type)
    assert r.status == 400
    assert set(error_codes(r)) == {"MANIFEST_BLOB_UNKNOWN"}


def test_manifest_blob_from_another_repository_is_unknown(client: Client, repo: str) -> None:
    image = make_image(repo)
    for blob in [image.config, *image.layers]:
        client.push_blob(repo + "-elsewhere", blob)
    r = client.push_manifest(repo, "v1", image.manifest, image.media_type)
    assert r.status == 400
    assert set(error_codes(r)) == {"MANIFEST_BLOB_UNKNOWN"}


@pytest.mark.parametrize("media_type", [OCI_INDEX, DOCKER_LIST])
def test_index_needs_its_children(client: Client, repo: str, media_type: str) -> None:
    amd = make_image(repo + "amd", docker=media_type == DOCKER_LIST)
    arm = make_image(repo + "arm", docker=media_type == DOCKER_LIST)
    client.push_image(repo, amd, amd.digest)
    index = compact(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": [
                descriptor(
                    amd.media_type, amd.manifest, platform={"os": "linux", "architecture": "amd64"}
                ),
                descriptor(
                    arm.media_type, arm.manifest, platform={"os": "linux", "architecture": "arm64"}
                ),
            ],
        }
    )
    r = client.push_manifest(repo, "multi", index, media_type)
    assert r.status == 400
    assert set(error_codes(r)) == {"MANIFEST_BLOB_UNKNOWN"}
    client.push_image(repo, arm, arm.digest)
    r = client.push_manifest(repo, "multi", index, media_type)
    assert r.status == 201, r.data
    g = client.request("GET", f"/v2/{repo}/manifests/multi", headers={"Accept": media_type})
    assert g.data == index and g.headers["Content-Type"] == media_type


def test_invalid_manifest_is_manifest_invalid(client: Client, repo: str) -> None:
    r = client.push_manifest(repo, "v1", b"{not json", OCI_MANIFEST)
    assert r.status == 400
    assert error_codes(r) == ["MANIFEST_INVALID"]


def test_put_by_wrong_digest_is_digest_invalid(client: Client, repo: str) -> None:
    image = make_image(repo)
    for blob in [image.config, *image.layers]:
        client.push_blob(repo, blob)
    r = client.push_manifest(repo, sha256(b"something else"), image.manifest, image.media_type)
    assert r.status == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_unknown_manifest_is_404(client: Client, repo: str) -> None:
    client.push_image(repo, make_image(repo), "v1")
    for ref in ("nope", sha256(b"nope")):
        r = client.request("GET", f"/v2/{repo}/manifests/{ref}")
        assert r.status == 404
        assert error_codes(r) == ["MANIFEST_UNKNOWN"]


def test_oci_manifest_not_served_when_accept_excludes_it(client: Client, repo: str) -> None:
    client.push_image(repo, make_image(repo), "v1")
    r = client.request(
        "GET",
        f"/v2/{repo}/manifests/v1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert r.status == 404


def test_delete_by_digest(client: Client, repo: str) -> None:
    image = make_image(repo)
    client.push_image(repo, image, "v1")
    assert client.request("DELETE", f"/v2/{repo}/manifests/{image.digest}").status == 202
    assert client.request("GET", f"/v2/{repo}/manifests/{image.digest}").status == 404
    assert client.request("GET", f"/v2/{repo}/manifests/v1").status == 404


def test_delete_tag_untags_only(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "cannot delete a tag (answers 400/405)")
    image = make_image(repo)
    client.push_image(repo, image, "v1")
    r = client.request("DELETE", f"/v2/{repo}/manifests/v1")
    assert r.status == 202
    assert client.request("GET", f"/v2/{repo}/manifests/v1").status == 404
    assert client.request("GET", f"/v2/{repo}/manifests/{image.digest}").status == 200


def test_manifest_over_4_mib_is_refused(client: Client, repo: str) -> None:
    image = make_image(repo)
    for blob in [image.config, *image.layers]:
        client.push_blob(repo, blob)
    big = json.loads(image.manifest)
    big["annotations"] = {"pad": "x" * (4 << 20)}
    r = client.push_manifest(repo, "big", compact(big), OCI_MANIFEST)
    assert r.status in (400, 413)


def _tags(client: Client, path: str, **query: str) -> tuple[list[str], str]:
    r = client.request("GET", path, query=query)
    assert r.status == 200, r.data
    body: dict[str, Any] = json.loads(r.data)
    return list(body["tags"]), str(r.headers.get("Link", ""))


def test_tags_list_sorted(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "lists tags in storage order, not lexical order")
    image = make_image(repo)
    for tag in ("b", "a", "c2", "c1"):
        client.push_image(repo, image, tag)
    tags, _ = _tags(client, f"/v2/{repo}/tags/list")
    assert tags == ["a", "b", "c1", "c2"]


def test_tags_list_paginates(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "ignores n and last on tags/list")
    image = make_image(repo)
    for tag in ("t1", "t2", "t3", "t4", "t5"):
        client.push_image(repo, image, tag)
    tags, link = _tags(client, f"/v2/{repo}/tags/list", n="2")
    assert tags == ["t1", "t2"]
    assert 'rel="next"' in link and "last=t2" in link
    tags, _ = _tags(client, f"/v2/{repo}/tags/list", n="2", last="t2")
    assert tags == ["t3", "t4"]
    tags, link = _tags(client, f"/v2/{repo}/tags/list", n="2", last="t4")
    assert tags == ["t5"] and link == ""


def test_tags_of_unknown_repository_is_name_unknown(client: Client, repo: str) -> None:
    r = client.request("GET", f"/v2/{repo}/tags/list")
    assert r.status == 404
    assert error_codes(r) == ["NAME_UNKNOWN"]


def test_catalog_paginates(client: Client, repo: str) -> None:
    for suffix in ("a", "b", "c"):
        client.push_image(f"{repo}/{suffix}", make_image(repo + suffix), "v1")
    seen: list[str] = []
    r = client.request("GET", "/v2/_catalog", query={"n": "2"})
    while True:
        assert r.status == 200, r.data
        page = json.loads(r.data)["repositories"]
        assert len(page) <= 2
        seen += page
        link = r.headers.get("Link")
        if not link:
            break
        r = client.request("GET", link.split(";")[0].strip("<>"))
    assert [f"{repo}/a", f"{repo}/b", f"{repo}/c"] == [s for s in seen if s.startswith(repo + "/")]
    assert seen == sorted(seen)


@pytest.mark.parametrize("n", ["x", "-1", "\u00b2", "\u0661"])
def test_catalog_non_number_n_is_a_client_error(lamina_server: Server, n: str) -> None:
    # str.isdigit() accepts superscripts and other scripts' digits that int() refuses or
    # that are not a number on the wire: each is a 400, never a 500.
    r = Client(lamina_server.url).request("GET", "/v2/_catalog", query={"n": n})
    assert r.status == 400, r.data
    assert error_codes(r) == ["UNSUPPORTED"]


def _artifact(subject: bytes, artifact_type: str, seed: str) -> bytes:
    empty = b"{}"
    return compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": artifact_type,
            "config": descriptor("application/vnd.oci.empty.v1+json", empty),
            "layers": [descriptor("text/plain", seed.encode())],
            "subject": descriptor(OCI_MANIFEST, subject),
            "annotations": {"seed": seed},
        }
    )


def test_referrers(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "has no referrers API")
    image = make_image(repo)
    client.push_image(repo, image, "v1")
    client.push_blob(repo, b"{}")
    pushed = {}
    for kind in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        client.push_blob(repo, kind.encode())
        art = _artifact(image.manifest, kind, kind)
        r = client.push_manifest(repo, sha256(art), art, OCI_MANIFEST)
        assert r.status == 201, r.data
        assert r.headers["OCI-Subject"] == image.digest
        pushed[kind] = art
    r = client.request("GET", f"/v2/{repo}/referrers/{image.digest}")
    assert r.status == 200
    assert r.headers["Content-Type"] == OCI_INDEX
    index = json.loads(r.data)
    got = {d["digest"]: d for d in index["manifests"]}
    assert set(got) == {sha256(a) for a in pushed.values()}
    sbom = got[sha256(pushed["application/vnd.example.sbom"])]
    assert sbom["artifactType"] == "application/vnd.example.sbom"
    assert sbom["annotations"] == {"seed": "application/vnd.example.sbom"}
    assert sbom["mediaType"] == OCI_MANIFEST
    r = client.request(
        "GET",
        f"/v2/{repo}/referrers/{image.digest}",
        query={"artifactType": "application/vnd.example.sig"},
    )
    assert r.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["artifactType"] for d in json.loads(r.data)["manifests"]] == [
        "application/vnd.example.sig"
    ]
    none = client.request("GET", f"/v2/{repo}/referrers/{sha256(os.urandom(4))}")
    assert none.status == 200 and json.loads(none.data)["manifests"] == []


def test_referrers_of_image_uses_config_media_type(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "has no referrers API")
    subject = make_image(repo)
    client.push_image(repo, subject, "v1")
    referrer = make_image(repo + "ref", subject=descriptor(OCI_MANIFEST, subject.manifest))
    client.push_image(repo, referrer, referrer.digest)
    index = json.loads(client.request("GET", f"/v2/{repo}/referrers/{subject.digest}").data)
    assert [(d["digest"], d["artifactType"]) for d in index["manifests"]] == [
        (referrer.digest, OCI_CONFIG)
    ]


def test_malformed_referrers_digest_is_400(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "has no referrers API")
    r = client.request("GET", f"/v2/{repo}/referrers/sha256:zz")
    assert r.status == 400
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_sha512_manifest(
    request: pytest.FixtureRequest, registry: Server, client: Client, repo: str
) -> None:
    deviates(request, registry, "refuses a manifest pushed by a sha512 digest")
    import hashlib

    image = make_image(repo)
    for blob in [image.config, *image.layers]:
        client.push_blob(repo, blob)
    digest = "sha512:" + hashlib.sha512(image.manifest).hexdigest()
    r = client.push_manifest(repo, digest, image.manifest, OCI_MANIFEST)
    assert r.status == 201, r.data
    assert r.headers["Docker-Content-Digest"] == digest
    g = client.request("GET", f"/v2/{repo}/manifests/{digest}")
    assert g.status == 200 and g.data == image.manifest
