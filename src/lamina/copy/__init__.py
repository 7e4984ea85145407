"""Moving images between any source and destination (ring 5).

The names below load on first use, so that importing a submodule (`lamina.copy.parallel`)
does not build the progress event classes a copy without a progress callback never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    where = "copier" if name == "copy_image" else "progress"
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value
