"""Config loading, defaults and startup warnings (no server needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lamina.errors import InvalidInput
from lamina.server.config import default_storage, load_config, parse_duration
from lamina.server.serve import startup_warnings


def test_yaml_keys_and_flag_overrides(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text(
        "http:\n  addr: 127.0.0.1:6000\n  workers: 3\n"
        f"storage:\n  rootdirectory: {tmp_path / 'data'}\n  readonly: true\n"
        f"auth:\n  htpasswd:\n    path: {htpasswd}\n    realm: r1\n"
        "uploads:\n  expiry: 2h\n"
    )
    cfg = load_config(cfg_file, addr="127.0.0.1:7000", workers=None)
    assert cfg.addr == "127.0.0.1:7000" and cfg.port == 7000
    assert cfg.workers == 3 and cfg.read_only
    assert cfg.storage == tmp_path / "data"
    assert cfg.htpasswd == htpasswd and cfg.realm == "r1"
    assert cfg.upload_expiry == 7200.0


def test_default_storage_honours_lamina_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMINA_ROOT", "/srv/lamina")
    assert default_storage() == Path("/srv/lamina/registry")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("15m", 900.0), ("1.5h", 5400.0), ("7d", 604800.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    "overrides",
    [{"addr": "nonsense"}, {"workers": 0}, {"tls_cert": Path("/nonexistent/cert.pem")}],
)
def test_bad_config_is_invalid_input(tmp_path: Path, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        load_config(None, environ={}, storage=tmp_path, **overrides)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "bad.yml"
    cfg_file.write_text("http: [unclosed")
    with pytest.raises(InvalidInput, match=r"bad\.yml"):
        load_config(cfg_file)


def test_warns_beyond_loopback_without_auth(tmp_path: Path) -> None:
    assert startup_warnings(load_config(None, storage=tmp_path)) == []
    warnings = startup_warnings(load_config(None, storage=tmp_path, addr="0.0.0.0:5000"))
    assert any("without authentication" in w for w in warnings)


def test_timeouts_and_connection_limit(tmp_path: Path) -> None:
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text(
        "http:\n  timeouts:\n    header: 15s\n    body: 2m\n  maxconnections: 500\n"
    )
    cfg = load_config(cfg_file, storage=tmp_path)
    assert (cfg.header_timeout, cfg.body_timeout, cfg.max_connections) == (15.0, 120.0, 500)
    cfg = load_config(cfg_file, storage=tmp_path, header_timeout=1.0, max_connections=7)
    assert (cfg.header_timeout, cfg.max_connections) == (1.0, 7)
    default = load_config(None, storage=tmp_path)
    assert (default.header_timeout, default.body_timeout) == (60.0, 120.0)
    assert default.max_connections is None


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("http:\n  timeouts:\n    header: soon\n", r"http\.timeouts\.header"),
        ("http:\n  timeouts:\n    body: 0\n", r"http\.timeouts"),
        ("http:\n  maxconnections: lots\n", r"http\.maxconnections"),
        ("http:\n  maxconnections: 0\n", r"http\.maxconnections"),
        ("http:\n  timeouts: 5s\n", r"'timeouts' must be a mapping"),
    ],
)
def test_bad_timeouts_and_limits_name_the_key(tmp_path: Path, yaml_text: str, message: str) -> None:
    cfg_file = tmp_path / "config.yml"
    cfg_file.write_text(yaml_text)
    with pytest.raises(InvalidInput, match=message):
        load_config(cfg_file, storage=tmp_path)


def test_default_connection_limit_stays_below_the_descriptor_limit() -> None:
    from lamina.server.connections import (
        FDS_PER_CONNECTION,
        FDS_RESERVED,
        accept_burst,
        default_limit,
        max_lingering,
    )

    for files in (1024, 4096, 65536, 1 << 20):
        used = default_limit(files) * FDS_PER_CONNECTION + FDS_RESERVED
        assert used + 3 * accept_burst(files) + max_lingering(files) <= files
    assert default_limit(1024) >= 200


def test_registry_serve_cli_takes_the_timeout_and_limit_flags(tmp_path: Path) -> None:
    """`lamina registry serve --header-timeout 1s --max-connections 2`: a silent client is
    closed after about a second, and the third open connection is answered 503."""
    import socket
    import subprocess
    import sys
    import time

    from tests.server.servers import Server, free_port, wait_ready

    port = free_port()
    log = tmp_path / "server.log"
    args = [sys.executable, "-m", "lamina", "registry", "serve", "--storage",
            str(tmp_path / "storage"), "--addr", f"127.0.0.1:{port}",
            "--header-timeout", "1s", "--body-timeout", "30", "--max-connections", "2"]  # fmt: skip
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    server = Server(kind="lamina", host=f"127.0.0.1:{port}", proc=proc, storage=tmp_path, log=log)
    wait_ready(server)
    try:
        silent = socket.create_connection(("127.0.0.1", port), timeout=10)
        started = time.monotonic()
        while silent.recv(65536):  # closed (a timeout here: the flag was not applied)
            pass
        waited = time.monotonic() - started
        silent.close()
        assert waited < 5.0, waited
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        time.sleep(0.3)
        over = socket.create_connection(("127.0.0.1", port), timeout=10)
        over.sendall(f"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = b""
        while chunk := over.recv(65536):
            answer += chunk
        over.close()
        for sock in held:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer[:200]
    finally:
        server.stop()


def test_unknown_event_loop_is_a_clear_error(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "LAMINA_SERVER_LOOP": "trio"}
    proc = subprocess.run(
        [sys.executable, "-m", "lamina.server", "serve", "--storage", str(tmp_path / "s"),
         "--addr", "127.0.0.1:0"],
        check=False, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "LAMINA_SERVER_LOOP" in proc.stderr and "uvloop" in proc.stderr, proc.stderr


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_tls_listener_keeps_accepting_new_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loop: str
) -> None:
    """Thirty TLS connections one after another, each answered (the listener survives
    the connections before it, on either event loop)."""
    import ssl

    import urllib3

    from tests.server.servers import start_lamina
    from tests.transports.registry.servers import make_tls

    monkeypatch.setenv("LAMINA_SERVER_LOOP", loop)
    tls = make_tls(tmp_path / "tls")
    server = start_lamina(
        tmp_path / "storage", "--tls-cert", str(tls.cert), "--tls-key", str(tls.key), ca=tls.ca
    )
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca))
        for _ in range(30):
            pool = urllib3.PoolManager(retries=False, timeout=5.0, ssl_context=ctx)
            assert pool.request("GET", f"{server.url}/v2/").status == 200
            pool.clear()
    finally:
        server.stop()
