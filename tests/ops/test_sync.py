"""sync: YAML / docker / dir sources, incremental re-runs, dry runs, keep-going, skopeo parity."""

from __future__ import annotations

import filecmp
import json
import subprocess
import zlib
from pathlib import Path

import pytest

from lamina.copy.parallel import CopyOptions
from lamina.errors import LaminaError
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.sync import COPIED, FAILED, SKIPPED, WOULD_COPY, SyncOptions, sync
from lamina.ops.sync_yaml import load_yaml, matches, parse_constraint
from tests.ops.images import image_layout, index_layout
from tests.server.servers import Server

TAGS = ["1.0.0", "1.2.0", "2.0.0"]


def _seed(host: str, repo: str, tmp_path: Path, tags: list[str] = TAGS) -> None:
    for i, tag in enumerate(tags):
        layout, _ = image_layout(
            tmp_path, f"img-{tag}", seed=zlib.crc32(f"{repo}:{tag}".encode()) % 100_000 + i
        )
        copy(f"oci:{layout}:v1", f"docker://{host}/{repo}:{tag}", None)


def _yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(body)
    return path


def _blob_gets(server: Server, repo: str, kind: str = "blobs") -> int:
    """Blob (or manifest) GETs the registry logged for `repo` (JSON access log, or the
    text log)."""
    access = server.storage.parent / "access.jsonl"
    if access.exists() and access.stat().st_size:
        rows = [json.loads(line) for line in access.read_text().splitlines() if line.strip()]
        prefix = f"/v2/{repo}/{kind}/"
        return sum(r["method"] == "GET" and r["path"].startswith(prefix) for r in rows)
    lines = server.log.read_text().splitlines()
    return sum(f'"GET /v2/{repo}/{kind}/' in line for line in lines)


