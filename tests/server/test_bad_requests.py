"""Requests that used to get a 500: huge numbers, bodies with a Content-Encoding, names
and digests with a trailing newline or non-ASCII letters. Each gets a 400 with the spec's
error code; an encoded body is stored exactly as sent (as Distribution does), so the digest
is of the bytes on the wire and of the stored file."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest

from tests.server.client import Client, error_codes, make_image, sha256
from tests.server.servers import Server

HUGE = "9" * 5000  # past Python's int() digit limit (4300), and any 64-bit count


@pytest.fixture
def lamina(lamina_server: Server) -> Client:
    return Client(lamina_server.url)


@pytest.mark.parametrize(
    "n", [HUGE, "1" + "0" * 19, "9223372036854775808"], ids=["5000-digits", "1e19", "2**63"]
)
def test_catalog_page_size_too_large(lamina: Client, n: str) -> None:
    r = lamina.request("GET", "/v2/_catalog", n=n)
    assert r.status == 400, r.data
    assert error_codes(r) == ["UNSUPPORTED"]
    assert b"too large" in r.data


def test_tags_page_size_too_large(lamina: Client) -> None:
    lamina.push_image("bad/tagged", make_image("numbers"), "v1")
    r = lamina.request("GET", "/v2/bad/tagged/tags/list", n=HUGE)
    assert r.status == 400, r.data
    assert error_codes(r) == ["UNSUPPORTED"]
    assert lamina.request("GET", "/v2/bad/tagged/tags/list", n="9223372036854775807").status == 200


@pytest.mark.parametrize(
    "content_range",
    [f"0-{HUGE}", f"{HUGE[:4000]}-{HUGE[:4000]}", "0-99999999999999999999"],  # (< 8190)
    ids=["end", "both", "20-digits"],
)
def test_content_range_numbers_too_large(lamina: Client, content_range: str) -> None:
    location = lamina.start_upload("bad/range")
    r = lamina.request("PATCH", location, b"abc", {"Content-Range": content_range})
    assert r.status == 400, r.data
    assert error_codes(r) == ["BLOB_UPLOAD_INVALID"]


@pytest.mark.parametrize("size", [100, 3 << 20])  # a small body, and a large one
def test_gzip_body_is_stored_as_sent(lamina_server: Server, lamina: Client, size: int) -> None:
    data = os.urandom(size // 2) * 2
    sent = gzip.compress(data)
    location = lamina.start_upload("bad/gzip")
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/octet-stream"}
    # The digest of what was sent is the one that counts ...
    r = lamina.request("PUT", location, sent, headers, digest=sha256(sent))
    assert r.status == 201, r.data
    got = lamina.request("GET", f"/v2/bad/gzip/blobs/{sha256(sent)}")
    assert got.data == sent
    stored = lamina_server.storage / "blobs" / "sha256" / hashlib.sha256(sent).hexdigest()
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == hashlib.sha256(sent).hexdigest()
    # ... and the digest of the decompressed bytes is not.
    location = lamina.start_upload("bad/gzip")
    r = lamina.request("PUT", location, sent, headers, digest=sha256(data))
    assert r.status == 400, r.data
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_body_that_is_not_gzip(lamina: Client) -> None:
    body = b"this is not gzip at all" * 10
    headers = {"Content-Encoding": "gzip"}
    location = lamina.start_upload("bad/notgzip")
    r = lamina.request("PATCH", location, body, headers)
    assert r.status == 202, r.data  # stored as sent
    r = lamina.request("PUT", r.headers["Location"], b"", digest=sha256(b"other"))
    assert r.status == 400 and error_codes(r) == ["DIGEST_INVALID"], r.data
    location = lamina.start_upload("bad/notgzip")
    r = lamina.request("PUT", location, body, headers, digest=sha256(body))
    assert r.status == 201, r.data


def test_manifest_with_a_content_encoding_that_is_not_gzip(lamina: Client) -> None:
    r = lamina.request(
        "PUT",
        "/v2/bad/notgzip/manifests/v1",
        b"{not gzip",
        {"Content-Encoding": "gzip", "Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status == 400, r.data
    assert error_codes(r) == ["MANIFEST_INVALID"]


@pytest.mark.parametrize(
    "path",
    [
        "/v2/bad/name%0A/tags/list",
        "/v2/bad/n%C3%A4me/tags/list",
        "/v2/bad/name%0A/manifests/v1",
        "/v2/bad/name%0A/blobs/uploads/",
    ],
)
def test_names_with_a_newline_or_non_ascii_are_invalid(lamina: Client, path: str) -> None:
    method = "POST" if path.endswith("/uploads/") else "GET"
    r = lamina.request(method, path)
    assert r.status == 400, r.data
    assert error_codes(r) == ["NAME_INVALID"]


@pytest.mark.parametrize("ref", ["v1%0A", "v%C3%A4"])
def test_tags_with_a_newline_or_non_ascii_are_invalid(lamina: Client, ref: str) -> None:
    r = lamina.request(
        "PUT",
        f"/v2/bad/tag/manifests/{ref}",
        b"{}",
        {"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    assert r.status == 400, r.data
    assert error_codes(r) == ["MANIFEST_INVALID"]


def test_digest_with_a_trailing_newline_is_invalid(lamina: Client) -> None:
    digest = "sha256:" + "a" * 63 + "%0A"
    r = lamina.request("GET", f"/v2/bad/digest/blobs/{digest}")
    assert r.status == 400, r.data
    assert error_codes(r) == ["DIGEST_INVALID"]
    location = lamina.start_upload("bad/digest")
    r = lamina.request("PUT", location + "&digest=" + digest, b"x")
    assert r.status == 400, r.data
    assert error_codes(r) == ["DIGEST_INVALID"]


def test_signature_extension_names_are_matched_whole(lamina: Client) -> None:
    r = lamina.request("GET", f"/extensions/v2/bad/name%0A/signatures/sha256:{'a' * 64}")
    assert r.status == 400, r.data
    assert error_codes(r) == ["NAME_INVALID"]
