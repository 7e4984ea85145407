"""Registry storage: blob bytes content-addressed on a filesystem, metadata behind a Protocol."""

from lamina.server.storage.base import (
    ManifestRecord,
    MetadataStore,
    ReferrerRecord,
    UploadSession,
)
from lamina.server.storage.sqlite import SQLiteMetadata
from lamina.server.storage.uploads import UploadFiles

__all__ = [
    "ManifestRecord",
    "MetadataStore",
    "ReferrerRecord",
    "SQLiteMetadata",
    "UploadFiles",
    "UploadSession",
]
