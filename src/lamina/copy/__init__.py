"""Moving images between any source and destination (ring 5)."""

from lamina.copy.copier import copy_image
from lamina.copy.progress import (
    BlobDone,
    BlobProgress,
    BlobSkipped,
    BlobStarted,
    CopyDone,
    ManifestWritten,
    ProgressCallback,
    ProgressEvent,
)

__all__ = [
    "BlobDone",
    "BlobProgress",
    "BlobSkipped",
    "BlobStarted",
    "CopyDone",
    "ManifestWritten",
    "ProgressCallback",
    "ProgressEvent",
    "copy_image",
]
