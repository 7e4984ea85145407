"""Wire formats, pure data: descriptors, manifests, indexes, image configs.

Every parsed object keeps the raw bytes it came from; a digest is always of those bytes.

The names below load on first use: a copy that only moves manifests and blobs never builds
the image-config classes (start-up time of the CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.lazy import attributes

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


__getattr__ = attributes(__name__, _WHERE)
