"""Where the store lives and how its directory is laid out.

Layout under the root:
    blobs/<alg>/<hex>    content.BlobStore: manifests, configs, compressed layers
    ingest/              BlobStore temp files (a killed writer's: removed by gc and at open)
    store.db             SQLite metadata (WAL)
    snapshots/<hex>/     unpacked layers, by diff_id
    snapshots/.tmp-*     extractions in progress (removed by gc)
    locks/               flock files (see lamina.store.locks)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_root() -> Path:
    """`$LAMINA_ROOT`, else `/var/lib/lamina` for root, else `$XDG_DATA_HOME/lamina`
    (`~/.local/share/lamina`)."""
    env = os.environ.get("LAMINA_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/lamina")
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "lamina"


@dataclass(frozen=True, slots=True)
class StorePaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "store.db"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    def snapshot(self, hex_digest: str) -> Path:
        return self.snapshots / hex_digest

    def make(self) -> None:
        for d in (self.root, self.snapshots, self.locks):
            d.mkdir(parents=True, exist_ok=True)
