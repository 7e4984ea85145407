"""Wire formats, pure data: descriptors, manifests, indexes, image configs.

Every parsed object keeps the raw bytes it came from; a digest is always of those bytes.

The names below load on first use: a copy that only moves manifests and blobs never builds
the image-config classes (start-up time of the CLI).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.oci.config import ContainerConfig, Healthcheck, History, ImageConfig, RootFS
    from lamina.oci.descriptor import Descriptor
    from lamina.oci.index import ImageIndex
    from lamina.oci.manifest import ImageManifest, parse_any

_WHERE = {
    "ContainerConfig": "config",
    "Descriptor": "descriptor",
    "Healthcheck": "config",
    "History": "config",
    "ImageConfig": "config",
    "ImageIndex": "index",
    "ImageManifest": "manifest",
    "RootFS": "config",
    "parse_any": "manifest",
}

__all__ = [
    "ContainerConfig",
    "Descriptor",
    "Healthcheck",
    "History",
    "ImageConfig",
    "ImageIndex",
    "ImageManifest",
    "RootFS",
    "parse_any",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
