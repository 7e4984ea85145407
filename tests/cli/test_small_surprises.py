# ruff: noqa: F811  (pytest fixtures imported from tests.ops.conftest)
"""Issue 15 item 9: small differences from podman/skopeo that surprised users."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from lamina.ops.copying import copy
from tests.cli.conftest import Run
from tests.ops.conftest import lamina_reg, no_user_config  # noqa: F401  (fixtures)
from tests.ops.images import image_layout
from tests.server.servers import Server

needs_busybox = pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")


def _created(lamina: Run) -> float:
    info = lamina("inspect", "localhost/busybox:latest").json()[0]
    return datetime.fromisoformat(info["Created"].replace("Z", "+00:00")).timestamp()


@needs_busybox
def test_base_is_dated_now_without_source_date_epoch(
    lamina: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    before = time.time()
    assert lamina("base").code == 0
    assert before - 2 <= _created(lamina) <= time.time() + 1


@needs_busybox
def test_base_is_dated_source_date_epoch(lamina: Run) -> None:
    assert lamina("base").code == 0  # the fixture sets SOURCE_DATE_EPOCH=1700000000
    assert _created(lamina) == 1700000000


@needs_busybox
def test_a_bad_source_date_epoch_is_named(
    lamina: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A SOURCE_DATE_EPOCH that is not whole seconds is a usage error naming the variable
    (it escaped as a ValueError traceback from base, import and import of a directory)."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "f").write_text("x")
    for argv in (("base",), ("import", str(tmp_path / "tree"), "localhost/t:1")):
        result = lamina(*argv)
        assert result.code == 2, result.err
        assert "SOURCE_DATE_EPOCH" in result.err and "Traceback" not in result.err


def _names(table: str) -> list[str]:
    return [line.split()[1] for line in table.splitlines()[1:]]


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman")
def test_trust_show_names_the_default_scope_default(lamina: Run, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "default": [{"type": "insecureAcceptAnything"}],
                "transports": {"docker": {"quay.io": [{"type": "reject"}]}},
            }
        )
    )
    r = lamina("trust", "show", "--policypath", str(policy))
    assert r.code == 0, r.err
    podman = subprocess.run(
        ["podman", "image", "trust", "show", "--policypath", str(policy)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _names(r.out) == _names(podman) == ["default", "quay.io"]
    # --json keeps podman's "* (default)" name beside repo_name "default"
    shown = lamina("trust", "show", "--policypath", str(policy), "--json").json()
    assert (shown[0]["name"], shown[0]["repo_name"]) == ("* (default)", "default")


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo")
def test_list_tags_prints_skopeos_json_by_default(
    lamina: Run, lamina_reg: Server, tmp_path: Path, no_user_config: Path
) -> None:
    layout, _ = image_layout(tmp_path, "src", seed=915)
    for tag in ("1", "2"):
        copy(f"oci:{layout}:v1", f"docker://{lamina_reg.host}/small/app:{tag}", None)
    repo = f"docker://{lamina_reg.host}/small/app"
    r = lamina("list-tags", repo)
    assert r.code == 0, r.err
    skopeo = subprocess.run(
        ["skopeo", "list-tags", "--tls-verify=false", repo],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert r.out == skopeo
    assert json.loads(r.out) == {"Repository": f"{lamina_reg.host}/small/app", "Tags": ["1", "2"]}
    assert lamina("list-tags", "--format", "table", repo).out == "1\n2\n"


class Podman:
    """podman on its own storage in a temp dir, holding what lamina saved."""

    def __init__(self, root: Path) -> None:
        self.argv = ["podman", "--root", str(root / "r"), "--runroot", str(root / "rr")]
        self.argv += ["--storage-driver", "vfs"]

    def __call__(self, *args: str) -> str:
        done = subprocess.run([*self.argv, *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture
def child(lamina: Run, tmp_path: Path) -> Iterator[Podman]:
    """localhost/busybox:latest and localhost/child:1 (one RUN layer and an empty-layer
    LABEL on top) in lamina's store, and the same two images loaded into podman."""
    assert lamina("base").code == 0
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM localhost/busybox:latest\nRUN echo hi > /hi\nLABEL a=b\n"
    )
    r = lamina("build", "-q", "-t", "localhost/child:1", str(ctx))
    assert r.code == 0, r.err
    assert lamina("image", "prune", "--build-cache").code == 0  # only the two, as in podman
    archive = str(tmp_path / "both.tar")
    r = lamina("save", "-o", archive, "localhost/child:1", "localhost/busybox:latest")
    assert r.code == 0, r.err
    short = Path(tempfile.mkdtemp(prefix="lamina-podman-"))  # podman: runroot < 50 chars
    try:
        podman = Podman(short)
        podman("load", "-i", archive)
        yield podman
    finally:
        shutil.rmtree(short, ignore_errors=True)


needs_podman = pytest.mark.skipif(
    shutil.which("podman") is None or not Path("/bin/busybox").exists(), reason="podman, busybox"
)


@needs_podman
def test_image_tree_sizes_as_podman_writes_them(lamina: Run, child: Podman) -> None:
    for name in ("localhost/busybox:latest", "localhost/child:1"):
        ours = lamina("image", "tree", name).out
        theirs = child("image", "tree", name)
        # layer IDs past the first differ (podman's are its own, not OCI chain IDs)
        mask = re.compile(r"(├── |└── )ID: [0-9a-f]{12}")
        assert mask.sub(r"\1ID: x", ours) == mask.sub(r"\1ID: x", theirs), (ours, theirs)
    assert re.search(r"^Size:     \d\.\d+MB$", ours, re.M)


@needs_podman
def test_history_shows_the_base_images_id_where_podman_does(lamina: Run, child: Podman) -> None:
    for name in ("localhost/busybox:latest", "localhost/child:1"):
        theirs = child("history", "--no-trunc", "--format", "{{.ID}}", name).split()
        ours = lamina("history", "--no-trunc", "--format", "{{.ID}}", name).out.split()
        assert ours == theirs
        assert lamina("history", "--format", "json", name).json()[0]["id"] == theirs[0]
    base_id = lamina("images", "-q", "--no-trunc", "localhost/busybox:latest").out.strip()
    assert base_id.removeprefix("sha256:") in theirs[1:]
    js = [e["id"] for e in lamina("history", "--format", "json", "localhost/child:1").json()]
    assert js == theirs
