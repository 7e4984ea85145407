"""push / pull between the store and registries: auth, registries.conf, auth-file interop."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lamina.errors import AuthError, InvalidInput, NotFound
from lamina.ops.copying import CopyRequest, copy
from lamina.ops.locations import registry_options
from lamina.ops.pulling import list_tags, pull, push
from lamina.ops.pulling_remote import delete, inspect_location, login, logout
from lamina.store import Store
from lamina.transports.registries_conf import RegistriesConfig
from tests.ops.conftest import PASSWORD, USER
from tests.ops.images import image_layout
from tests.server.servers import Server
from tests.transports.registry.servers import Distribution

NO_CONF = RegistriesConfig()


def _conf(tmp_path: Path, text: str) -> RegistriesConfig:
    path = tmp_path / "registries.conf"
    path.write_text(text)
    return RegistriesConfig.load(path)


def test_push_pull_with_basic_auth(
    auth_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    layout, img = image_layout(tmp_path, "src", seed=100)
    store = Store.open(tmp_path / "store")
    creds = registry_options(creds=f"{USER}:{PASSWORD}")
    copy(f"oci:{layout}:v1", "lamina:localhost/app:1", store)
    where, digest = push(store, "localhost/app:1", f"{auth_host}/{repo}:1", options=creds)
    assert digest == img.digest() and where == f"docker://{auth_host}/{repo}:1"
    fresh = Store.open(tmp_path / "fresh")
    pulled = pull(fresh, f"{auth_host}/{repo}:1", options=creds, registries=NO_CONF)
    assert [p.digest for p in pulled] == [img.digest()]
    assert fresh.lookup(f"{auth_host}/{repo}:1").id == img.manifest().config.digest.hex
    assert list_tags(f"docker://{auth_host}/{repo}", creds) == ["1"]


def test_wrong_password_names_registry_and_auth_file(
    auth_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    authfile = tmp_path / "auth.json"
    with pytest.raises(AuthError) as info:
        login(auth_host, USER, "wrong", authfile=str(authfile))
    assert auth_host in info.value.message
    assert not authfile.exists()
    opts = registry_options(authfile=str(authfile))
    with pytest.raises(AuthError) as info:
        list_tags(f"{auth_host}/{repo}", opts)
    assert auth_host in info.value.message
    assert info.value.hint is not None and str(authfile) in info.value.hint


@pytest.mark.interop
def test_skopeo_login_file_works_for_lamina_and_back(
    auth_distribution: Distribution, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    host = auth_distribution.host
    layout, img = image_layout(tmp_path, "src", seed=110)
    theirs = tmp_path / "skopeo-auth.json"
    subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--authfile", str(theirs), "-u", USER,
         "-p", PASSWORD, host],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    opts = registry_options(authfile=str(theirs))
    copy(
        f"oci:{layout}:v1",
        f"docker://{host}/{repo}:1",
        None,
        CopyRequest(dst_options=opts, src_options=opts),
    )
    ours = tmp_path / "lamina-auth.json"
    login(host, USER, PASSWORD, authfile=str(ours))
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", str(ours),
         f"docker://{host}/{repo}:1"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    assert out == img.raw_manifest()
    assert logout(host, authfile=str(ours))
    proc = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", "--authfile", str(ours),
         f"docker://{host}/{repo}:1"],
        check=False, capture_output=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode != 0


@pytest.mark.interop
def test_skopeo_and_podman_see_lamina_pushes_and_lamina_sees_theirs(
    distribution: Distribution, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    host = distribution.host
    layout, img = image_layout(tmp_path, "src", seed=120)
    subprocess.run(
        ["skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
         f"docker://{host}/{repo}:from-skopeo"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    store = Store.open(tmp_path / "store")
    pulled = pull(store, f"{host}/{repo}:from-skopeo", registries=NO_CONF)
    assert pulled[0].digest == img.digest()
    _, digest = push(store, f"{host}/{repo}:from-skopeo", f"{host}/{repo}:from-lamina")
    assert digest == img.digest()
    short = Path(tempfile.mkdtemp(prefix="lamina-pm-", dir="/tmp"))  # podman: runroot < 50
    try:
        pulled_id = _podman_pull(short, f"{host}/{repo}:from-lamina")
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert pulled_id == img.manifest().config.digest.hex
    digest_out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
         f"docker://{host}/{repo}:from-lamina"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    assert digest_out == str(img.digest())


def _podman_pull(root: Path, image: str) -> str:
    return subprocess.run(
        ["podman", "--root", str(root / "root"), "--runroot", str(root / "run"),
         "--storage-driver", "vfs", "pull", "-q", "--tls-verify=false",
         image],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout.strip()  # fmt: skip


def test_short_names_aliases_and_search_registries(
    lamina_reg: Server, tmp_path: Path, no_user_config: Path
) -> None:
    host = lamina_reg.host
    layout, img = image_layout(tmp_path, "src", seed=130)
    copy(f"oci:{layout}:v1", f"docker://{host}/short/tool:2", None)
    store = Store.open(tmp_path / "store")
    conf = _conf(
        tmp_path,
        f'unqualified-search-registries = ["{host}"]\n[aliases]\n"nick" = "{host}/short/tool"\n',
    )
    assert pull(store, "short/tool:2", registries=conf)[0].name == f"{host}/short/tool:2"
    assert pull(store, "nick:2", registries=conf)[0].digest == img.digest()
    with pytest.raises(InvalidInput, match="unqualified-search-registries"):
        pull(store, "short/tool:2", registries=_conf(tmp_path, "\n"))
    with pytest.raises(NotFound):
        pull(store, "short/tool:3", registries=conf)


def test_blocked_registry_and_mirror(
    lamina_reg: Server, any_host: str, tmp_path: Path, no_user_config: Path
) -> None:
    mirror = lamina_reg.host
    layout, img = image_layout(tmp_path, "src", seed=140)
    copy(f"oci:{layout}:v1", f"docker://{mirror}/mirrored/app:1", None)
    store = Store.open(tmp_path / "store")
    conf = _conf(
        tmp_path,
        '[[registry]]\nprefix = "example.invalid/app"\nlocation = "example.invalid/app"\n'
        f'[[registry.mirror]]\nlocation = "{mirror}/mirrored/app"\n'
        f'[[registry]]\nprefix = "{any_host}/blocked"\nblocked = true\n',
    )
    got = pull(store, "example.invalid/app:1", registries=conf)
    assert got[0].name == "example.invalid/app:1" and got[0].digest == img.digest()
    assert got[0].source.startswith(f"docker://{mirror}/mirrored/app")
    with pytest.raises(InvalidInput, match="blocked") as info:
        pull(store, f"{any_host}/blocked/x:1", registries=conf)
    assert "registries.conf" in info.value.message
    with pytest.raises(InvalidInput, match="blocked"):
        copy(
            f"oci:{layout}:v1",
            f"docker://{any_host}/blocked/x:1",
            None,
            CopyRequest(registries=conf),
        )


def test_inspect_and_delete(any_host: str, repo: str, tmp_path: Path) -> None:
    layout, img = image_layout(tmp_path, "src", seed=150)
    copy(f"oci:{layout}:v1", f"docker://{any_host}/{repo}:1", None)
    assert inspect_location(f"docker://{any_host}/{repo}:1", None, raw=True) == img.raw_manifest()
    summary = inspect_location(f"docker://{any_host}/{repo}:1", None)
    assert isinstance(summary, dict)
    assert summary["Digest"] == str(img.digest()) and summary["RepoTags"] == ["1"]
    assert summary["Name"] == f"{any_host}/{repo}"
    config = inspect_location(f"oci:{layout}:v1", None, config=True)
    assert isinstance(config, dict) and config["os"] == "linux"
    assert delete(f"docker://{any_host}/{repo}:1") == img.digest()
    with pytest.raises(NotFound):
        inspect_location(f"docker://{any_host}/{repo}@{img.digest()}", None, raw=True)
