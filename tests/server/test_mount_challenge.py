"""Cross-repository mount under token auth: the challenge for `POST
/v2/<name>/blobs/uploads/?mount=<digest>&from=<source>` asks for `repository:<source>:pull`
beside `repository:<name>:pull,push` (as Distribution's does), so a client that asks for
the scopes the challenge names gets a token that can mount."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.server.client import Client, error_codes, sha256
from tests.server.servers import Server, start_lamina
from tests.server.test_token_auth import AuthClient, challenge, get_token

ACCESS = """\
htpasswd: htpasswd
rules:
  - repositories: ["**"]
    users: [alice]
    actions: ["*"]
  - repositories: ["carol/**"]
    users: [carol]
    actions: ["*"]
"""
BLOB = b"a layer both repositories share" * 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mount")
    lines = [
        subprocess.run(
            ["htpasswd", "-Bbn", user, pw], capture_output=True, text=True, check=True
        ).stdout.strip()
        for user, pw in (("alice", "secret"), ("carol", "pw"))
    ]
    (root / "htpasswd").write_text("\n".join(lines) + "\n")
    (root / "access.yml").write_text(ACCESS)
    srv = start_lamina(root / "storage", "--auth-token-access", str(root / "access.yml"))
    tok = get_token(srv, "repository:src/app:pull,push", creds=("alice", "secret"))
    AuthClient(srv.url, tok["token"]).push_blob("src/app", BLOB)
    yield srv
    srv.stop()


def _mount_path(target: str, source: str = "src/app") -> str:
    return f"/v2/{target}/blobs/uploads/?mount={sha256(BLOB)}&from={source}"


def test_mount_challenge_names_the_source_and_its_token_mounts(server: Server) -> None:
    r = Client(server.url).request("POST", _mount_path("dst/app"))
    assert r.status == 401
    scopes = challenge(r)["scope"].split(" ")
    assert sorted(scopes) == ["repository:dst/app:pull,push", "repository:src/app:pull"]
    tok = get_token(server, *scopes, creds=("alice", "secret"))
    m = AuthClient(server.url, tok["token"]).request("POST", _mount_path("dst/app"))
    assert m.status == 201, m.data
    assert m.headers["Docker-Content-Digest"] == sha256(BLOB)
    assert m.headers["Location"] == f"/v2/dst/app/blobs/{sha256(BLOB)}"
    # a `from` that is no repository name is left out of the challenge (no header injection)
    r = Client(server.url).request("POST", _mount_path("dst/app", 'x",error="y'))
    assert r.status == 401
    assert challenge(r)["scope"] == "repository:dst/app:pull,push"
    assert "error" not in challenge(r)


def test_token_without_source_pull_is_asked_for_it(server: Server) -> None:
    tok = get_token(server, "repository:dst/other:pull,push", creds=("alice", "secret"))
    r = AuthClient(server.url, tok["token"]).request("POST", _mount_path("dst/other"))
    assert r.status == 401, r.data
    assert error_codes(r) == ["UNAUTHORIZED"]
    c = challenge(r)
    assert c["error"] == "insufficient_scope"
    assert sorted(c["scope"].split(" ")) == [
        "repository:dst/other:pull,push",
        "repository:src/app:pull",
    ]
    # a user the access file does not let pull the source gets a plain upload instead
    scopes = ["repository:carol/app:pull,push", "repository:src/app:pull"]
    tok = get_token(server, *scopes, creds=("carol", "pw"))
    u = AuthClient(server.url, tok["token"]).request("POST", _mount_path("carol/app"))
    assert u.status == 202, u.data
    assert "/blobs/uploads/" in u.headers["Location"]
