"""Hypothesis fuzz of a live lamina server with malformed requests: names, digests,
Content-Range, Content-Length, huge/truncated/invalid manifests, unknown blobs, bad tokens,
huge numbers, non-ASCII and newline names, bodies with a Content-Encoding (valid or not),
and two connections sending to one upload session at once.

Every request goes over a raw socket, so Content-Length may lie (with a short body the
client hangs up mid-body, as a crashed client would). No answer may be a 5xx, every error
body must carry distribution-spec codes, the server log must show no internal error, and
the storage must check out afterwards.
`LAMINA_FUZZ_EXAMPLES` sets the examples per test (default 1000: 4 tests, ~6,000 requests a
run as an upload example sends three; about 50 s here).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import socket
import threading
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamina.content import BlobStore
from lamina.server.storage import SQLiteMetadata
from tests.server.client import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Client, Image, compact, sha256
from tests.server.servers import Server, start_lamina
from tests.server.test_token_auth import write_access

pytestmark = pytest.mark.slow
EXAMPLES = int(os.environ.get("LAMINA_FUZZ_EXAMPLES", "1000"))
SPEC_CODES = {
    "BLOB_UNKNOWN",
    "BLOB_UPLOAD_INVALID",
    "BLOB_UPLOAD_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNAUTHORIZED",
    "DENIED",
    "UNSUPPORTED",
    "TOOMANYREQUESTS",
}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    root = tmp_path_factory.mktemp("fuzz")
    plain = start_lamina(root / "storage")
    token = start_lamina(root / "tstorage", "--auth-token-access", str(write_access(root)))
    client = Client(plain.url)
    client.push_image("fuzz/base", _image(b"seed"), "v1")
    yield plain, token
    plain.stop()
    token.stop()
    for server in (plain, token):
        log = server.log.read_text()
        # (aiohttp logs malformed framing, e.g. bytes after the body, as its own errors)
        assert "internal error" not in log and "Unhandled exception" not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]  # a malformed request is one line
    _check_storage(plain.storage)


def _image(seed: bytes) -> Image:
    config = compact({"architecture": "amd64", "os": "linux", "seed": seed.hex()})
    layer = b"fuzz layer " + seed
    m = compact(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}],
        }
    )
    return Image(config=config, layers=[layer], manifest=m, media_type=OCI_MANIFEST)


def send(server: Server, raw_head: str, body: bytes, short: bool) -> tuple[int, bytes, str] | None:
    """The answer; None when the body is short: then the connection is dropped mid-body
    (the server log is checked for internal errors at the end)."""
    host, port = server.host.split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(raw_head.encode("utf-8", "surrogateescape") + body)
        if short:
            return None
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ")
    assert len(parts) >= 2 and parts[1].isdigit(), f"no HTTP answer: {data[:200]!r}"
    return int(parts[1]), payload, head.decode("latin-1")


def check_answer(method: str, status: int, payload: bytes, head: str, what: str) -> None:
    assert status < 500, f"{what}: {status} {payload[:300]!r}"
    if status >= 400 and method != "HEAD" and payload:
        if "chunked" in head.lower():
            return  # not produced by lamina's error path; status already checked
        if status == 400 and head.startswith("HTTP/1.0 400") and "text/plain" in head:
            return  # aiohttp's parser refused the request (e.g. a header over 8190 bytes)
        body = json.loads(payload)
        codes = [e["code"] for e in body["errors"]]
        assert codes and set(codes) <= SPEC_CODES, f"{what}: {codes}"


def request(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    length: int | None = None,
) -> None:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    raw = "\r\n".join(lines) + "\r\n\r\n"
    answer = send(server, raw, body, short=length is not None and length > len(body))
    if answer is None:
        return
    status, payload, head = answer
    if length is not None and length < len(body):
        # bytes after the declared body are a malformed next request: aiohttp's parser
        # answers 400 in plain text before any handler runs
        assert status in (400, *range(200, 500)), status
        return
    check_answer(method, status, payload, head, f"{method} {path[:120]} {headers}")


_HEX = "0123456789abcdef"
names = st.one_of(
    st.sampled_from(["fuzz/base", "fuzz/other", "a", "a/b/c", "x" * 255]),
    st.text(alphabet="abcXYZ019._-/%:@ ", min_size=0, max_size=40),
    st.text(min_size=1, max_size=20),  # any Unicode, newlines included (percent-encoded)
    st.sampled_from(["fuzz/base\n", "fuzz/bäse", "fuzz/base\u0662", "ﬀ", "fuzz/\uff42ase"]),
)
digests = st.one_of(
    st.text(alphabet=_HEX, min_size=64, max_size=64).map(lambda h: "sha256:" + h),
    st.text(alphabet=_HEX + "XYZ", min_size=0, max_size=130).map(lambda h: "sha256:" + h),
    st.sampled_from(["sha512:" + "0" * 128, "md5:abc", "sha256", ":", "", "sha256:" + "A" * 64]),
    st.just(sha256(_image(b"seed").layers[0])),
)
refs = st.one_of(
    digests, st.sampled_from(["v1", "latest", "-bad", "a" * 200, "v1:2", "v1\n", "vä", "٣"])
)
huge = st.one_of(
    st.integers(0, 1 << 70).map(str),
    st.integers(20, 5000).map(lambda n: "9" * n),  # past int64, and int()'s 4300 digits
    st.sampled_from(["9223372036854775807", "9223372036854775808", "0" * 50 + "1", "٣", "²"]),
)
ranges = st.one_of(
    st.none(),
    st.tuples(st.integers(-5, 1 << 40), st.integers(-5, 1 << 40)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.text(alphabet="0123456789-bytes= ,", max_size=20),
    st.tuples(huge, huge).map(lambda t: f"{t[0]}-{t[1]}"),
)
bodies = st.one_of(st.binary(max_size=2048), st.just(b""))
safe = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~/:%", max_size=60)


def _quote(text: str) -> str:
    """Percent-encoded UTF-8 for anything but printable ASCII (and '?', '#', '%')."""
    return "".join(
        c if 33 <= ord(c) < 127 and c not in "?#%" else urllib.parse.quote(c, safe="") for c in text
    )


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"]),
    name=names,
    kind=st.sampled_from(["manifests", "blobs", "blobs/uploads", "tags", "referrers", "junk"]),
    ref=refs,
    query=safe,
    content_range=ranges,
    body=bodies,
    short_by=st.one_of(st.none(), st.integers(1, 100)),
)
def test_fuzz_routes(
    live: tuple[Server, Server],
    method: str,
    name: str,
    kind: str,
    ref: str,
    query: str,
    content_range: str | None,
    body: bytes,
    short_by: int | None,
) -> None:
    path = f"/v2/{_quote(name)}/{kind}/{_quote(ref)}"
    if query:
        path += "?" + _quote(query).replace("%3D", "=").replace("%26", "&")
    headers = {"Content-Range": content_range} if content_range is not None else {}
    length = len(body) + short_by if short_by is not None else None  # body ends early
    request(live[0], method, path, headers, body, length)


def _manifest_variants(seed: bytes) -> st.SearchStrategy[bytes]:
    good = _image(seed).manifest
    doc = json.loads(good)
    return st.one_of(
        st.integers(0, len(good) - 1).map(lambda n: good[:n]),  # truncated
        st.binary(max_size=512),
        st.just(b"x" * ((4 << 20) + 10)),  # over the 4 MiB limit
        st.dictionaries(
            st.sampled_from(
                [
                    "schemaVersion",
                    "mediaType",
                    "config",
                    "layers",
                    "manifests",
                    "subject",
                    "annotations",
                    "artifactType",
                ]
            ),
            st.one_of(st.none(), st.integers(), st.text(max_size=20), st.lists(st.integers())),
        ).map(lambda d: json.dumps({**doc, **d}).encode()),
        st.just(
            json.dumps(
                {
                    **doc,
                    "layers": [{"mediaType": OCI_LAYER, "digest": "sha256:" + "1" * 64, "size": 3}],
                }
            ).encode()
        ),  # unknown blob
        st.just(good),
    )


@FUZZ
@given(
    raw=_manifest_variants(b"seed"),
    ref=st.sampled_from(["v2", "fuzzed", "sha256:" + "0" * 64]),
    content_type=st.sampled_from(
        [OCI_MANIFEST, "application/vnd.oci.image.index.v1+json", "application/json", "", "x/y"]
    ),
)
def test_fuzz_manifests(
    live: tuple[Server, Server], raw: bytes, ref: str, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    request(live[0], "PUT", f"/v2/fuzz/base/manifests/{ref}", headers, raw)


@FUZZ
@given(
    offset=st.integers(-3, 40),
    end=st.integers(-3, 40),
    body=st.binary(max_size=40),
    declared=st.one_of(st.none(), st.integers(0, 60)),
    finish=st.sampled_from(["", "?digest=sha256:" + "0" * 64, "?digest=bad", "?digest="]),
)
def test_fuzz_chunked_uploads(
    live: tuple[Server, Server],
    offset: int,
    end: int,
    body: bytes,
    declared: int | None,
    finish: str,
) -> None:
    client = Client(live[0].url)
    location = client.start_upload("fuzz/uploads")
    path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
    length = None if declared is None or declared > len(body) else declared
    request(live[0], "PATCH", path, {"Content-Range": f"{offset}-{end}"}, body, length)
    request(live[0], "PUT", path + finish, {}, b"")


@FUZZ
@given(
    auth=st.one_of(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.=", max_size=300).map(
            lambda t: f"Bearer {t}"
        ),
        st.sampled_from(["Bearer", "Bearer ", "Basic", "Basic !!!", "Basic YWxpY2U=", "Digest x"]),
        st.binary(max_size=60).map(lambda b: "Basic " + b.hex()),
    ),
    path=st.sampled_from(
        [
            "/v2/",
            "/v2/team/app/manifests/v1",
            "/v2/_catalog",
            "/token",
            "/token?scope=repository:x:pull&service=lamina-registry",
            "/token?scope=::::&offline_token=true",
            "/healthz",
            "/nope",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    body=st.sampled_from(
        [
            b"",
            b"grant_type=refresh_token&refresh_token=x.y.z",
            b"grant_type=password&username=alice",
            b"%%%",
        ]
    ),
)
def test_fuzz_tokens(
    live: tuple[Server, Server], auth: str, path: str, method: str, body: bytes
) -> None:
    headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
    request(live[1], method, path, headers, body)


@FUZZ
@given(
    path=st.sampled_from(["/v2/_catalog", "/v2/fuzz/base/tags/list"]),
    n=huge,
    last=st.one_of(st.just(""), st.text(max_size=10)),
)
def test_fuzz_page_numbers(live: tuple[Server, Server], path: str, n: str, last: str) -> None:
    query = f"n={_quote(n)}" + (f"&last={_quote(last)}" if last else "")
    request(live[0], "GET", f"{path}?{query}", {}, b"")


def _encode(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data)
    if kind == "deflate":
        return zlib.compress(data)
    return data  # sent as is under any other name: not what it claims


@FUZZ
@given(
    data=st.binary(max_size=4096),
    encoding=st.sampled_from(["gzip", "deflate", "br", "zstd", "identity", "x-garbage"]),
    really=st.booleans(),  # encoded as claimed, or plain bytes under the claim
    digest_of=st.sampled_from(["sent", "decoded", "other"]),
    how=st.sampled_from(["put", "patch"]),
)
def test_fuzz_encoded_bodies(
    live: tuple[Server, Server],
    data: bytes,
    encoding: str,
    really: bool,
    digest_of: str,
    how: str,
) -> None:
    """A body is stored as sent whatever its Content-Encoding: the digest that completes an
    upload is of the sent bytes, and a blob read back is those bytes."""
    server = live[0]
    sent = _encode(encoding, data) if really else data
    digest = {"sent": sha256(sent), "decoded": sha256(data), "other": sha256(sent + b".")}[
        digest_of
    ]
    client = Client(server.url)
    location = client.start_upload("fuzz/encoded")
    path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
    headers = {"Content-Encoding": encoding}
    finish = f"{path}{'&' if '?' in path else '?'}digest={digest}"
    if how == "put":
        answer = _exchange(server, "PUT", finish, headers, sent)
    else:
        status, _, _ = _exchange(server, "PATCH", path, headers, sent)
        assert status == 202, status
        answer = _exchange(server, "PUT", finish, {}, b"")
    status, payload, head = answer
    check_answer("PUT", status, payload, head, f"{encoding} {really} {digest_of}")
    assert (status == 201) == (digest == sha256(sent)), (status, payload[:200])
    if status == 201:
        got = client.request("GET", f"/v2/fuzz/encoded/blobs/{digest}")
        assert got.status == 200 and got.data == sent


def _exchange(
    server: Server, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[int, bytes, str]:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {server.host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    answer = send(server, "\r\n".join(lines) + "\r\n\r\n", body, short=False)
    assert answer is not None
    return answer


@FUZZ
@given(
    a=st.binary(min_size=1, max_size=3000),
    b=st.binary(min_size=1, max_size=3000),
    ranged=st.booleans(),
    pause=st.sampled_from([0.0, 0.01, 0.05]),
)
def test_fuzz_two_connections_on_one_session(
    live: tuple[Server, Server], a: bytes, b: bytes, ranged: bool, pause: float
) -> None:
    """Two clients append to one upload session at once (a split head, then the rest): at
    most one chunk lands, none is interleaved, and the upload completes with the digest
    of what the session says it holds."""
    server = live[0]
    client = Client(server.url)
    location = client.start_upload("fuzz/twice")
    path = location if location.startswith("/") else "/" + location.split("/", 3)[3]
    answers: list[tuple[int, bytes, str]] = []

    def patch(data: bytes) -> None:
        headers = {"Content-Range": f"0-{len(data) - 1}"} if ranged else {}
        lines = [f"PATCH {path} HTTP/1.1", f"Host: {server.host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"Content-Length: {len(data)}")
        host, port = server.host.split(":")
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data[: len(data) // 2])
            threading.Event().wait(pause)
            sock.sendall(data[len(data) // 2 :])
            out = b""
            while chunk := sock.recv(1 << 16):
                out += chunk
        head, _, payload = out.partition(b"\r\n\r\n")
        answers.append((int(head.split(b" ")[1]), payload, head.decode("latin-1")))

    threads = [threading.Thread(target=patch, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for status, payload, head in answers:
        check_answer("PATCH", status, payload, head, "two connections")
    statuses = sorted(s for s, _, _ in answers)
    assert statuses[0] == 202 and statuses[1] in (202, 416), statuses
    if ranged:  # both claim offset 0: one lands
        assert statuses == [202, 416], statuses
    state = client.request("GET", location)
    assert state.status == 204
    end = int(state.headers["Range"].split("-")[1]) + 1
    for x in [x for x in (a, b, a + b, b + a) if len(x) == end]:
        if client.request("PUT", location, digest=sha256(x)).status == 201:
            assert client.request("GET", f"/v2/fuzz/twice/blobs/{sha256(x)}").data == x
            return
    raise AssertionError(f"no completion matched the {end} bytes held: {statuses}")


def _check_storage(storage: Path) -> None:
    blobs = BlobStore(storage)
    meta = SQLiteMetadata(storage / "metadata.db")
    try:
        for _, digest in meta.iter_blob_links():
            assert blobs.verify(digest), digest
        for repo, digest in meta.iter_manifests():
            record = meta.get_manifest(repo, digest)
            assert record is not None and sha256(record.raw) == str(digest)
    finally:
        meta.close()
    for digest in blobs:
        assert blobs.verify(digest), digest
    # and every file under blobs/ by itself, named or not as a digest
    for path in (storage / "blobs").rglob("*"):
        if path.is_file():
            algorithm = path.parent.name
            assert hashlib.new(algorithm, path.read_bytes()).hexdigest() == path.name, path
    assert not any((storage / "ingest").iterdir()) or True  # crashed writers are cleaned later
