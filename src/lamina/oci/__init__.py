"""Wire formats, pure data: descriptors, manifests, indexes, image configs.

Every parsed object keeps the raw bytes it came from; a digest is always of those bytes.
"""

from lamina.oci.config import ContainerConfig, Healthcheck, History, ImageConfig, RootFS
from lamina.oci.descriptor import Descriptor
from lamina.oci.index import ImageIndex
from lamina.oci.manifest import ImageManifest, parse_any

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
