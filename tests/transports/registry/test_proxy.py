"""Registry requests honour HTTP_PROXY / HTTPS_PROXY / NO_PROXY: push, pull and sync go
through a real proxy started here (forwarded for http://, a CONNECT tunnel for https://),
which records what it sees; NO_PROXY sends them straight to the registry."""

from __future__ import annotations

import base64
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore
from lamina.errors import InvalidInput, TransportError
from lamina.image import model
from lamina.image.validate import validate
from lamina.transports.registry import RegistryOptions, RegistryReference
from tests.transports.registry.conftest import PASSWORD, USER
from tests.transports.registry.images import make_image, push_image
from tests.transports.registry.proxy import RecordingProxy
from tests.transports.registry.servers import Distribution, LaminaServer, TLSFiles, free_port

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy")


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the variables it means (the machine's own are not read)."""
    for name in (*PROXY_VARIABLES, "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    try:
        yield p
    finally:
        p.close()


def _push_and_pull(
    store: BlobStore, host: str, repo: str, opts: RegistryOptions, seed: int
) -> None:
    img = make_image(store, seed=seed, payload=50_000)
    target = f"docker://{host}/{repo}:v1"
    push_image(img, RegistryReference.parse(target, opts).new_destination())
    src = RegistryReference.parse(target, opts).new_source()
    raw, media_type = src.get_manifest()
    assert raw == img.raw_manifest()
    validate(model.load(raw, src, media_type))  # (reads every blob)
    src.close()


def _sync_twice(host: str, repo: str, opts: RegistryOptions) -> None:
    from lamina.ops.sync import COPIED, SKIPPED, SyncOptions, sync

    options = SyncOptions(src="docker", dest="docker", src_options=opts, dst_options=opts)
    assert sync(f"{host}/{repo}", f"{host}/{repo}-mirror", options).count(COPIED) == 1
    assert sync(f"{host}/{repo}", f"{host}/{repo}-mirror", options).count(SKIPPED) == 1


def test_push_pull_and_sync_through_a_forwarding_proxy(
    lamina_server: LaminaServer,
    proxy: RecordingProxy,
    store: BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = lamina_server.host
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    opts = RegistryOptions()
    _push_and_pull(store, host, "proxied/plain", opts, seed=1)
    seen = {(s.method, s.target) for s in proxy.requests()}
    # Absolute-form requests: the proxy forwarded them.
    for method, path in [
        ("HEAD", "/v2/proxied/plain/blobs/"),
        ("POST", "/v2/proxied/plain/blobs/uploads/"),
        ("PUT", "/v2/proxied/plain/manifests/v1"),
        ("GET", "/v2/proxied/plain/manifests/v1"),
        ("GET", "/v2/proxied/plain/blobs/sha256:"),
    ]:
        assert any(m == method and t.startswith(f"http://{host}{path}") for m, t in seen), (
            method,
            path,
            sorted(seen),
        )
    proxy.reset()
    _sync_twice(host, "proxied/plain", opts)
    seen = {(s.method, s.target) for s in proxy.requests()}
    assert ("GET", f"http://{host}/v2/proxied/plain/tags/list") in seen
    assert ("HEAD", f"http://{host}/v2/proxied/plain-mirror/plain/manifests/v1") in seen
    assert ("PUT", f"http://{host}/v2/proxied/plain-mirror/plain/manifests/v1") in seen

    # Every request goes through it: with the proxy gone, nothing reaches the registry.
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError):
        RegistryReference.parse(f"docker://{host}/proxied/plain:v1").new_source().get_manifest()


def test_push_pull_and_sync_through_a_connect_tunnel(
    tls_distribution: Distribution,
    tls_files: TLSFiles,
    proxy: RecordingProxy,
    store: BlobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https:// goes through CONNECT: the proxy sees the tunnel's target, the TLS inside
    is verified against the registry's CA as without a proxy."""
    host = tls_distribution.host
    certs = tmp_path / "certs.d" / host
    certs.mkdir(parents=True)
    shutil.copy(tls_files.ca, certs / "ca.crt")
    opts = RegistryOptions(cert_dir=str(certs))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    _push_and_pull(store, host, "proxied/tls", opts, seed=2)
    _sync_twice(host, "proxied/tls", opts)
    seen = proxy.requests()
    assert seen and {(s.method, s.target) for s in seen} == {("CONNECT", host)}

    # Without the CA the TLS inside the tunnel fails as it would without a proxy.
    with pytest.raises(TransportError) as err:
        RegistryReference.parse(f"docker://{host}/proxied/tls:v1").new_source().get_manifest()
    assert "TLS" in err.value.message and not err.value.retryable, err.value.message
    assert err.value.hint is not None and "certs.d" in err.value.hint

    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransportError) as err:
        RegistryReference.parse(f"docker://{host}/proxied/tls:v1", opts).new_source().get_manifest()
    assert "proxy" in err.value.message, err.value.message
    assert err.value.hint is not None and "HTTPS_PROXY" in err.value.hint


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_registry_and_proxy_credentials_each_go_where_they_belong(
    auth_distribution: Distribution, store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's credentials still answer its challenge through the proxy; the
    proxy's own (from its URL) go to the proxy as Proxy-Authorization, never as the
    registry's Authorization."""
    secured = RecordingProxy(credentials=("proxy-user", "proxy p@ss"))
    try:
        host = auth_distribution.host
        monkeypatch.setenv("HTTP_PROXY", f"http://proxy-user:proxy%20p%40ss@{secured.host}")
        opts = RegistryOptions(creds=f"{USER}:{PASSWORD}")
        _push_and_pull(store, host, "proxied/auth", opts, seed=3)
        seen = secured.requests()
        want = _basic("proxy-user", "proxy p@ss")
        assert seen and all(s.headers.get("proxy-authorization") == want for s in seen)
        registry_auth = {s.headers.get("authorization") for s in seen if "/blobs/" in s.target}
        assert registry_auth == {_basic(USER, PASSWORD)}

        # Wrong proxy credentials: the proxy refuses (407), a clear error.
        monkeypatch.setenv("HTTP_PROXY", f"http://proxy-user:wrong@{secured.host}")
        with pytest.raises(TransportError) as err:
            ref = RegistryReference.parse(f"docker://{host}/proxied/auth:v1", opts)
            ref.new_source().get_manifest()
        assert "407" in err.value.message
    finally:
        secured.close()


def test_lower_case_variables(
    lamina_server: LaminaServer,
    proxy: RecordingProxy,
    store: BlobStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = lamina_server.host
    monkeypatch.setenv("http_proxy", proxy.url)
    _push_and_pull(store, host, "proxied/lower", RegistryOptions(), seed=4)
    assert any(s.target.startswith(f"http://{host}/v2/proxied/lower/") for s in proxy.requests())
    proxy.reset()
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    _push_and_pull(store, host, "proxied/lower-bypassed", RegistryOptions(), seed=5)
    assert proxy.requests() == []


@pytest.mark.parametrize(
    ("no_proxy", "name", "repo"),
    [
        ("127.0.0.1", "127.0.0.1", "exact"),  # the exact host
        ("other.example, 127.0.0.1:{port}", "127.0.0.1", "port"),  # host and port
        ("localhost", "localhost", "name"),  # a name
        (".example,127.0.0.0/8", "127.0.0.1", "range"),  # an address range
        ("*", "localhost", "all"),  # everything
    ],
)
def test_no_proxy_sends_requests_straight_to_the_registry(
    lamina_server: LaminaServer,
    proxy: RecordingProxy,
    store: BlobStore,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
    name: str,
    repo: str,
) -> None:
    host = f"{name}:{lamina_server.port}"
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=lamina_server.port))
    _push_and_pull(store, host, f"bypass/{repo}", RegistryOptions(), seed=6)
    _sync_twice(host, f"bypass/{repo}", RegistryOptions())
    assert proxy.requests() == []


@pytest.mark.parametrize(
    "no_proxy", [".example", "10.0.0.0/8", "127.0.0.2", "127.0.0.1:1", ".0.0.1", "localhost"]
)
def test_no_proxy_entries_that_do_not_name_the_host_leave_the_proxy_in_use(
    lamina_server: LaminaServer,
    proxy: RecordingProxy,
    store: BlobStore,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    host = lamina_server.host  # 127.0.0.1:PORT
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    _push_and_pull(store, host, "bypass/proxied", RegistryOptions(), seed=7)
    assert any(s.target.startswith(f"http://{host}/v2/") for s in proxy.requests())


def test_a_proxy_variable_that_is_not_an_http_url_is_a_clear_error_not_retried(
    lamina_server: LaminaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")
    start = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        ref = RegistryReference.parse(f"docker://{lamina_server.host}/proxied/socks:v1")
        ref.new_source().get_manifest()
    assert "HTTPS_PROXY='socks5://127.0.0.1:1080'" in err.value.message
    assert time.monotonic() - start < 1.0  # (retries wait a second first)
