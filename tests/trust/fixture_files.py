"""Reading containers/image's signature fixtures (`tests/fixtures/containers-image-signature`,
Apache-2.0; its README says where they come from).

The fixtures were copied from a git tree where some files are symlinks; here those are small
text files holding the link target (`../image.manifest.json`). `read` follows them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures/containers-image-signature"


def resolve(path: Path) -> Path:
    for _ in range(8):
        data = path.read_bytes()
        if len(data) < 200 and data.startswith(b"../") and b"\n" not in data:
            path = (path.parent / data.decode()).resolve()
            continue
        return path
    raise AssertionError(f"symlink loop at {path}")


def read(name: str) -> bytes:
    return resolve(FIXTURES / name).read_bytes()


def materialize(name: str, dest: Path) -> Path:
    """Copy fixture directory `name` to `dest` with links resolved, as a `dir:` image."""
    dest.mkdir(parents=True)
    for entry in sorted((FIXTURES / name).iterdir()):
        shutil.copyfile(resolve(entry), dest / entry.name)
    (dest / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    return dest
