"""Operations: /healthz, Prometheus /metrics, the JSON-lines access log, graceful SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.client import Client, make_image, sha256
from tests.server.servers import Server, restart, start_lamina


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ops")
    s = start_lamina(root / "storage", "--access-log", str(root / "access.log"))
    yield s
    s.stop()


def _metrics(client: Client) -> dict[str, float]:
    r = client.request("GET", "/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out: dict[str, float] = {}
    for line in r.data.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_healthz(server: Server) -> None:
    r = Client(server.url).request("GET", "/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}


def test_metrics_count_requests_bytes_uploads_and_storage(server: Server) -> None:
    client = Client(server.url)
    before = _metrics(client)
    image = make_image("metrics")
    client.push_image("ops/metrics", image, "v1")
    big = b"m" * 300_000
    digest = client.push_blob("ops/metrics", big)
    assert client.request("GET", f"/v2/ops/metrics/blobs/{digest}").status == 200
    assert client.request("GET", "/v2/ops/metrics/manifests/nope").status == 404
    after = _metrics(client)

    def delta(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta('lamina_registry_requests_total{route="manifests",method="PUT",status="201"}') == 1
    assert delta('lamina_registry_requests_total{route="manifests",method="GET",status="404"}') == 1
    assert delta('lamina_registry_requests_total{route="blobs",method="GET",status="200"}') == 1
    assert delta('lamina_registry_received_bytes_total{route="uploads"}') >= len(big)
    assert delta('lamina_registry_sent_bytes_total{route="blobs"}') >= len(big)
    assert delta("lamina_registry_upload_duration_seconds_count") == 3
    assert (
        after['lamina_registry_upload_duration_seconds_bucket{le="+Inf"}']
        == after["lamina_registry_upload_duration_seconds_count"]
    )
    assert after["lamina_registry_storage_bytes"] >= 0
    assert "ops/metrics" not in client.request("GET", "/metrics").data.decode()


def test_access_log_is_json_lines(server: Server) -> None:
    client = Client(server.url)
    digest = client.push_blob("ops/log", b"logged bytes")
    client.request("GET", f"/v2/ops/log/blobs/{digest}", headers={"User-Agent": "probe/1"})
    log = server.storage.parent / "access.log"
    deadline = time.monotonic() + 5
    entries: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        text = log.read_text()
        whole = text[: text.rfind("\n") + 1]  # a line still being written is read next time
        entries = [json.loads(line) for line in whole.splitlines()]
        if any(e["user_agent"] == "probe/1" for e in entries):
            break
        time.sleep(0.05)
    get = [e for e in entries if e["user_agent"] == "probe/1"][-1]
    assert get["method"] == "GET" and get["status"] == 200 and get["route"] == "blobs"
    assert get["path"] == f"/v2/ops/log/blobs/{digest}"
    assert get["bytes_out"] == len(b"logged bytes")
    assert isinstance(get["duration_ms"], float) and get["remote"] == "127.0.0.1"
    put = [e for e in entries if e["method"] == "PUT" and e["route"] == "uploads"][-1]
    assert put["status"] == 201 and put["bytes_in"] == len(b"logged bytes")


def test_sigterm_finishes_in_flight_upload(tmp_path: Path) -> None:
    server = start_lamina(tmp_path / "storage")
    try:
        client = Client(server.url)
        location = client.start_upload("ops/drain")
        path = "/" + location.split("/", 3)[3] if location.startswith("http") else location
        data = bytes(range(256)) * 8192  # 2 MiB
        host, port = server.host.split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                f"PUT {path}?digest={sha256(data)} HTTP/1.1\r\nHost: {server.host}\r\n"
                f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            )
            sock.sendall(data[:100_000])
            time.sleep(0.3)
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            assert server.proc.poll() is None  # still draining
            with pytest.raises(OSError):  # no longer accepting
                socket.create_connection((host, int(port)), timeout=1).close()
            sock.sendall(data[100_000:])
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
        assert server.proc.wait(15) == 0
        server = restart(server)
        r = Client(server.url).request("GET", f"/v2/ops/drain/blobs/{sha256(data)}")
        assert r.status == 200 and r.data == data
    finally:
        server.stop()
