from __future__ import annotations

from pathlib import Path

import pytest

from lamina.image.validate import validate
from lamina.store import Store
from tests.cli.conftest import Run

pytestmark = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def _digests(root: Path) -> dict[str, tuple[str, str]]:
    """name -> (image id, manifest digest) for every named image in a store."""
    with Store.open(root) as store:
        return {n: (i.id, str(i.manifest_digest)) for i in store.list_images() for n in i.names}


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive", "oci-dir"])
def test_save_load_several_images_keeps_digests(lamina: Run, tmp_path: Path, fmt: str) -> None:
    assert lamina("base").code == 0
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    assert lamina("import", str(tmp_path / "d"), "localhost/two:1").code == 0
    out1 = tmp_path / "one"
    r = lamina("save", "--format", fmt, "-o", str(out1), "busybox", "localhost/two:1")
    assert r.code == 0, r.err
    root2, root3 = tmp_path / "s2", tmp_path / "s3"
    r = lamina("--root", str(root2), "load", "-i", str(out1))
    assert r.code == 0, r.err
    assert "Loaded image: localhost/busybox:latest" in r.out
    assert "Loaded image: localhost/two:1" in r.out
    loaded = _digests(root2)
    assert set(loaded) == {"localhost/busybox:latest", "localhost/two:1"}
    out2 = tmp_path / "two"
    assert (
        lamina(
            "--root",
            str(root2),
            "save",
            "--format",
            fmt,
            "-o",
            str(out2),
            "busybox",
            "localhost/two:1",
        ).code
        == 0
    )
    assert lamina("--root", str(root3), "load", "-i", str(out2)).code == 0
    assert _digests(root3) == loaded
    with Store.open(root3) as store:
        for entry in store.list_images():
            validate(store.image(entry))


def test_docker_dir_single_image(lamina: Run, tmp_path: Path) -> None:
    lamina("base")
    assert lamina("save", "--format", "docker-dir", "-o", str(tmp_path / "d"), "busybox").code == 0
    assert (tmp_path / "d" / "version").read_text().startswith("Directory Transport Version")
    r = lamina("save", "--format", "docker-dir", "-o", str(tmp_path / "e"), "busybox", "busybox")
    assert r.code == 2 and "one image" in r.err


def test_save_failure_leaves_no_output(lamina: Run, tmp_path: Path) -> None:
    lamina("base")
    out = tmp_path / "x.tar"
    r = lamina("save", "--format", "oci-archive", "-o", str(out), "busybox", "localhost/nope")
    assert r.code == 3
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".x.tar")] == []


def test_load_garbage(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    lamina("base")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"\x00garbage" * 1000)
    before = _digests(store_root)
    r = lamina("load", "-i", str(bad))
    assert r.code == 2, r.err
    assert r.err.startswith("error[")
    assert _digests(store_root) == before
