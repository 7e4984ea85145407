"""The Builder over a real store: from, run, copy, config, commit, with exact layers."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import Builder, containers
from lamina.building.container import Containers
from lamina.content.layers import apply_layer, pack_dir
from lamina.errors import BuildError, Conflict, NotFound
from lamina.image import Image
from lamina.image.mutate import (
    Addendum,
    StoreLayer,
    append_layers,
    empty_image,
    with_container_config,
)
from lamina.image.validate import validate
from lamina.oci import ContainerConfig, History
from lamina.store import Store
from tests.building.trees import assert_same_tree, busybox_rootfs

pytestmark = pytest.mark.root

SCRIPT = """
set -e
rm /etc/group
rm -rf /home
mkdir -p /data/opq && echo a > /data/opq/a
ln /bin/busybox /bin/bb-hardlink
chmod 4755 /bin/busybox
chown 1000:50 /etc/passwd
mkfifo /data/fifo
ln -s ../etc/passwd /data/link
echo hello > /tmp/hello
exit 0
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    base = busybox_rootfs(tmp_path / "bbroot")
    (base / "data" / "opq").mkdir(parents=True)
    (base / "data" / "opq" / "old").write_text("old\n")
    with s.ingest() as blobs:
        layer = pack_dir(base, blobs, source_date_epoch=0)
        img: Image = append_layers(
            empty_image(),
            [Addendum(StoreLayer.from_blob(layer, blobs), History(created_by="busybox"))],
        )
        img = with_container_config(
            img, ContainerConfig(env=("PATH=/bin", "FROM_IMAGE=1"), cmd=("sh",))
        )
        s.put_image(img, ["localhost/busybox:latest"])
    yield s
    for c in containers(s):
        Builder(s, c).remove()
    s.close()


def unpack(store: Store, name: str, dest: Path) -> Path:
    dest.mkdir()
    for layer in store.image(store.lookup(name)).layers():
        with layer.open() as f:
            apply_layer(f, dest)
    return dest


def layer_names(store: Store, name: str) -> list[str]:
    top = store.image(store.lookup(name)).layers()[-1]
    with top.open() as f:
        data = f.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getnames()


def run(b: Builder, script: str, **kw: object) -> tuple[int, str]:
    r, w = os.pipe()
    with os.fdopen(r, "rb") as rf:
        code = b.run(["sh", "-c", script], stdout=w, stderr=w, **kw)  # type: ignore[arg-type]
        os.close(w)
        return code, rf.read().decode()


@pytest.mark.parametrize("mode", ["overlay", "copy"])
def test_run_commit_is_exact(store: Store, tmp_path: Path, mode: str) -> None:
    b = Builder.from_image(store, "busybox", rootfs_mode=mode)  # type: ignore[arg-type]
    assert b.name == "busybox-working-container"
    code, out = run(b, SCRIPT + "\necho $FROM_IMAGE")
    assert code == 0, out
    root = b.mount()
    try:
        (root / "data" / "opq").chmod(0o700)
        os.setxattr(root / "tmp" / "hello", "user.note", b"kept")
        b.set_config(cmd=["sh", "-c", "echo hi"], env={"NEW": "1"}, label={"a": "b"})
        stored = b.commit("localhost/result:1", timestamp=1_700_000_000)
        result = unpack(store, "localhost/result:1", tmp_path / "result")
        assert_same_tree(result, root)
    finally:
        b.umount()
    names = layer_names(store, "localhost/result:1")
    assert "etc/.wh.group" in names and ".wh.home" in names
    for leaked in ("etc/hosts", "etc/resolv.conf", "proc", "dev", "sys"):
        assert leaked not in names and leaked + "/" not in names
    img = store.image(stored)
    validate(img)
    cfg = img.config()
    assert cfg.config.cmd == ("sh", "-c", "echo hi")
    assert cfg.config.env_dict() == {"PATH": "/bin", "FROM_IMAGE": "1", "NEW": "1"}
    assert cfg.config.labels == {"a": "b"}
    assert cfg.created == "2023-11-14T22:13:20Z"
    assert [h.created_by for h in cfg.history] == ["busybox", "/bin/sh"]
    assert len(cfg.rootfs.diff_ids) == 2


