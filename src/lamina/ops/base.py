"""The tiny offline base image: Debian's static busybox with its applet links.

No network is needed: the binary comes from the host (`busybox-static`). The image is
dated SOURCE_DATE_EPOCH when set, else now (as podman dates what it builds); the layer's
file times are SOURCE_DATE_EPOCH, else the binary's own mtime, so the layer is the same
for a given busybox binary and with SOURCE_DATE_EPOCH the whole image is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lamina.content.layers import pack_dir
from lamina.errors import InvalidInput, NotFound
from lamina.image import mutate
from lamina.oci import ContainerConfig, History
from lamina.platform import Platform
from lamina.store import Store, StoredImage

DEFAULT_NAME = "localhost/busybox:latest"
DEFAULT_BUSYBOX = Path("/bin/busybox")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
_GROUP = """root:x:0:
daemon:x:1:
nogroup:x:65534:
"""


def _is_static(binary: Path) -> bool:
    with binary.open("rb") as f:
        head = f.read(1 << 16)
    # A dynamically linked ELF names its interpreter in a PT_INTERP segment.
    return b"/ld-linux" not in head and b"ld-musl" not in head


def make_rootfs(root: Path, busybox: Path = DEFAULT_BUSYBOX) -> int:
    """Lay out a busybox root filesystem in the empty directory `root`; return applet count."""
    if not busybox.is_file():
        raise NotFound(
            f"{busybox} not found",
            hint="install Debian's busybox-static: apt-get install busybox-static",
        )
    if not _is_static(busybox):
        raise InvalidInput(
            f"{busybox} is dynamically linked; a base image needs a static one",
            hint="install Debian's busybox-static, or pass --busybox PATH",
        )
    listing = subprocess.run(
        [str(busybox), "--list-full"], check=True, capture_output=True, text=True
    ).stdout.split()
    for d, mode in (
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("home", 0o755),
        ("dev", 0o755),
        ("proc", 0o755),
        ("sys", 0o755),
    ):
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    shutil.copyfile(busybox, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    count = 0
    for applet in listing:
        target = root / applet
        if applet == "bin/busybox" or target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("/bin/busybox")
        count += 1
    (root / "etc/passwd").write_text(_PASSWD)
    (root / "etc/group").write_text(_GROUP)
    for f in ("etc/passwd", "etc/group"):
        os.chmod(root / f, 0o644)
    return count


def make_busybox(
    store: Store,
    name: str = DEFAULT_NAME,
    *,
    busybox: Path = DEFAULT_BUSYBOX,
    source_date_epoch: int | None = None,
) -> StoredImage:
    """Build the base image into `store` under `name` and return it. `source_date_epoch`
    (else $SOURCE_DATE_EPOCH) dates the image and its layer's files; without either the
    image is dated now and the files the binary's mtime."""
    if source_date_epoch is None:
        source_date_epoch = mutate.source_date_epoch()
    if source_date_epoch is None:
        created = datetime.now(UTC).replace(microsecond=0)
        source_date_epoch = int(busybox.stat().st_mtime)
    else:
        created = datetime.fromtimestamp(source_date_epoch, UTC)
    stamp = mutate.format_time(created)
    with store.ingest() as blobs, tempfile.TemporaryDirectory(prefix="lamina-base-") as tmp:
        root = Path(tmp) / "rootfs"
        root.mkdir()
        make_rootfs(root, busybox)
        blob = pack_dir(root, blobs, compression="gzip", source_date_epoch=source_date_epoch)
        history = History(
            created=stamp,
            created_by=f"/bin/sh -c #(nop) ADD file:{blob.diff_id.hex} in / ",
            comment="lamina base: Debian busybox-static",
        )
        img = mutate.append_layers(
            mutate.empty_image(Platform.host()),
            [mutate.Addendum(mutate.StoreLayer.from_blob(blob, blobs), history)],
        )
        img = mutate.with_container_config(img, ContainerConfig(env=(PATH_ENV,), cmd=("sh",)))
        img = mutate.with_created(img, created, history=False)
        return store.put_image(img, [name], packed=[blob])
