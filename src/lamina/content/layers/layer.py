"""The records the layer engine hands out: a stored layer blob and a change-list entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lamina.content.compression import Compression
from lamina.digest import Digest

ChangeKind = Literal["add", "modify", "delete", "opaque"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerBlob:
    """A layer written to a BlobStore.

    `digest`/`size` are of the blob as stored (compressed); `diff_id`/`uncompressed_size`
    are of the tar inside it. `media_type` is the OCI layer type for `compression`.
    """

    digest: Digest
    diff_id: Digest
    size: int
    uncompressed_size: int
    compression: Compression
    media_type: str


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of a change list; `path` is relative to the root and "/"-separated.

    - "add" / "modify": the entry at `path` itself is written (not its subtree: list each
      changed descendant separately, as a filesystem diff does);
    - "delete": a whiteout `DIR/.wh.NAME` is written;
    - "opaque": `path` is a directory whose lower content is hidden; the marker
      `path/.wh..wh..opq` is written (list the directory itself as "add"/"modify" too if its
      metadata should be carried).
    """

    kind: ChangeKind
    path: str
