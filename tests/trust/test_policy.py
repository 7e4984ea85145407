"""containers-policy.json: parsing, scope precedence, malformed files, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import InvalidInput, NotFound, TrustError
from lamina.trust.evaluate import PolicyContext
from lamina.trust.identity_rules import ExactRepository, MatchRepository, RemapIdentity
from lamina.trust.policy import Policy, find_policy_path
from lamina.trust.requirements import Reject, SignedBy
from lamina.trust.requirements_other import InsecureAcceptAnything
from lamina.trust.requirements_sigstore import SigstoreSigned
from tests.trust.fixture_files import read

OK: list[dict[str, Any]] = [{"type": "insecureAcceptAnything"}]
NO: list[dict[str, Any]] = [{"type": "reject"}]
STORE = "[overlay@/var/lib/containers/storage]"

SCOPED = {
    "default": NO,
    "transports": {
        "docker": {
            "": NO,
            "example.com": OK,
            "example.com/ns": NO,
            "example.com/ns/app": OK,
            "example.com/ns/app:good": OK,
            "example.com/ns/app:bad": NO,
            "*.example.com": OK,
            "*.org": NO,
            "registry.example.com:5000/ns": OK,
            "localhost:5000": OK,
        },
        "dir": {"": NO, "/srv/images": OK, "/srv/images/bad": NO},
        "oci": {"/oci": OK},
        "lamina": {"localhost/app": OK},
        "containers-storage": {STORE + "example.com/ns": OK},
    },
}

DIGEST = "sha256:" + "a" * 64

# (transport, name, the scope expected to decide, accepted?)
SCOPE_CASES = [
    ("docker", "example.com/ns/app:good", "example.com/ns/app:good", True),
    ("docker", "example.com/ns/app:bad", "example.com/ns/app:bad", False),
    ("docker", "example.com/ns/app:other", "example.com/ns/app", True),
    ("docker", "example.com/ns/other:1", "example.com/ns", False),
    ("docker", "example.com/other/x:1", "example.com", True),
    ("docker", "a.example.com/x:1", "*.example.com", True),
    ("docker", "a.b.example.com/x/y:1", "*.example.com", True),
    ("docker", "example.org/x:1", "*.org", False),
    ("docker", "quay.io/x:1", "", False),
    ("docker", "registry.example.com:5000/ns/x:1", "registry.example.com:5000/ns", True),
    ("docker", "registry.example.com:5000/other:1", "*.example.com", True),
    ("docker", "localhost:5000/x:1", "localhost:5000", True),
    ("docker", "busybox", "", False),
    ("docker", f"example.com/ns/app@{DIGEST}", "example.com/ns/app", True),
    ("docker", "example.com:5000/x:1", "", False),
    ("dir", "/srv/images/a", "/srv/images", True),
    ("dir", "/srv/images/bad/x", "/srv/images/bad", False),
    ("dir", "/srv/images", "/srv/images", True),
    ("dir", "/srv/imagesX", "", False),
    ("oci", "/oci/layout:tag", "/oci", True),
    ("oci-archive", "/oci/x.tar", "default", False),
    ("docker-archive", "/x.tar:a/b:1", "default", False),
    ("lamina", "localhost/app:1", "localhost/app", True),
    ("lamina", "localhost/other:1", "default", False),
    ("containers-storage", STORE + "example.com/ns/app:1", STORE + "example.com/ns", True),
]


@pytest.mark.parametrize(("transport", "name", "scope", "accepted"), SCOPE_CASES)
def test_scope_precedence(transport: str, name: str, scope: str, accepted: bool) -> None:
    policy = Policy.parse(json.dumps(SCOPED).encode())
    assert policy.requirements_for(transport, name)[0] == scope
    ctx = PolicyContext(policy)
    if accepted:
        assert ctx.evaluate(transport, name, None, b"{}").scope == scope
    else:
        with pytest.raises(TrustError, match="rejects"):
            ctx.evaluate(transport, name, None, b"{}")


def _with(reqs: Any, transport: str = "docker", scope: str = "example.com") -> bytes:
    return json.dumps({"default": NO, "transports": {transport: {scope: reqs}}}).encode()


GPG = {"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k"}

# (raw policy, text the message must contain)
MALFORMED = [
    (b'{"default": [{"type": "reject"}], "defualt": []}', "'defualt'"),
    (b'{"transports": {}}', "'default'"),
    (b'{"default": []}', "default: the list of requirements must not be empty"),
    (_with([]), '["example.com"]: the list of requirements must not be empty'),
    (_with([{**GPG, "keyPaht": "/x"}]), "'keyPaht'"),
    (_with([{**GPG, "keyData": "bm9uc2Vuc2U="}]), "found keyPath, keyData"),
    (_with([{"type": "signedBy", "keyType": "GPGKeys"}]), "none present"),
    (_with(OK, "dir", "/"), 'transports.dir["/"]'),
    (_with(OK, "dir", "relative/path"), "must be an absolute path"),
    (_with(OK, "oci", "/a/../b"), "canonical"),
    (_with(OK, "docker-archive", "/x.tar"), "docker-archive supports no scopes"),
    (b'{"default": [{"type": "reject", "type": "reject"}]}', "duplicate field 'type'"),
    (b'{"default": [{"type": "reject"}], "default": [{"type": "reject"}]}', "duplicate"),
    (_with([{"type": "acceptSomething"}]), "'acceptSomething'"),
    (_with([{**GPG, "signedIdentity": {"type": "matchAll"}}]), "'matchAll'"),
    (
        _with([{**GPG, "signedIdentity": {"type": "exactReference", "dockerReference": "a/b"}}]),
        "neither a tag nor a digest",
    ),
    (
        _with([{**GPG, "signedIdentity": {"type": "remapIdentity", "prefix": "x y"}}]),
        "'signedPrefix' is missing",
    ),
    (_with([{**GPG, "keyType": "PGP"}]), "keyType"),
    (_with([{"type": "signedBy", "keyType": "GPGKeys", "keyData": "%%%"}]), "keyData"),
    (_with([{"type": "signedBy", "keyType": "GPGKeys", "keyPaths": []}]), "keyPaths"),
    (_with([{"type": "sigstoreSigned"}]), "exactly one of keyPath"),
    (
        _with(
            [
                {
                    "type": "sigstoreSigned",
                    "fulcio": {"caPath": "/c", "oidcIssuer": "i", "subjectEmail": "e"},
                }
            ]
        ),
        "rekorPublicKey",
    ),
    (_with([{"type": "sigstoreSigned", "keyPath": "/k", "keyData": "eA=="}]), "keyPath, keyData"),
    (_with(OK, "docker", "*example"), "wildcard"),
    (b'{"default": [{"type": "reject"}]} trailing', "invalid JSON"),
]


@pytest.mark.parametrize(("raw", "needle"), MALFORMED)
def test_malformed_policy_rejected_naming_the_field(raw: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Policy.parse(raw, "p.json")
    assert needle in info.value.message
    assert info.value.message.startswith("p.json: ")
    assert "\n" not in info.value.message


def test_fixture_policy_parses_and_round_trips() -> None:
    policy = Policy.parse(read("policy.json"))
    docker = policy.transports["docker"]
    hardened = docker["example.com/hardened"]
    assert isinstance(hardened[0], SignedBy)
    assert isinstance(hardened[0].signed_identity, MatchRepository)
    mirror = docker["private-mirror:5000/vendor-mirror"][0]
    assert isinstance(mirror, SignedBy)
    assert mirror.signed_identity == RemapIdentity(
        prefix="private-mirror:5000/vendor-mirror", signed_prefix="vendor.example.com"
    )
    assert isinstance(docker["bogus/key-data-example"][0], SignedBy)
    assert docker["bogus/key-data-example"][0].key_data == b"nonsense"
    sigstore = docker["example.com/sigstore/key-path-example"][0]
    assert isinstance(sigstore, SigstoreSigned) and sigstore.key_path == "/keys/public-key"
    assert policy.transports["dir"][""] == (InsecureAcceptAnything(),)
    assert policy.default == (Reject(),)
    again = Policy.parse(policy.dumps())
    assert again == policy
    assert again.dumps() == policy.dumps()


def test_with_scope_edits_and_validates() -> None:
    policy = Policy.parse(json.dumps({"default": OK}).encode())
    reqs = (
        SignedBy(
            key_type="GPGKeys",
            key_path="/k.gpg",
            signed_identity=ExactRepository(docker_repository="example.com/a"),
        ),
    )
    edited = policy.with_scope("docker", "example.com", reqs)
    assert Policy.parse(edited.dumps()) == edited
    assert edited.requirements_for("docker", "example.com/x:1") == ("example.com", reqs)
    assert edited.with_scope("docker", "example.com", None) == policy
    with pytest.raises(InvalidInput, match="absolute"):
        policy.with_scope("dir", "x", (Reject(),))


def test_policy_file_lookup(tmp_path: Path) -> None:
    assert find_policy_path("/explicit.json") == Path("/explicit.json")
    assert find_policy_path(home=str(tmp_path)) == Path("/etc/containers/policy.json")
    user = tmp_path / ".config/containers/policy.json"
    user.parent.mkdir(parents=True)
    user.write_text(json.dumps({"default": OK}))
    assert find_policy_path(home=str(tmp_path)) == user
    assert Policy.load(user).default == (InsecureAcceptAnything(),)
    with pytest.raises(NotFound):
        Policy.load(tmp_path / "missing.json")
    user.write_text('{"default": [{"type": "reject", "x": 1}]}')
    with pytest.raises(InvalidInput, match=str(user)):
        Policy.load(user)
