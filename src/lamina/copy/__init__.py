"""Moving images between any source and destination (ring 5).

The names below load on first use, so that importing a submodule (`lamina.copy.parallel`)
does not build the progress event classes a copy without a progress callback never uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.lazy import attributes

if TYPE_CHECKING:
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


__getattr__ = attributes(
    __name__, {name: "copier" if name == "copy_image" else "progress" for name in __all__}
)
