"""Basic auth with auth files shared with skopeo, credential helpers, login/logout, errors."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore
from lamina.errors import AuthError, ErrorCode
from lamina.image import model
from lamina.image.validate import validate
from lamina.transports.registry import RegistryOptions, RegistryReference, login, logout
from lamina.transports.registry.authfile import find_credentials, lookup_keys
from tests.transports.registry.conftest import PASSWORD, USER
from tests.transports.registry.images import make_image, push_image
from tests.transports.registry.servers import Distribution

pytestmark = pytest.mark.interop


def ref(host: str, name: str, **opts: object) -> RegistryReference:
    options = RegistryOptions(retry_delay=0.05, **opts)  # type: ignore[arg-type]
    return RegistryReference.parse(f"docker://{host}/{name}", options)


def roundtrip(host: str, name: str, store: BlobStore, seed: int, **opts: object) -> None:
    img = make_image(store, seed=seed)
    push_image(img, ref(host, name, **opts).new_destination())
    src = ref(host, name, **opts).new_source()
    raw, media_type = src.get_manifest()
    assert raw == img.raw_manifest()
    validate(model.load(raw, src, media_type))


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["skopeo", *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_skopeo_login_file_is_used_by_lamina(
    auth_distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    authfile = tmp_path / "auth.json"
    host = auth_distribution.host
    proc = skopeo("login", "--tls-verify=false", "--authfile", str(authfile),
                  "-u", USER, "-p", PASSWORD, host)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    roundtrip(host, "auth/skopeo:v1", store, 1, authfile=str(authfile))


def test_lamina_login_file_is_used_by_skopeo(
    auth_distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    authfile = tmp_path / "auth.json"
    host = auth_distribution.host
    written = login(host, USER, PASSWORD, authfile)
    assert written == authfile
    assert stat.S_IMODE(authfile.stat().st_mode) == 0o600
    roundtrip(host, "auth/lamina:v1", store, 2, authfile=str(authfile))
    proc = skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile),
                  f"docker://{host}/auth/lamina:v1")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert logout(host, authfile)
    assert json.loads(authfile.read_text())["auths"] == {}
    proc = skopeo("inspect", "--raw", "--tls-verify=false", "--authfile", str(authfile),
                  f"docker://{host}/auth/lamina:v1")  # fmt: skip
    assert proc.returncode != 0


def test_wrong_password_names_registry_and_auth_file(
    auth_distribution: Distribution, tmp_path: Path
) -> None:
    host = auth_distribution.host
    with pytest.raises(AuthError) as err:
        login(host, USER, "wrong", tmp_path / "never.json")
    assert host in str(err.value)
    assert not (tmp_path / "never.json").exists()
    authfile = tmp_path / "auth.json"
    bad = base64.b64encode(f"{USER}:wrong".encode()).decode()
    authfile.write_text(json.dumps({"auths": {host: {"auth": bad}}}))
    with pytest.raises(AuthError) as err:
        ref(host, "auth/x:v1", authfile=str(authfile)).new_source().get_manifest()
    assert err.value.code == ErrorCode.UNAUTHORIZED
    assert host in str(err.value) and str(authfile) in str(err.value)


def test_no_credentials_is_unauthorized_with_a_hint(
    auth_distribution: Distribution, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.json"
    with pytest.raises(AuthError) as err:
        ref(auth_distribution.host, "auth/x:v1", authfile=str(empty)).new_source().get_manifest()
    assert err.value.code == ErrorCode.UNAUTHORIZED
    assert err.value.hint is not None and "login" in err.value.hint


def test_namespaced_entry_wins(
    auth_distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    host = auth_distribution.host
    good = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    bad = base64.b64encode(f"{USER}:nope".encode()).decode()
    authfile = tmp_path / "auth.json"
    authfile.write_text(
        json.dumps({"auths": {host: {"auth": bad}, f"{host}/team": {"auth": good}}})
    )
    roundtrip(host, "team/app:v1", store, 3, authfile=str(authfile))
    with pytest.raises(AuthError):
        ref(host, "other/app:v1", authfile=str(authfile)).new_source().get_manifest()


def test_credential_helper(
    auth_distribution: Distribution,
    store: BlobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = auth_distribution.host
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-test"
    log = tmp_path / "helper.log"
    helper.write_text(
        "#!/bin/sh\n"
        f'read -r server; echo "$1 $server" >> {log}\n'
        f'if [ "$1" = get ] && [ "$server" = "{host}" ]; then\n'
        f'  printf \'{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}\' "$server"\n'
        "  exit 0\nfi\n"
        'echo "credentials not found in native keychain"; exit 1\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {}, "credHelpers": {host: "test"}}))
    creds = find_credentials(host, "helped/app", authfile)
    assert creds is not None and creds.username == USER and creds.password == PASSWORD
    assert find_credentials("127.0.0.1:1", None, authfile) is None
    roundtrip(host, "helped/app:v1", store, 4, authfile=str(authfile))
    assert f"get {host}" in log.read_text()


def test_creds_option_overrides_files(
    auth_distribution: Distribution, store: BlobStore, tmp_path: Path
) -> None:
    roundtrip(
        auth_distribution.host,
        "creds/app:v1",
        store,
        5,
        creds=f"{USER}:{PASSWORD}",
        authfile=str(tmp_path / "none.json"),
    )


def test_lookup_order_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lookup_keys("h:5000", "a/b/c") == ["h:5000/a/b/c", "h:5000/a/b", "h:5000/a", "h:5000"]
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    docker = tmp_path / ".docker" / "config.json"
    docker.parent.mkdir()
    legacy = base64.b64encode(b"dock:er").decode()
    docker.write_text(json.dumps({"auths": {"https://reg.example:5000/v1/": {"auth": legacy}}}))
    found = find_credentials("reg.example:5000", "x")
    assert found is not None and (found.username, found.password) == ("dock", "er")
    user_file = tmp_path / ".config" / "containers" / "auth.json"
    user_file.parent.mkdir(parents=True)
    mine = base64.b64encode(b"mine:pw").decode()
    user_file.write_text(json.dumps({"auths": {"reg.example:5000": {"auth": mine}}}))
    found = find_credentials("reg.example:5000", "x")
    assert found is not None and found.username == "mine"
    env_file = tmp_path / "env.json"
    env_file.write_text(json.dumps({"auths": {"reg.example:5000": {"identitytoken": "tok"}}}))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(env_file))
    found = find_credentials("reg.example:5000", "x")
    assert found is not None and found.identity_token == "tok"
