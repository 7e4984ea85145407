"""The registry signature extension (`X-Registry-Supports-Signatures: 1` on `GET /v2/`).

`GET /extensions/v2/<name>/signatures/<digest>` answers `{"signatures":[{"schemaVersion":2,
"name":"<digest>@<unique>","type":"atomic","content":B64}, …]}`; `PUT` of one such object
adds a signature (201). Only objects with schemaVersion 2 and type `atomic` are signatures;
others are ignored, as containers/image ignores them. Signatures are never deleted.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.transports.registry.answers import read_limited, release
from lamina.transports.registry.auth import scope_for
from lamina.transports.registry.client import RegistryClient

HEADER = "X-Registry-Supports-Signatures"
SCHEMA_VERSION = 2
TYPE_ATOMIC = "atomic"
MAX_LIST = 4 << 20  # containers/image's MaxSignatureListBodySize


def path(repository: str, digest: Digest) -> str:
    return f"/extensions/v2/{repository}/signatures/{digest}"


def supported(client: RegistryClient) -> bool:
    """Whether the registry advertises the extension (pings it once if not done yet)."""
    _ = client.base
    return client.supports_signatures


def _entries(client: RegistryClient, repository: str, digest: Digest) -> list[dict[str, Any]]:
    what = f"reading signatures of {repository}@{digest}"
    resp = client.request(
        "GET",
        path(repository, digest),
        scopes=[scope_for(repository, "pull")],
        what=what,
    )
    try:
        raw = read_limited(resp, MAX_LIST)
    finally:
        release(resp)
    try:
        doc = json.loads(raw)
        entries = doc["signatures"] or []
        if not isinstance(entries, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            f"{what}: registry {client.registry} sent a malformed signature list",
            code=ErrorCode.MANIFEST_INVALID,
        ) from None
    return [e for e in entries if isinstance(e, dict)]


def _content(entry: dict[str, Any]) -> bytes | None:
    if entry.get("schemaVersion") != SCHEMA_VERSION or entry.get("type") != TYPE_ATOMIC:
        return None
    content = entry.get("content")
    if not isinstance(content, str):
        return None
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return None


def get_signatures(client: RegistryClient, repository: str, digest: Digest) -> list[bytes]:
    """Every atomic signature the registry holds for `digest` in `repository`, in order."""
    out = []
    for entry in _entries(client, repository, digest):
        content = _content(entry)
        if content is not None:
            out.append(content)
    return out


def put_signatures(
    client: RegistryClient, repository: str, digest: Digest, signatures: list[bytes]
) -> int:
    """Add each of `signatures` the registry does not hold yet; returns how many were added."""
    if not signatures:
        return 0
    existing = _entries(client, repository, digest)
    have = {c for c in (_content(e) for e in existing) if c is not None}
    names = {e.get("name") for e in existing}
    added = 0
    for sig in signatures:
        if sig in have:
            continue
        name = f"{digest}@{os.urandom(16).hex()}"
        while name in names:
            name = f"{digest}@{os.urandom(16).hex()}"
        body = json.dumps(
            {
                "schemaVersion": SCHEMA_VERSION,
                "name": name,
                "type": TYPE_ATOMIC,
                "content": base64.b64encode(sig).decode(),
            }
        ).encode()
        resp = client.request(
            "PUT",
            path(repository, digest),
            scopes=[scope_for(repository, "pull,push")],
            what=f"pushing a signature for {repository}@{digest}",
            headers={"Content-Type": "application/json"},
            body=body,
            ok=(201,),
        )
        release(resp)
        have.add(sig)
        names.add(name)
        added += 1
    return added
