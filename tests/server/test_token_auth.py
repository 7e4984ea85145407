"""Token auth: the /token endpoint, Bearer checks, scopes from the access file, refresh
tokens, bad tokens and throttling, against a live lamina server."""

from __future__ import annotations

import base64
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.server.client import Client, error_codes, make_image
from tests.server.servers import Server, start_lamina

SERVICE = "lamina-registry"
ACCESS = """\
htpasswd: htpasswd
groups:
  writers: [alice]
rules:
  - repositories: ["**"]
    groups: [writers]
    actions: ["*"]
    catalog: true
  - repositories: ["shared/**"]
    users: [bob]
    actions: [pull]
  - repositories: ["public/**"]
    anonymous: true
    actions: [pull]
"""


def write_access(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        subprocess.run(
            ["htpasswd", "-Bbn", user, pw], capture_output=True, text=True, check=True
        ).stdout.strip()
        for user, pw in (("alice", "secret"), ("bob", "pw"))
    ]
    (root / "htpasswd").write_text("\n".join(lines) + "\n")
    (root / "access.yml").write_text(ACCESS)
    return root / "access.yml"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("token")
    server = start_lamina(root / "storage", "--auth-token-access", str(write_access(root)))
    yield server
    server.stop()


def get_token(
    server: Server, *scopes: str, creds: tuple[str, str] | None = None, **params: str
) -> dict[str, Any]:
    query = urllib.parse.urlencode(
        [("service", SERVICE), *[("scope", s) for s in scopes], *params.items()]
    )
    headers = urllib3.make_headers(basic_auth=":".join(creds)) if creds else {}
    r = urllib3.request("GET", f"{server.url}/token?{query}", headers=headers)
    assert r.status == 200, r.data
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class AuthClient(Client):
    """A Client sending one bearer token with every request."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(base)
        self.token = token

    def request(
        self, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None, **kw: Any,
    ) -> urllib3.BaseHTTPResponse:  # fmt: skip
        return super().request(method, path, body, {**(headers or {}), **bearer(self.token)}, **kw)


def challenge(r: urllib3.BaseHTTPResponse) -> dict[str, str]:
    scheme, _, rest = r.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    out = {}
    for part in rest.split('",'):
        k, _, v = part.partition("=")
        out[k.strip()] = v.strip('"')
    return out


def test_challenge_names_realm_service_and_scope(token_server: Server) -> None:
    r = Client(token_server.url).request("GET", "/v2/team/app/manifests/v1")
    assert r.status == 401
    assert error_codes(r) == ["UNAUTHORIZED"]
    c = challenge(r)
    assert c["realm"] == f"{token_server.url}/token"
    assert c["service"] == SERVICE
    assert c["scope"] == "repository:team/app:pull"


def test_writer_pushes_and_pulls_with_token(token_server: Server) -> None:
    tok = get_token(token_server, "repository:team/app:pull,push", creds=("alice", "secret"))
    claims = jwt.decode(tok["token"], options={"verify_signature": False})
    assert claims["access"] == [
        {"type": "repository", "name": "team/app", "actions": ["pull", "push"]}
    ]
    assert claims["aud"] == SERVICE and claims["sub"] == "alice"
    client = AuthClient(token_server.url, tok["token"])
    image = make_image("token-writer")
    client.push_image("team/app", image, "v1")
    r = client.request("GET", "/v2/team/app/manifests/v1")
    assert r.status == 200 and r.data == image.manifest


def test_pull_only_user_cannot_push_or_delete(token_server: Server) -> None:
    writer = AuthClient(
        token_server.url,
        get_token(token_server, "repository:shared/lib:pull,push", creds=("alice", "secret"))[
            "token"
        ],
    )
    image = make_image("token-shared")
    writer.push_image("shared/lib", image, "v1")
    tok = get_token(token_server, "repository:shared/lib:pull,push,delete", creds=("bob", "pw"))
    claims = jwt.decode(tok["token"], options={"verify_signature": False})
    assert claims["access"][0]["actions"] == ["pull"]
    bob = AuthClient(token_server.url, tok["token"])
    assert bob.request("GET", "/v2/shared/lib/manifests/v1").status == 200
    r = bob.request("POST", "/v2/shared/lib/blobs/uploads/")
    assert r.status == 403 and error_codes(r) == ["DENIED"]
    r = bob.request("DELETE", f"/v2/shared/lib/manifests/{image.digest}")
    assert r.status == 403 and error_codes(r) == ["DENIED"]
    # Outside shared/ bob may do nothing at all.
    r = bob.request("GET", "/v2/team/app/manifests/v1")
    assert r.status == 403 and error_codes(r) == ["DENIED"]
    # alice's token for pull only lacks push, which alice could get: 401 insufficient_scope.
    pull_only = get_token(token_server, "repository:shared/lib:pull", creds=("alice", "secret"))
    r = AuthClient(token_server.url, pull_only["token"]).request(
        "POST", "/v2/shared/lib/blobs/uploads/"
    )
    assert r.status == 401 and error_codes(r) == ["UNAUTHORIZED"]
    c = challenge(r)
    assert c["error"] == "insufficient_scope"
    assert c["scope"] == "repository:shared/lib:pull,push"


def test_anonymous_pull_only_where_granted(token_server: Server) -> None:
    writer = AuthClient(
        token_server.url,
        get_token(
            token_server,
            "repository:public/app:pull,push",
            "repository:private/app:pull,push",
            creds=("alice", "secret"),
        )["token"],
    )
    image = make_image("token-anon")
    writer.push_image("public/app", image, "v1")
    writer.push_image("private/app", image, "v1")
    anon = get_token(token_server, "repository:public/app:pull,push", "repository:private/app:pull")
    assert "refresh_token" not in anon
    claims = jwt.decode(anon["token"], options={"verify_signature": False})
    assert claims["sub"] == ""
    assert claims["access"] == [{"type": "repository", "name": "public/app", "actions": ["pull"]}]
    client = AuthClient(token_server.url, anon["token"])
    assert client.request("GET", "/v2/public/app/manifests/v1").status == 200
    r = client.request("GET", "/v2/private/app/manifests/v1")
    assert r.status == 401 and error_codes(r) == ["UNAUTHORIZED"]
    r = client.request("POST", "/v2/public/app/blobs/uploads/")
    assert r.status == 401 and challenge(r)["error"] == "insufficient_scope"
    r = client.request("GET", "/v2/_catalog")
    assert r.status == 401


def _key(server: Server) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(
        (server.storage / "token-key.pem").read_bytes(), password=None
    )
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _forge(key: ec.EllipticCurvePrivateKey, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "lamina",
        "sub": "alice",
        "aud": SERVICE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "access": [{"type": "repository", "name": "team/app", "actions": ["pull"]}],
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="ES256")


def test_bad_tokens_are_refused(token_server: Server) -> None:
    key = _key(token_server)
    good = _forge(key)
    assert AuthClient(token_server.url, good).request("GET", "/v2/team/app/tags/list").status in (
        200,
        404,
    )
    other = ec.generate_private_key(ec.SECP256R1())
    hs = jwt.encode({"sub": "alice", "aud": SERVICE, "iss": "lamina"}, "k" * 32, algorithm="HS256")
    refresh = get_token(token_server, creds=("alice", "secret"), offline_token="true")
    bad = {
        "garbage": "not.a.jwt",
        "other key": _forge(other),
        "expired": _forge(key, exp=int(time.time()) - 60, iat=int(time.time()) - 400),
        "not yet valid": _forge(key, nbf=int(time.time()) + 600),
        "wrong audience": _forge(key, aud="someone-else"),
        "wrong issuer": _forge(key, iss="mallory"),
        "no exp": _forge(key, exp=None),
        "hs256": hs,
        "alg none": jwt.encode({"sub": "alice"}, "", algorithm="none"),
        "malformed access": _forge(key, access=[{"type": 1}]),
        "refresh token": refresh["refresh_token"],
        "tampered": good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
    }
    for label, token in bad.items():
        r = AuthClient(token_server.url, token).request("GET", "/v2/team/app/tags/list")
        assert r.status == 401, label
        assert error_codes(r) == ["UNAUTHORIZED"], label
        assert challenge(r)["error"] == "invalid_token", label


def _post(server: Server, **form: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request(
        "POST",
        f"{server.url}/token",
        body=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def test_oauth2_password_and_refresh_grants(token_server: Server) -> None:
    r = _post(
        token_server, grant_type="password", username="alice", password="secret",
        service=SERVICE, client_id="docker", access_type="offline",
        scope="repository:team/app:pull",
    )  # fmt: skip
    assert r.status == 200, r.data
    body = r.json()
    assert body["refresh_token"] and body["access_token"]
    r = _post(
        token_server, grant_type="refresh_token", refresh_token=body["refresh_token"],
        service=SERVICE, client_id="docker", scope="repository:team/app:pull,push",
    )  # fmt: skip
    assert r.status == 200, r.data
    claims = jwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice"
    assert claims["access"][0]["actions"] == ["pull", "push"]
    bad = _post(token_server, grant_type="refresh_token", refresh_token="nope", service=SERVICE)
    assert bad.status == 401 and error_codes(bad) == ["UNAUTHORIZED"]
    access_as_refresh = _post(
        token_server, grant_type="refresh_token", refresh_token=body["access_token"]
    )
    assert access_as_refresh.status == 401
    assert _post(token_server, grant_type="magic").status == 400
    wrong = _post(token_server, grant_type="password", username="bob", password="nope")
    assert wrong.status == 401


def test_failed_logins_are_throttled(tmp_path: Path) -> None:
    access = write_access(tmp_path / "auth")
    config = tmp_path / "config.yml"
    config.write_text("auth:\n  throttle: {attempts: 3, window: 30s}\n")
    token = start_lamina(
        tmp_path / "s1", "--config", str(config), "--auth-token-access", str(access)
    )
    basic = start_lamina(
        tmp_path / "s2", "--config", str(config), "--htpasswd", str(tmp_path / "auth/htpasswd")
    )
    try:
        wrong = urllib3.make_headers(basic_auth="bob:wrong")
        right = urllib3.make_headers(basic_auth="bob:pw")
        for server, path in ((token, "/token?service=" + SERVICE), (basic, "/v2/")):
            assert urllib3.request("GET", server.url + path, headers=right).status == 200
            for _ in range(3):
                assert urllib3.request("GET", server.url + path, headers=wrong).status == 401
            r = urllib3.request("GET", server.url + path, headers=right, retries=False)
            assert r.status == 429, path
            assert error_codes(r) == ["TOOMANYREQUESTS"]
            assert int(r.headers["Retry-After"]) > 0
    finally:
        token.stop()
        basic.stop()


def test_basic_header_is_not_a_bearer_token(token_server: Server) -> None:
    creds = base64.b64encode(b"alice:secret").decode()
    r = Client(token_server.url).request("GET", "/v2/", headers={"Authorization": f"Basic {creds}"})
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "name", ["team/app\n", "team/äpp", "Team/App", "team//app", "team/app/"], ids=repr
)
def test_token_endpoint_refuses_names_the_registry_refuses(token_server: Server, name: str) -> None:
    query = urllib.parse.urlencode([("service", SERVICE), ("scope", f"repository:{name}:pull")])
    headers = urllib3.make_headers(basic_auth="alice:secret")
    r = urllib3.request("GET", f"{token_server.url}/token?{query}", headers=headers)
    assert r.status == 400, r.data
    assert error_codes(r) == ["NAME_INVALID"]
    form = {"grant_type": "password", "username": "alice", "password": "secret"}
    r = _post(token_server, **form, scope=f"repository:{name}:pull", service=SERVICE)
    assert r.status == 400, r.data
    assert error_codes(r) == ["NAME_INVALID"]


def test_token_endpoint_still_grants_a_valid_name(token_server: Server) -> None:
    body = get_token(token_server, "repository:team/app:pull", creds=("alice", "secret"))
    assert body["token"]
