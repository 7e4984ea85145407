from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lamina.image.validate import validate
from lamina.store import Store
from tests.cli.conftest import Run

pytestmark = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def blob_set(root: Path) -> set[str]:
    return {p.name for p in (root / "blobs").rglob("*") if p.is_file()}


def test_base_images_history_tree(lamina: Run, store_root: Path) -> None:
    r = lamina("base")
    assert r.code == 0, r.err
    assert "localhost/busybox:latest" in r.out
    r = lamina("images")
    lines = r.out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[1].split()[:2] == ["localhost/busybox", "latest"]
    listed = lamina("images", "--format", "json").json()
    assert listed[0]["Names"] == ["localhost/busybox:latest"]
    with Store.open(store_root) as store:
        stored = store.lookup("busybox")
        assert stored.id == listed[0]["Id"]
        validate(store.image(stored))
    hist = lamina("history", "busybox").out.splitlines()
    assert hist[0].split()[:2] == ["ID", "CREATED"]
    assert hist[1].startswith(listed[0]["Id"][:12])
    tree = lamina("image", "tree", "localhost/busybox:latest").out
    assert f"Image ID: {listed[0]['Id'][:12]}" in tree
    assert "Top Layer of: [localhost/busybox:latest]" in tree


def test_base_is_reproducible(lamina: Run, tmp_path: Path) -> None:
    first = lamina("base", "-q").out.strip()
    second = lamina("--root", str(tmp_path / "other"), "base", "-q").out.strip()
    assert first == second


def test_tag_untag_rmi_prune(lamina: Run) -> None:
    lamina("base")
    assert lamina("tag", "busybox", "localhost/b:1", "example.com/x/y:2").code == 0
    names = lamina("images", "--format", "json").json()[0]["Names"]
    assert set(names) == {"localhost/busybox:latest", "localhost/b:1", "example.com/x/y:2"}
    r = lamina("rmi", "localhost/b:1")
    assert r.code == 0 and "Untagged: localhost/b:1" in r.out
    assert lamina("untag", "example.com/x/y:2").code == 0
    full_id = lamina("images", "-q", "--no-trunc").out.strip()  # sha256:…, as podman
    assert full_id.startswith("sha256:")
    r = lamina("rmi", full_id)
    assert r.code == 0 and f"Deleted: {full_id.removeprefix('sha256:')}" in r.out
    assert lamina("images", "--format", "json").json() == []


def test_inspect(lamina: Run) -> None:
    lamina("base")
    data = lamina("inspect", "busybox").json()[0]
    assert data["RepoTags"] == ["localhost/busybox:latest"]
    assert data["Config"]["Cmd"] == ["sh"]
    assert data["RootFS"]["Type"] == "layers"  # podman's names, not the config's
    assert data["RepoDigests"] == ["localhost/busybox@" + data["Digest"]]


def _tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_import_export(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    src = tmp_path / "rootfs.tar.gz"
    src.write_bytes(_tar_bytes({"etc/motd": b"hi\n", "bin/tool": b"#!/bin/sh\n"}))
    r = lamina(
        "import",
        str(src),
        "localhost/imp:1",
        "--change",
        'CMD ["sh"]',
        "--change",
        "ENV A=1 B=two",
        "--change",
        "EXPOSE 80",
        "-m",
        "msg",
    )
    assert r.code == 0, r.err
    data = lamina("inspect", "localhost/imp:1").json()[0]
    assert data["Config"]["Cmd"] == ["sh"]
    assert data["Config"]["Env"] == ["A=1", "B=two"]
    assert data["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert data["History"][0]["comment"] == "msg"
    out = tmp_path / "out.tar"
    assert lamina("export", "localhost/imp:1", "-o", str(out)).code == 0
    with tarfile.open(out) as tar:
        motd = tar.extractfile("etc/motd")
        assert motd is not None and motd.read() == b"hi\n"
    with Store.open(store_root) as store:
        validate(store.image(store.lookup("localhost/imp:1")))


def test_import_directory(lamina: Run, tmp_path: Path) -> None:
    d = tmp_path / "tree"
    (d / "srv").mkdir(parents=True)
    (d / "srv" / "index.html").write_text("x")
    assert lamina("import", str(d), "localhost/dir:1").code == 0
    assert (
        lamina("import", str(d), "localhost/dir:2").out
        == lamina("import", str(d), "localhost/dir:3").out
    )


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (("import", "{tmp}/garbage.tar", "localhost/x:1"), 2, "not a valid tar"),
        (("import", "{tmp}/missing.tar", "localhost/x:1"), 3, "no such file"),
        (
            ("import", "{tmp}/ok.tar", "localhost/x:1", "--change", "FROB x"),
            2,
            "unsupported instruction",
        ),
        (
            ("import", "{tmp}/ok.tar", "localhost/x:1", "--change", "CMD [1, 2]"),
            2,
            "arrays must be comprised of strings only",
        ),
        (("import", "{tmp}/ok.tar", "Bad Name"), 2, "NAME_INVALID"),
        (("history", "localhost/nope"), 3, "nope"),
        (("inspect", "localhost/UPPER"), 2, "NAME_INVALID"),
        (("rmi", "localhost/nope:1"), 3, "nope"),
    ],
)
def test_bad_input_one_line_and_store_unchanged(
    lamina: Run, tmp_path: Path, store_root: Path, argv: tuple[str, ...], code: int, needle: str
) -> None:
    lamina("base")
    (tmp_path / "garbage.tar").write_bytes(b"this is not a tar archive at all" * 100)
    (tmp_path / "ok.tar").write_bytes(_tar_bytes({"a": b"1"}))
    before_list = lamina("images", "--format", "json").out
    before_blobs = blob_set(store_root)
    r = lamina(*(a.format(tmp=tmp_path) for a in argv))
    assert r.code == code, (r.out, r.err)
    first = r.err.splitlines()[0]
    assert first.startswith("error[")
    assert needle in r.err
    assert "Traceback" not in r.err
    assert lamina("images", "--format", "json").out == before_list
    assert blob_set(store_root) == before_blobs


def test_help_has_examples(lamina: Run) -> None:
    for cmd in (
        "images",
        "history",
        "inspect",
        "tag",
        "rmi",
        "import",
        "export",
        "base",
        "save",
        "load",
    ):
        r = lamina(cmd, "--help")
        assert r.code == 0, cmd
        assert "Example:" in r.out, cmd
    r = lamina("--help")
    assert "images" in r.out and "import" in r.out