def test_yaml_to_registry_then_nothing_moves(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/app", tmp_path)
    spec = _yaml(tmp_path, f"{host}:\n  images:\n    {repo}/app: []\n  tls-verify: false\n")
    opts = SyncOptions(src="yaml", dest="docker")
    first = sync(str(spec), f"{host}/mirror/{repo}", opts)
    assert first.count(COPIED) == 3 and not first.failed
    # Within one registry the blobs are mounted, not read (see the test below).
    before = _blob_gets(lamina_reg, f"{repo}/app")
    assert before == 0
    manifests = _blob_gets(lamina_reg, f"{repo}/app", "manifests")
    again = sync(str(spec), f"{host}/mirror/{repo}", opts)
    assert again.count(SKIPPED) == 3
    assert _blob_gets(lamina_reg, f"{repo}/app") == before
    # An image's own manifest is checked by HEAD: the source serves no manifest either.
    assert _blob_gets(lamina_reg, f"{repo}/app", "manifests") == manifests
    for item in first.items:  # named as skopeo names them: DEST/<last path element>:TAG
        assert item.destination.startswith(f"docker://{host}/mirror/{repo}/app:")


def test_within_one_registry_a_sync_mounts_the_blobs(
    lamina_reg: Server, repo: str, tmp_path: Path
) -> None:
    """Between two repositories of one registry no blob byte moves: each is mounted
    (the sync's shared references name their repositories, as a plain one does)."""
    from tests.trust.proxy import CountingProxy

    proxy = CountingProxy(lamina_reg.host)  # records each request with its query
    try:
        host = proxy.host
        _seed(host, f"{repo}/mnt", tmp_path, tags=["1", "2"])
        proxy.reset()
        report = sync(
            f"{host}/{repo}/mnt", f"{host}/{repo}-mounted", SyncOptions(src="docker", dest="docker")
        )
        assert report.count(COPIED) == 2
        target = f"/v2/{repo}-mounted/mnt/blobs/"
        uploads = [(m, p) for m, p in proxy.requests if p.startswith(target) and m != "HEAD"]
        assert uploads and all(m == "POST" and "mount=" in p for m, p in uploads), uploads
    finally:
        proxy.close()


@pytest.mark.parametrize("all_", [False, True])
def test_an_index_is_checked_by_the_child_a_copy_writes(
    lamina_reg: Server, repo: str, tmp_path: Path, all_: bool
) -> None:
    """Without --all the host platform's image is copied, and the re-run finds it by
    reading the index (its HEAD says only that it is an index); with --all, the index."""
    host = lamina_reg.host
    layout, index, _ = index_layout(tmp_path, "multi", seed=640)
    every = CopyRequest(copy=CopyOptions(multi_arch="all"))
    copy(f"oci:{layout}:v1", f"docker://{host}/{repo}/multi:1", None, every)
    spec = _yaml(tmp_path, f"{host}:\n  images:\n    {repo}/multi: ['1']\n  tls-verify: false\n")
    opts = SyncOptions(src="yaml", dest="docker", all=all_)
    first = sync(str(spec), f"{host}/mirror-idx/{repo}", opts)
    assert first.count(COPIED) == 1
    again = sync(str(spec), f"{host}/mirror-idx/{repo}", opts)
    assert again.count(SKIPPED) == 1
    skipped = again.items[0].digest
    if all_:
        assert skipped == str(index.digest)
    else:
        assert skipped in {str(d.digest) for d in index.manifests} and skipped != str(index.digest)
    assert first.items[0].digest == skipped


def test_dry_run_writes_nothing(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/app", tmp_path, ["1"])
    report = sync(
        f"{host}/{repo}/app",
        str(tmp_path / "out"),
        SyncOptions(src="docker", dest="dir", dry_run=True),
    )
    assert [i.status for i in report.items] == [WOULD_COPY]
    assert not (tmp_path / "out").exists()


def test_keep_going_reports_a_broken_tag(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/app", tmp_path, ["1", "2"])
    spec = _yaml(tmp_path, f"{host}:\n  images:\n    {repo}/app: ['1', 'missing', '2']\n")
    out = tmp_path / "out"
    report = sync(str(spec), str(out), SyncOptions(src="yaml", dest="dir", keep_going=True))
    assert [i.status for i in report.items] == [COPIED, FAILED, COPIED]
    assert "missing" in (report.failed[0].error or "")
    assert "1 failed" in report.summary()
    assert (out / "app:1" / "manifest.json").is_file() and (
        out / "app:2" / "manifest.json"
    ).is_file()
    with pytest.raises(LaminaError, match="missing"):
        sync(str(spec), str(tmp_path / "out2"), SyncOptions(src="yaml", dest="dir"))


def test_regex_semver_scoped_and_oci(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/app", tmp_path, [*TAGS, "latest", "2.1.0-rc.1"])
    spec = _yaml(
        tmp_path,
        f"{host}:\n  images-by-tag-regex:\n    {repo}/app: ^1\\.\n"
        f"  images-by-semver:\n    {repo}/app: '>= 1.2.0, < 3'\n",
    )
    report = sync(
        str(spec), str(tmp_path / "oci"), SyncOptions(src="yaml", dest="oci", scoped=True)
    )
    tags = [i.source.rsplit(":", 1)[1] for i in report.items]
    assert tags == ["1.0.0", "1.2.0", "1.2.0", "2.0.0"]
    layout = tmp_path / "oci" / host / repo / "app"
    assert (layout / "index.json").is_file()
    assert report.items[0].destination == f"oci:{layout}:1.0.0"


def test_dir_source_to_registry(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/app", tmp_path, ["1"])
    sync(f"{host}/{repo}/app", str(tmp_path / "usb"), SyncOptions(src="docker", dest="dir"))
    report = sync(
        str(tmp_path / "usb"), f"{host}/{repo}/back", SyncOptions(src="dir", dest="docker")
    )
    assert [i.destination for i in report.items] == [f"docker://{host}/{repo}/back/app:1"]


@pytest.mark.interop
def test_same_tree_as_skopeo_sync(lamina_reg: Server, repo: str, tmp_path: Path) -> None:
    host = lamina_reg.host
    _seed(host, f"{repo}/one", tmp_path, ["a", "b"])
    _seed(host, f"{repo}/two", tmp_path, ["c"])
    spec = _yaml(
        tmp_path,
        f"{host}:\n  tls-verify: false\n  images:\n    {repo}/one: []\n    {repo}/two: ['c']\n",
    )
    for scoped in (False, True):
        ours, theirs = tmp_path / f"ours-{scoped}", tmp_path / f"theirs-{scoped}"
        sync(str(spec), str(ours), SyncOptions(src="yaml", dest="dir", scoped=scoped))
        subprocess.run(
            ["skopeo", "sync", "--src", "yaml", "--dest", "dir",
             *(["--scoped"] if scoped else []), str(spec), str(theirs)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        _same_tree(ours, theirs)


def _same_tree(a: Path, b: Path) -> None:
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only, (cmp.left_only, cmp.right_only)
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    assert not mismatch and not errors
    for sub in cmp.common_dirs:
        _same_tree(a / sub, b / sub)
    assert cmp.common_dirs or cmp.common_files


def test_yaml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    with pytest.raises(LaminaError, match="unknown key 'imagez'") as info:
        load_yaml(_yaml(tmp_path, "reg.example:\n  imagez: {}\n"))
    assert str(tmp_path / "sync.yaml") in info.value.message
    with pytest.raises(LaminaError, match="bad regex"):
        load_yaml(_yaml(tmp_path, "reg.example:\n  images-by-tag-regex:\n    a: '('\n"))
    with pytest.raises(LaminaError, match=r"credentials\.password must be a string"):
        load_yaml(_yaml(tmp_path, "reg.example:\n  credentials: {username: u, password: 123}\n"))
    with pytest.raises(LaminaError, match="cert-dir must be a path"):
        load_yaml(_yaml(tmp_path, "reg.example:\n  cert-dir: [a]\n"))


@pytest.mark.parametrize(
    ("constraint", "yes", "no"),
    [
        (">= 1.2.0, < 2", ["1.2.0", "1.9.9", "v1.3"], ["1.1.9", "2.0.0", "latest", "1.5.0-rc1"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.0"]),
        ("^1.2.3", ["1.2.3", "1.9.0"], ["2.0.0", "1.2.2"]),
        ("1.x || >=3", ["1.0.0", "1.7.1", "3.0.0", "4.1.0"], ["2.0.0", "0.9.0"]),
        ("!= 1.0.0, >= 1", ["1.0.1"], ["1.0.0"]),
    ],
)
def test_semver_constraints(constraint: str, yes: list[str], no: list[str]) -> None:
    parsed = parse_constraint(constraint, "test")
    assert [t for t in yes if not matches(t, parsed)] == []
    assert [t for t in no if matches(t, parsed)] == []


def test_copies_that_repeat_an_image_wait_for_its_first_copy() -> None:
    """More tags of one image are copied after that image's first copy, so no two copies
    upload its blobs to one repository at once; a copy whose digest is unknown goes first."""
    from lamina.digest import Digest
    from lamina.ops.sync import _repeats_last
    from lamina.ops.sync_checks import Pair
    from lamina.transports.directory import DirReference

    a, b = Digest.parse("sha256:" + "a" * 64), Digest.parse("sha256:" + "b" * 64)
    pairs = [Pair(DirReference(f"/s{i}"), DirReference(f"/d{i}")) for i in range(5)]
    batches = _repeats_last(
        [(a, pairs[0]), (a, pairs[1]), (b, pairs[2]), (None, pairs[3]), (a, pairs[4])]
    )
    assert batches == [[pairs[0], pairs[2], pairs[3]], [pairs[1], pairs[4]]]
    assert _repeats_last([(a, pairs[0])]) == [[pairs[0]]]
