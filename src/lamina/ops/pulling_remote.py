"""Registry chores without the store: login, logout, delete, and inspecting any location
(`lamina inspect docker://…`) as skopeo inspect shows it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lamina import media_types as mt
from lamina.content import VerifyingReader
from lamina.digest import Digest
from lamina.errors import ErrorCode, NotFound
from lamina.oci import ImageIndex, ImageManifest, parse_any
from lamina.ops.locations import Locations, StoreOpener, registry_reference
from lamina.platform import Platform
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from lamina.transports.registry import RegistryOptions, RegistrySource
from lamina.transports.registry import login as registry_login
from lamina.transports.registry import logout as registry_logout

MAX_CONFIG = 8 << 20


def _registry_host(text: str) -> str:
    body = text.removeprefix("docker://")
    return body.rstrip("/")


def login(
    registry: str,
    username: str,
    password: str,
    *,
    authfile: str | None = None,
    options: RegistryOptions | None = None,
) -> Path:
    """Check the credentials against `registry`, then store them; returns the auth file."""
    return registry_login(_registry_host(registry), username, password, authfile, options=options)


def logout(
    registry: str | None, *, authfile: str | os.PathLike[str] | None = None, all: bool = False
) -> bool:
    return registry_logout(_registry_host(registry) if registry else None, authfile, all=all)


def delete(
    location: str,
    options: RegistryOptions | None = None,
    *,
    registries: RegistriesConfig | None = None,
) -> Digest:
    """Delete the manifest a `docker://` location names; returns its digest."""
    body = location.removeprefix("docker:")
    ref = registry_reference(
        body if body.startswith("//") else "//" + body, options or RegistryOptions(), registries
    )
    src = RegistrySource(ref)
    try:
        return src.delete()
    finally:
        src.close()


def inspect_location(
    location: str,
    store: Store | StoreOpener | None,
    options: RegistryOptions | None = None,
    *,
    raw: bool = False,
    config: bool = False,
    registries: RegistriesConfig | None = None,
) -> bytes | dict[str, Any]:
    """With `raw`: the manifest bytes. With `config`: the config bytes (with `raw`) or the
    parsed config. Otherwise skopeo inspect's summary (Name, Digest, RepoTags, Created, …).
    For an index without `raw`, the image for the host platform is described."""
    ref = Locations(store, options, registries).parse(location)
    src = ref.new_source()
    try:
        body, media_type = src.get_manifest()
        if raw and not config:
            return body
        top_digest = Digest.of_bytes(body)
        parsed = parse_any(body, media_type, f"{ref.describe()}: manifest")
        if isinstance(parsed, ImageIndex):
            desc = parsed.for_platform(Platform.host())
            if desc is None or desc.media_type not in mt.MANIFEST_TYPES:
                raise NotFound(
                    f"{ref.describe()}: no image for platform {Platform.host()} in the index",
                    code=ErrorCode.MANIFEST_UNKNOWN,
                    hint="use --raw to see the index itself",
                )
            child, child_type = src.get_manifest(desc.digest)
            parsed = ImageManifest.parse(child, desc.media_type or child_type, ref.describe())
        cfg_desc = parsed.config
        if cfg_desc.size > MAX_CONFIG:
            raise NotFound(f"{ref.describe()}: config of {cfg_desc.size} bytes is too large")
        what = f"{ref.describe()}: config"
        with VerifyingReader(src.open_blob(cfg_desc), cfg_desc.digest, cfg_desc.size, what) as r:
            cfg_raw = r.read()
        if config:
            return cfg_raw if raw else dict(json.loads(cfg_raw))
        tags: list[str] = []
        if isinstance(src, RegistrySource):
            tags = src.list_tags()
        return _summary(ref.describe(), top_digest, parsed, json.loads(cfg_raw), tags)
    finally:
        src.close()


def _summary(
    name: str, digest: Digest, manifest: ImageManifest, cfg: dict[str, Any], tags: list[str]
) -> dict[str, Any]:
    inner = cfg.get("config") or {}
    labels = inner.get("Labels") or None
    shown = name.removeprefix("docker://")
    if "@" in shown:
        shown = shown.partition("@")[0]
    slash, colon = shown.rfind("/"), shown.rfind(":")
    if colon > slash:
        shown = shown[:colon]
    return {
        "Name": shown,
        "Digest": str(digest),
        "RepoTags": tags,
        "Created": cfg.get("created"),
        "DockerVersion": cfg.get("docker_version", ""),
        "Labels": labels,
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Layers": [str(d.digest) for d in manifest.layers],
        "LayersData": [
            {
                "MIMEType": d.media_type,
                "Digest": str(d.digest),
                "Size": d.size,
                "Annotations": d.annotations,
            }
            for d in manifest.layers
        ],
        "Env": inner.get("Env") or [],
    }
