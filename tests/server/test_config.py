"""Config loading, defaults and startup warnings (no server needed)."""

from __future__ import annotations

from pathlib import Path

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
def test_bad_config_is_invalid_input(tmp_path: Path, overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        load_config(None, storage=tmp_path, **overrides)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "bad.yml"
    cfg_file.write_text("http: [unclosed")
    with pytest.raises(InvalidInput, match=r"bad\.yml"):
        load_config(cfg_file)


def test_warns_beyond_loopback_without_auth(tmp_path: Path) -> None:
    assert startup_warnings(load_config(None, storage=tmp_path)) == []
    warnings = startup_warnings(load_config(None, storage=tmp_path, addr="0.0.0.0:5000"))
    assert any("without authentication" in w for w in warnings)
