"""Pulling by digest (`HOST/REPO@sha256:…`, no tag), as podman does: the pull succeeds, the
image is stored without a tag and found again as `HOST/REPO@DIGEST` (its RepoDigests name
it); `lamina from` and a build's FROM by digest pull and use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lamina.copy.parallel import CopyOptions
from lamina.ops.build import BuildOptions, build_image
from lamina.ops.containers import create
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.pulling import pull
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from tests.ops.images import image_layout, index_layout
from tests.server.servers import Server

NO_CONF = RegistriesConfig()
EVERY = CopyRequest(copy=CopyOptions(multi_arch="all"))


def _pushed(tmp_path: Path, host: str, repo: str, seed: int) -> tuple[str, str]:
    """Push a test image to `host/repo:v1`; (the by-digest name, the image ID)."""
    layout, img = image_layout(tmp_path, f"src{seed}", seed=seed)
    copy(f"oci:{layout}:v1", f"docker://{host}/{repo}:v1", None)
    return f"{host}/{repo}@{img.digest()}", img.manifest().config.digest.hex


def test_pull_by_digest_stores_and_finds_the_image(
    any_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    name, image_id = _pushed(tmp_path, any_host, repo, seed=301)
    store = Store.open(tmp_path / "store")
    pulled = pull(store, name, registries=NO_CONF)
    assert [p.image_id for p in pulled] == [image_id]
    assert str(pulled[0].digest) == name.partition("@")[2]
    found = store.lookup(name)
    assert found.id == image_id
    assert name in found.repo_digests
    assert pull(store, name, registries=NO_CONF)[0].image_id == image_id  # again: the same


def test_from_and_build_by_digest_pull_the_image(
    any_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    name, image_id = _pushed(tmp_path, any_host, repo, seed=311)
    store = Store.open(tmp_path / "store")
    builder = create(store, name, pull="missing")
    assert builder.record.image_id == image_id
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {name}\nLABEL by=digest\n")
    other = Store.open(tmp_path / "other")
    built = build_image(other, ctx, BuildOptions(pull="missing"))
    assert other.lookup(name).id == image_id
    assert built


@pytest.mark.interop
def test_podman_pulls_the_same_image_by_digest(
    distribution: object, tmp_path: Path, no_user_config: Path
) -> None:
    host = distribution.host  # type: ignore[attr-defined]
    name, image_id = _pushed(tmp_path, host, "t/podman-digest", seed=321)
    store = Store.open(tmp_path / "store")
    assert pull(store, name, registries=NO_CONF)[0].image_id == image_id
    layout, index, _ = index_layout(tmp_path, "idx", seed=322)
    copy(f"oci:{layout}:v1", f"docker://{host}/t/podman-index:v1", None, EVERY)
    by_index = f"{host}/t/podman-index@{index.digest}"
    index_id = pull(store, by_index, registries=NO_CONF)[0].image_id
    runroot = Path(tempfile.mkdtemp(prefix="lrun", dir="/tmp"))  # podman wants <= 50 chars
    try:
        _podman_compares(tmp_path / "proot", runroot, name, image_id, store)
        _podman_compares(tmp_path / "proot", runroot, by_index, index_id, store)
    finally:
        shutil.rmtree(runroot, ignore_errors=True)


def _podman_compares(root: Path, runroot: Path, name: str, image_id: str, store: Store) -> None:
    podman = ["podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs"]
    subprocess.run(
        [*podman, "pull", "--tls-verify=false", "-q", name],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    theirs = json.loads(
        subprocess.run(
            [*podman, "image", "inspect", name], check=True, capture_output=True, timeout=60
        ).stdout
    )[0]
    assert theirs["Id"] == image_id == store.lookup(name).id
    assert sorted(theirs["RepoDigests"]) == list(store.lookup(name).repo_digests)


def test_cli_pull_by_digest_exits_0_and_inspect_finds_it(
    lamina_reg: Server, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    name, image_id = _pushed(tmp_path, lamina_reg.host, repo, seed=331)
    env = {**os.environ, "LAMINA_ROOT": str(tmp_path / "cli-store")}
    pulled = subprocess.run(
        [sys.executable, "-m", "lamina", "pull", name],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.strip().splitlines()[-1] == image_id  # podman prints the ID
    shown = subprocess.run(
        [sys.executable, "-m", "lamina", "inspect", "--format", "{{.Id}}", name],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == image_id


def test_pull_by_index_digest_finds_the_image_by_that_digest(
    any_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    layout, index, imgs = index_layout(tmp_path, "idx", seed=341)
    copy(f"oci:{layout}:v1", f"docker://{any_host}/{repo}:v1", None, EVERY)
    name = f"{any_host}/{repo}@{index.digest}"
    store = Store.open(tmp_path / "store")
    pulled = pull(store, name, registries=NO_CONF)
    child = next(i for i in imgs if i.manifest().config.digest.hex == pulled[0].image_id)
    found = store.lookup(name)  # by the digest asked for, as podman finds it
    assert found.id == pulled[0].image_id
    assert {name, f"{any_host}/{repo}@{child.digest()}"} <= set(found.repo_digests)
    assert store.lookup(f"{any_host}/{repo}@{child.digest()}").id == found.id


def test_an_image_pulled_by_digest_is_not_dangling(
    any_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    """podman keeps an image pulled as REPO@DIGEST through `image prune`: it has a name."""
    from lamina.ops.image_list import listed, prune

    name, image_id = _pushed(tmp_path, any_host, repo, seed=351)
    store = Store.open(tmp_path / "store")
    pull(store, name, registries=NO_CONF)
    assert [i.dangling for i in listed(store) if i.image.id == image_id] == [False]
    assert image_id not in prune(store)
    assert store.lookup(name).id == image_id
