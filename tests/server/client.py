"""A small distribution-spec client on urllib3 for the API tests, plus image builders."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pytest
import urllib3

from tests.server.servers import DISTRIBUTION, Server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


@dataclass
class Image:
    config: bytes
    layers: list[bytes]
    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.manifest)


def make_image(seed: str, *, docker: bool = False, subject: dict[str, Any] | None = None) -> Image:
    config = compact(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
        | {"config": {"Labels": {"seed": seed}}}
    )
    layer = f"layer bytes of {seed}".encode() * 3
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    m: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer)],
    }
    if subject is not None:
        m["subject"] = subject
    return Image(config=config, layers=[layer], manifest=compact(m), media_type=media_type)


class Client:
    """Requests against one registry; `Location` headers are resolved against its URL."""

    def __init__(self, base: str, pool: urllib3.PoolManager | None = None) -> None:
        self.base = base
        self.pool = pool or urllib3.PoolManager(retries=False, timeout=30.0)

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base, path)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        query: dict[str, str] | None = None,
        **fields: str,
    ) -> urllib3.BaseHTTPResponse:
        url = self.url(path)
        fields = {**(query or {}), **fields}
        if fields:
            sep = "&" if "?" in url else "?"
            url += sep + urllib.parse.urlencode(fields)
        return self.pool.request(method, url, body=body, headers=headers or {}, redirect=False)

    def start_upload(self, repo: str) -> str:
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status == 202, r.data
        return str(r.headers["Location"])

    def push_blob(self, repo: str, data: bytes) -> str:
        """POST then PUT with the whole body (the most portable flow)."""
        location = self.start_upload(repo)
        digest = sha256(data)
        r = self.request(
            "PUT",
            location,
            data,
            {"Content-Type": "application/octet-stream"},
            digest=digest,
        )
        assert r.status == 201, r.data
        return digest

    def push_manifest(
        self, repo: str, ref: str, raw: bytes, media_type: str
    ) -> urllib3.BaseHTTPResponse:
        return self.request("PUT", f"/v2/{repo}/manifests/{ref}", raw, {"Content-Type": media_type})

    def push_image(self, repo: str, image: Image, ref: str) -> urllib3.BaseHTTPResponse:
        for blob in [image.config, *image.layers]:
            self.push_blob(repo, blob)
        r = self.push_manifest(repo, ref, image.manifest, image.media_type)
        assert r.status == 201, r.data
        return r


def error_codes(r: urllib3.BaseHTTPResponse) -> list[str]:
    body = json.loads(r.data or b"{}")
    return [str(e["code"]) for e in body.get("errors", [])]


def deviates(request: pytest.FixtureRequest, registry: Server, reason: str) -> None:
    """Mark the running test as an expected (strict) failure on Distribution 2.8."""
    if registry.kind == DISTRIBUTION:
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"Distribution 2.8: {reason}"))