def test_same_steps_give_same_digest(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_text("copied\n")
    os.utime(src, (1000, 1000))
    digests = []
    for i in range(2):
        b = Builder.from_image(store, "busybox")
        assert b.name == "busybox-working-container"  # the previous one was removed
        b.copy([src], "/opt/", chown="alice", chmod="640")
        assert run(b, "echo built > /built; mkdir -p /var/x")[0] == 0
        digests.append(b.commit(f"localhost/repro:{i}", timestamp=1000, rm=True).manifest_digest)
    assert digests[0] == digests[1]
    out = unpack(store, "localhost/repro:0", tmp_path / "repro")
    st = os.stat(out / "opt" / "src.txt")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1000, 1000, 0o640)


def test_scratch_copy_archive_and_docker_format(store: Store, tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("in archive\n")
    arch = tmp_path / "a.tar.gz"
    subprocess.run(["tar", "-czf", str(arch), "-C", str(tree), "."], check=True)
    b = Builder.from_image(store, "scratch", name="mine")
    assert b.name == "mine"
    b.copy([arch], "/x/", extract_archives=True)
    b.copy([arch], "/y/")
    b.set_config(entrypoint="run me", healthcheck=["CMD", "true"], healthcheck_interval="1m30s")
    stored = b.commit("localhost/scratchy", format="docker")
    img = store.image(stored)
    validate(img)
    assert img.manifest().media_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert img.config().config.entrypoint == ("/bin/sh", "-c", "run me")
    hc = img.config().config.healthcheck
    assert hc is not None and hc.interval == 90 * 10**9
    out = unpack(store, "localhost/scratchy", tmp_path / "out")
    assert (out / "x" / "sub" / "f").read_text() == "in archive\n"
    assert (out / "y" / "a.tar.gz").read_bytes() == arch.read_bytes()


def test_errors_and_records(store: Store) -> None:
    with pytest.raises(NotFound):
        Builder.from_image(store, "localhost/nope")
    with pytest.raises(NotFound, match="does not exist"):
        Builder.load(store, "no-such-container")
    b = Builder.from_image(store, "busybox", name="one")
    first, second = Builder.from_image(store, "busybox"), Builder.from_image(store, "busybox")
    assert (first.name, second.name) == ("busybox-working-container", "busybox-working-container-1")
    first.remove()
    second.remove()
    with pytest.raises(Conflict):
        Builder.from_image(store, "busybox", name="one")
    with pytest.raises(BuildError, match="not found in the container's PATH"):
        b.run(["definitely-missing"])
    # Records survive the process: load by name and by ID prefix, mount state persisted.
    root = b.mount()
    again = Builder.load(store, "one")
    assert again.record.mounted and again.mount() == root
    assert Builder.load(store, b.record.id[:10]).name == "one"
    assert (Containers(store.root).dir / f"{b.record.id}.json").is_file()
    # The base image is pinned while the container exists.
    with pytest.raises(Conflict):
        store.remove("localhost/busybox:latest")
    again.umount()
    b.remove()
    assert containers(store) == []
    store.remove("localhost/busybox:latest")


def test_run_options(store: Store, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    vol.chmod(0o777)
    b = Builder.from_image(store, "busybox")
    b.set_config(user="alice", workingdir="/home/alice/work")
    code, out = run(
        b,
        "id -u; pwd; echo $X; echo data > /v/f; cat /etc/hosts | wc -l",
        env=["X=y"],
        volumes=[f"{vol}:/v"],
        user="alice",
    )
    assert code == 0, out
    assert out.split()[:3] == ["1000", "/home/alice/work", "y"]
    assert (vol / "f").read_text() == "data\n"
    assert run(b, "exit 3", isolation="chroot")[0] == 3
    with pytest.raises(BuildError, match="timed out"):
        b.run(["sleep", "20"], timeout=0.5)
