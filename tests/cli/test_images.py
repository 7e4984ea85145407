from __future__ import annotations

import io
import os
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


def _build(lamina: Run, tmp_path: Path, tag: str, extra: str = "", epoch: int = 1710000000) -> str:
    """A --layers build of three steps after FROM: LABEL, ENV and COPY (one layer), dated
    `epoch` (after `base`'s 1700000000)."""
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)  # the fixture's monkeypatch restores it
    ctx = tmp_path / f"ctx-{tag.replace('/', '_').replace(':', '_')}"
    ctx.mkdir()
    (ctx / "f").write_text(tag + extra)
    (ctx / "Containerfile").write_text(
        f"FROM localhost/busybox\nLABEL a=b\nENV X=1{extra}\nCOPY f /f\n"
    )
    r = lamina("build", "-q", "-t", tag, str(ctx))
    assert r.code == 0, r.err
    return r.out.strip().splitlines()[-1]


def _ids(lamina: Run, *argv: str) -> list[str]:
    r = lamina("images", "--format", "{{.Id}}", *argv)
    assert r.code == 0, r.err
    return list(dict.fromkeys(r.out.split()))


def test_build_cache_is_hidden_listed_with_all_and_kept_by_prune(
    lamina: Run, tmp_path: Path
) -> None:
    lamina("base")
    _build(lamina, tmp_path, "localhost/app:1")
    shown = lamina("images").out.splitlines()
    assert [line.split()[:2] for line in shown[1:]] == [  # newest first
        ["localhost/app", "1"],
        ["localhost/busybox", "latest"],
    ]
    every = lamina("images", "-a", "--format", "json").json()
    intermediate = [i["Id"] for i in every if not i["Names"]]
    assert len(intermediate) == 2  # LABEL and ENV: each a parent of the next step
    assert _ids(lamina, "--filter", "intermediate=true") == intermediate
    assert _ids(lamina, "-a", "--filter", "dangling=true") == []
    app = next(i for i in every if i["Names"] == ["localhost/app:1"])
    assert app["ParentId"] in intermediate
    # prune removes dangling images only: the build cache of a named image stays
    r = lamina("image", "prune")
    assert r.code == 0 and r.out == ""
    assert len(_ids(lamina, "-a")) == 4
    # an untagged image the build cache does not hold is dangling; prune removes it
    assert lamina("tag", "localhost/app:1", "localhost/copy:1").code == 0
    r = lamina("import", str(_context_dir(tmp_path)), "localhost/stray:1")
    assert r.code == 0, r.err
    assert lamina("untag", "localhost/stray:1").code == 0
    stray = _ids(lamina, "--filter", "dangling=true")
    assert len(stray) == 1 and stray[0] not in intermediate
    assert lamina("image", "prune").out.split() == stray
    # the untagged end of a build is cache too: only --build-cache removes it
    assert lamina("untag", "localhost/app:1").code == 0
    assert lamina("untag", "localhost/copy:1").code == 0
    assert _ids(lamina, "--filter", "dangling=true") == []
    assert lamina("image", "prune").out == ""
    removed = lamina("image", "prune", "--build-cache").out.split()
    assert len(removed) == 3 and set(intermediate) <= set(removed)
    assert len(_ids(lamina, "-a")) == 1


def _context_dir(tmp_path: Path) -> Path:
    d = tmp_path / "stray"
    d.mkdir()
    (d / "x").write_text("stray")
    return d


def test_multi_stage_build_lists_only_the_named_image(lamina: Run, tmp_path: Path) -> None:
    lamina("base")
    ctx = tmp_path / "ms"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM localhost/busybox AS one\nLABEL stage=one\n"
        "FROM localhost/busybox\nCOPY --from=one /bin/busybox /b\n"
    )
    assert lamina("build", "-q", "-t", "localhost/ms:1", str(ctx)).code == 0
    r = lamina("images", "--format", "{{.Repository}}:{{.Tag}}")
    assert r.out.split() == ["localhost/ms:1", "localhost/busybox:latest"]
    every = _ids(lamina, "-a")
    assert len(every) == 3  # + stage one's end: no child, but the build cache holds it
    assert lamina("image", "prune").out == ""
    assert _ids(lamina, "-a") == every


def test_prune_build_cache_and_all(lamina: Run, tmp_path: Path) -> None:
    lamina("base")
    _build(lamina, tmp_path, "localhost/app:1")
    assert len(_ids(lamina, "-a")) == 4
    r = lamina("image", "prune", "--build-cache")
    assert r.code == 0, r.err
    assert len(r.out.split()) == 2  # the cached steps' images, not the named ones
    assert len(_ids(lamina, "-a")) == 2
    _build(lamina, tmp_path, "localhost/app:2", extra="2")
    assert len(_ids(lamina, "-a")) == 5
    assert lamina("image", "prune", "--all").code == 0
    assert _ids(lamina, "-a") == []


