"""lamina.reference: docker-style references as podman/containers-image read them. A golden
table (Docker Hub defaults, ports, IPv6, digests, normalisation, the familiar form) and a
negative one (each refused with NAME_INVALID and a reason)."""

from __future__ import annotations

import pytest

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import Reference

H = "sha256:" + "0123456789abcdef" * 4

# text -> (domain, path, tag, digest, str(), familiar())
GOLDEN: list[tuple[str, tuple[str, str, str | None, str | None, str, str]]] = [
    ("alpine", ("docker.io", "library/alpine", "latest", None,
                "docker.io/library/alpine:latest", "alpine:latest")),
    ("alpine:3.19", ("docker.io", "library/alpine", "3.19", None,
                     "docker.io/library/alpine:3.19", "alpine:3.19")),
    ("library/alpine", ("docker.io", "library/alpine", "latest", None,
                        "docker.io/library/alpine:latest", "alpine:latest")),
    ("docker.io/alpine", ("docker.io", "library/alpine", "latest", None,
                          "docker.io/library/alpine:latest", "alpine:latest")),
    ("index.docker.io/library/alpine", ("docker.io", "library/alpine", "latest", None,
                                        "docker.io/library/alpine:latest", "alpine:latest")),
    ("user/app", ("docker.io", "user/app", "latest", None,
                  "docker.io/user/app:latest", "user/app:latest")),
    ("localhost/app", ("localhost", "app", "latest", None,
                       "localhost/app:latest", "localhost/app:latest")),
    ("localhost:5000/a/b/c:v1", ("localhost:5000", "a/b/c", "v1", None,
                                 "localhost:5000/a/b/c:v1", "localhost:5000/a/b/c:v1")),
    ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app", "latest", None,
                            "127.0.0.1:5000/app:latest", "127.0.0.1:5000/app:latest")),
    ("[::1]:5000/app:x", ("[::1]:5000", "app", "x", None,
                          "[::1]:5000/app:x", "[::1]:5000/app:x")),
    ("quay.io/org/app@" + H, ("quay.io", "org/app", None, H,
                              "quay.io/org/app@" + H, "quay.io/org/app@" + H)),
    ("quay.io/org/app:1@" + H, ("quay.io", "org/app", "1", H,
                                "quay.io/org/app:1@" + H, "quay.io/org/app:1@" + H)),
    ("Example.COM/app", ("Example.COM", "app", "latest", None,
                         "Example.COM/app:latest", "Example.COM/app:latest")),
    ("example.com:5000", ("docker.io", "library/example.com", "5000", None,
                          "docker.io/library/example.com:5000", "example.com:5000")),
    ("localhost", ("docker.io", "library/localhost", "latest", None,
                   "docker.io/library/localhost:latest", "localhost:latest")),
    ("my-reg.example/e---f__g.h", ("my-reg.example", "e---f__g.h", "latest", None,
                                   "my-reg.example/e---f__g.h:latest",
                                   "my-reg.example/e---f__g.h:latest")),
    ("app:" + "t" * 128, ("docker.io", "library/app", "t" * 128, None,
                          "docker.io/library/app:" + "t" * 128, "app:" + "t" * 128)),
    ("app:_x.Y-1", ("docker.io", "library/app", "_x.Y-1", None,
                    "docker.io/library/app:_x.Y-1", "app:_x.Y-1")),
]  # fmt: skip


@pytest.mark.parametrize(("text", "want"), GOLDEN, ids=[g[0][:40] for g in GOLDEN])
def test_references_parse_and_normalise(
    text: str, want: tuple[str, str, str | None, str | None, str, str]
) -> None:
    ref = Reference.parse(text)
    domain, path, tag, digest, full, familiar = want
    assert (ref.domain, ref.path, ref.tag) == (domain, path, tag)
    assert ref.digest == (Digest.parse(digest) if digest else None)
    assert str(ref) == full and ref.familiar() == familiar
    assert Reference.parse(str(ref)) == ref  # the normal form is a fixed point


def test_without_default_tag_a_bare_name_stays_bare() -> None:
    ref = Reference.parse("localhost/app", default_tag=False)
    assert ref.tag is None and ref.digest is None and str(ref) == "localhost/app"


BAD: list[tuple[str, str]] = [
    ("", "empty or surrounded by spaces"),
    (" alpine", "empty or surrounded by spaces"),
    ("alpine\n", "empty or surrounded by spaces"),
    ("Alpine", "repository names must be lowercase"),
    ("localhost/App", "repository names must be lowercase"),
    ("app:", "invalid tag ''"),
    ("app:-x", "invalid tag '-x'"),
    ("app:.x", "invalid tag '.x'"),
    ("app:" + "t" * 129, "invalid tag"),
    ("app:t\u00e9", "invalid tag"),
    ("app@sha256:abc", "sha256 needs 64 lowercase hex digits"),
    ("app@sha256:" + "A" * 64, "sha256 needs 64 lowercase hex digits"),
    ("app@md5:" + "0" * 32, "unsupported algorithm 'md5'"),
    ("app@", "invalid digest ''"),
    (":tag", "invalid repository path"),
    ("a.b_c/app", "invalid registry host 'a.b_c'"),
    ("/app", "invalid repository path"),
    ("localhost/", "invalid repository path ''"),
    ("a//b", "invalid repository path"),
    ("a/b/", "invalid repository path"),
    ("a..b", "invalid repository path"),
    ("a___b", "invalid repository path"),
    ("-a", "invalid repository path"),
    ("a-", "invalid repository path"),
    ("a:b:c", "invalid repository path"),
    ("host:port/app", "invalid registry host 'host:port'"),
    ("-host.com/app", "invalid registry host '-host.com'"),
    ("[zz::1]:5000/app", "invalid registry host"),
    ("a" * 256, "name longer than 255 characters"),
    ("example.com/" + "a" * 244, "name longer than 255 characters"),
]


@pytest.mark.parametrize(("text", "why"), BAD, ids=[b[0][:40] or "empty" for b in BAD])
def test_malformed_references_are_refused(text: str, why: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Reference.parse(text)
    assert err.value.code == ErrorCode.NAME_INVALID
    assert err.value.message.startswith("invalid image reference ")
    assert why in err.value.message
    assert err.value.hint and "HOST[:PORT]" in err.value.hint
