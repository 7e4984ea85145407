"""OCI whiteouts: `.wh.NAME` hides NAME of lower layers; `.wh..wh..opq` in a directory
hides all of that directory's lower content (entries of the same layer stay)."""

from __future__ import annotations

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"


def whiteout_target(name: str) -> str | None:
    """For a base name: the name it deletes if it is a `.wh.NAME` whiteout, else None.

    The opaque marker is not a whiteout of a name: check `name == OPAQUE` first.
    """
    if name.startswith(WHITEOUT_PREFIX) and name != OPAQUE:
        return name[len(WHITEOUT_PREFIX) :]
    return None
