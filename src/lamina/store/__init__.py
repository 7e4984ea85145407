"""lamina's local image store (ring 4): names, tags, verified blobs, unpacked snapshots.

`Store.open()` opens (or creates) the store at `lamina.store.paths.default_root()`.
"""

from lamina.store.paths import default_root
from lamina.store.records import GCReport, HistoryEntry, StoredImage
from lamina.store.store import Store

__all__ = ["GCReport", "HistoryEntry", "Store", "StoredImage", "default_root"]