def test_reference_filters_sort_and_columns(lamina: Run, tmp_path: Path) -> None:
    lamina("base")
    first = _build(lamina, tmp_path, "localhost/app:1")
    second = _build(lamina, tmp_path, "example.com/team/other:2", extra="2", epoch=1720000000)
    assert second != first
    busybox = lamina("images", "-q", "busybox").out.split()
    assert len(busybox) == 1
    by = {
        "app": ["localhost/app:1"],
        "app:*": ["localhost/app:1"],
        "localhost/*": ["localhost/app:1", "localhost/busybox:latest"],
        "*/other": ["example.com/team/other:2"],
        "other:2": ["example.com/team/other:2"],
        "nothing": [],
    }
    for pattern, want in by.items():
        r = lamina(
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--sort",
            "repository",
            "--filter",
            f"reference={pattern}",
        )
        assert r.code == 0, r.err
        assert sorted(r.out.split()) == sorted(want), pattern
        positional = lamina("images", "--format", "{{.Repository}}:{{.Tag}}", pattern).out
        assert sorted(positional.split()) == sorted(want), pattern
    assert lamina("images", "--format", "{{.Tag}}", "--sort", "tag").out.split() == [
        "1",
        "2",
        "latest",
    ]
    assert lamina("images", "--format", "{{.Repository}}", "--sort", "repository").out.split() == [
        "example.com/team/other",
        "localhost/app",
        "localhost/busybox",
    ]
    newest_first = lamina("images", "--format", "{{.Repository}}").out.split()
    assert newest_first == ["example.com/team/other", "localhost/app", "localhost/busybox"]
    assert lamina("images", "-q", "--filter", "label=a=b").out.split() == [
        i[:12] for i in _ids(lamina, "--filter", "label=a")
    ]
    assert len(_ids(lamina, "--filter", "label=a")) == 2
    assert _ids(lamina, "--filter", "label=a=zz") == []
    assert len(_ids(lamina, "--filter", "since=busybox")) == 2
    assert _ids(lamina, "--filter", "before=busybox") == []
    assert _ids(lamina, "--filter", "since=localhost/app:1") == [second]
    assert len(_ids(lamina, "--filter", "before=example.com/team/other:2")) == 2
    # same key ORed, different keys ANDed
    both = _ids(lamina, "--filter", "reference=app", "--filter", "reference=other")
    assert len(both) == 2
    assert _ids(lamina, "--filter", "reference=app", "--filter", "label=zz") == []
    r = lamina("images", "--digests", "--noheading", "busybox")
    cells = r.out.split()
    assert cells[:2] == ["localhost/busybox", "latest"] and cells[2].startswith("sha256:")
    head = lamina("images", "--digests").out.splitlines()[0].split()
    assert head == ["REPOSITORY", "TAG", "DIGEST", "IMAGE", "ID", "CREATED", "SIZE"]
    # the table layout is tabwriter's: columns at least 12 wide, 2 spaces of padding
    out = lamina("images", "--format", "table {{.Tag}}\\t{{.Repository}}", "--sort", "tag").out
    assert out.splitlines() == [
        "TAG         REPOSITORY",
        "1           localhost/app",
        "2           example.com/team/other",
        "latest      localhost/busybox",
    ]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("images", "--filter", "bogus=1"), "unsupported image filter 'bogus'"),
        (("images", "--filter", "dangling=maybe"), "want true or false"),
        (("images", "--filter", "since=localhost/nope"), "nope"),
        (("images", "--sort", "colour"), "not a valid field for sorting"),
        (("images", "--format", "{{.Nope}}"), "--format: template line 1, column 3"),
        (("images", "--format", "{{if .Tag}}x"), "missing {{end}}"),
        (("history", "--format", "{{.ID", "busybox"), "unclosed action"),
        (("inspect", "--format", "{{.Config.Nope.X}}", "busybox"), "column 3"),
        (("containers", "--format", "{{.Image}}"), "can't evaluate field Image"),
    ],
)
def test_bad_filters_sorts_and_templates(lamina: Run, argv: tuple[str, ...], needle: str) -> None:
    lamina("base")
    lamina("from", "busybox")
    r = lamina(*argv)
    assert r.code == (3 if "nope" in needle else 2), (r.out, r.err)
    assert r.err.startswith("error[") and needle in r.err.splitlines()[0], r.err
    assert "Traceback" not in r.err


def test_templates_on_each_command(lamina: Run) -> None:
    lamina("base")
    image_id = lamina("images", "-q", "--no-trunc").out.strip().removeprefix("sha256:")
    r = lamina("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{len .Names}}")
    assert r.out == f"localhost/busybox:latest {image_id[:12]} 1\n"
    r = lamina("images", "--format", "tableau {{.Tag}}")  # only "table " starts a table
    assert r.out == "tableau latest\n"
    r = lamina("images", "--format", "{{json .}}")  # podman: the whole list as JSON
    assert r.json()[0]["Id"] == image_id
    r = lamina(
        "inspect", "--format", "{{.Id}} {{.Os}} {{index .RepoTags 0}} {{.Config.Cmd}}", "busybox"
    )
    assert r.out == f"{image_id} linux localhost/busybox:latest [sh]\n"
    r = lamina("image", "inspect", "-f", "{{json .RootFS.Type}}|{{.Config.User}}|", "busybox")
    assert r.out == '"layers"||\n'
    r = lamina("history", "--format", "{{.ID}}|{{.Size}}|{{.Comment}}", "busybox")
    assert r.out.startswith(f"{image_id[:12]}|2.13 MB|lamina base")
    r = lamina("history", "--format", "json", "busybox")
    assert set(r.json()[0]) == {"id", "created", "CreatedBy", "size", "comment", "Created"}
    name = lamina("from", "busybox").out.strip()
    r = lamina("containers", "--format", "{{.ContainerName}} {{.ImageName}} {{.Builder}}")
    assert r.out == f"{name} localhost/busybox:latest true\n"
    r = lamina("containers", "--format", "table {{.ContainerName}}\\t{{.ImageID}}")
    assert r.out.splitlines() == [
        "CONTAINER NAME             IMAGE ID",
        f"{name}  {image_id[:12]}",
    ]
    r = lamina("containers", "--noheading")
    assert r.out.split()[1:] == ["*", image_id[:12], "localhost/busybox:latest", name]
