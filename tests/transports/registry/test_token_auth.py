"""The Bearer token flow against Distribution with `auth.token` and a real token server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore
from lamina.errors import AuthError, ErrorCode
from lamina.image import model
from lamina.image.validate import validate
from lamina.transports.registry import RegistryOptions, RegistryReference, login
from lamina.transports.registry.auth import parse_challenges
from tests.transports.registry.conftest import PASSWORD, USER
from tests.transports.registry.images import make_image, push_image
from tests.transports.registry.servers import Distribution
from tests.transports.registry.tokenserver import ISSUER, SERVICE, TokenServer

pytestmark = pytest.mark.interop
REFRESH = "refresh-token-123"


@pytest.fixture(scope="module")
def token_setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Distribution, TokenServer]]:
    tokens = TokenServer(tmp_path_factory.mktemp("token"), USER, PASSWORD, REFRESH).start()
    reg = Distribution(
        tmp_path_factory.mktemp("token-registry"),
        token=(tokens.realm, SERVICE, ISSUER, tokens.cert),
    )
    try:
        reg.start()
        yield reg, tokens
    finally:
        reg.stop()
        tokens.stop()


def test_bearer_with_basic_credentials(
    token_setup: tuple[Distribution, TokenServer], store: BlobStore, tmp_path: Path
) -> None:
    reg, tokens = token_setup
    authfile = tmp_path / "auth.json"
    login(reg.host, USER, PASSWORD, authfile)
    opts = RegistryOptions(authfile=str(authfile))
    img = make_image(store, seed=900)
    target = f"docker://{reg.host}/tok/app:v1"
    before = len(tokens.requests)
    push_image(img, RegistryReference.parse(target, opts).new_destination())
    push_scopes = [s for _, s in tokens.requests[before:]]
    assert ["repository:tok/app:pull,push"] in push_scopes
    # One token for the whole push: cached per scope set.
    assert len(push_scopes) <= 2
    src = RegistryReference.parse(target, opts).new_source()
    raw, media_type = src.get_manifest()
    validate(model.load(raw, src, media_type))
    assert raw == img.raw_manifest()


def test_identity_token_uses_refresh_grant(
    token_setup: tuple[Distribution, TokenServer], store: BlobStore, tmp_path: Path
) -> None:
    reg, tokens = token_setup
    authfile = tmp_path / "auth.json"
    user = base64.b64encode(b"tester:").decode()
    authfile.write_text(json.dumps({"auths": {reg.host: {"auth": user, "identitytoken": REFRESH}}}))
    img = make_image(store, seed=901)
    opts = RegistryOptions(authfile=str(authfile))
    push_image(
        img, RegistryReference.parse(f"docker://{reg.host}/tok/id:v1", opts).new_destination()
    )
    assert tokens.requests[-1][0] == "POST"


def test_bad_credentials_at_the_token_server(
    token_setup: tuple[Distribution, TokenServer], tmp_path: Path
) -> None:
    reg, _ = token_setup
    with pytest.raises(AuthError) as err:
        login(reg.host, USER, "wrong", tmp_path / "auth.json")
    assert err.value.code == ErrorCode.UNAUTHORIZED and reg.host in str(err.value)
    with pytest.raises(AuthError):
        opts = RegistryOptions(creds=f"{USER}:wrong")
        RegistryReference.parse(f"docker://{reg.host}/tok/app:v1", opts).new_source().get_manifest()


def test_parse_challenges() -> None:
    (ch,) = parse_challenges(
        'Bearer realm="https://auth.example/token",service="reg",'
        'scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"'
    )
    assert ch.scheme == "bearer"
    assert ch.params["realm"] == "https://auth.example/token"
    assert ch.scopes == ["repository:a/b:pull,push", "repository:c:pull"]
    basic, bearer = parse_challenges('Basic realm="x y", Bearer realm="r"')
    assert (basic.scheme, basic.params) == ("basic", {"realm": "x y"})
    assert bearer.params == {"realm": "r"}
