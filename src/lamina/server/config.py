"""The registry's configuration: a YAML file (keys in docs/registry.md) plus flag overrides."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from lamina.errors import InvalidInput

DEFAULT_ADDR = "127.0.0.1:5000"
DEFAULT_UPLOAD_EXPIRY = 24 * 3600.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything `serve` needs. `storage` holds blobs/, uploads/ and metadata.db."""

    addr: str = DEFAULT_ADDR
    storage: Path
    tls_cert: Path | None = None
    tls_key: Path | None = None
    htpasswd: Path | None = None
    realm: str = "lamina"
    workers: int = 1
    read_only: bool = False
    upload_expiry: float = DEFAULT_UPLOAD_EXPIRY
    upload_purge_interval: float = 600.0
    access_log: bool = False

    @property
    def host(self) -> str:
        return split_addr(self.addr)[0]

    @property
    def port(self) -> int:
        return split_addr(self.addr)[1]

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def default_storage() -> Path:
    """`$LAMINA_ROOT/registry`, else `$XDG_DATA_HOME/lamina/registry`, root:
    `/var/lib/lamina/registry`."""
    root = os.environ.get("LAMINA_ROOT")
    if root:
        return Path(root) / "registry"
    if os.geteuid() == 0:
        return Path("/var/lib/lamina/registry")
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "lamina" / "registry"


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"address {addr!r}: expected HOST:PORT, e.g. 127.0.0.1:5000")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_duration(value: object, where: str) -> float:
    """Seconds from `90`, `90s`, `15m`, `24h`, `7d`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.match(str(value).strip())
    if not m:
        raise InvalidInput(f"{where}: invalid duration {value!r}; use e.g. 30s, 15m, 24h")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _section(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: '{key}' must be a mapping")
    return value


def load_config(path: str | Path | None = None, **overrides: Any) -> ServerConfig:
    """Read the YAML file (if any), then apply non-None `overrides` (flag values)."""
    values: dict[str, Any] = {}
    if path is not None:
        where = str(path)
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise InvalidInput(f"{where}: cannot read config: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{where}: invalid YAML: {exc}") from None
        if not isinstance(doc, dict):
            raise InvalidInput(f"{where}: the config must be a mapping")
        http, storage = _section(doc, "http", where), _section(doc, "storage", where)
        auth, uploads = _section(doc, "auth", where), _section(doc, "uploads", where)
        tls = _section(http, "tls", where)
        if "addr" in http:
            values["addr"] = str(http["addr"])
        if "rootdirectory" in storage:
            values["storage"] = Path(storage["rootdirectory"])
        if "readonly" in storage:
            values["read_only"] = bool(storage["readonly"])
        if "certificate" in tls:
            values["tls_cert"] = Path(tls["certificate"])
        if "key" in tls:
            values["tls_key"] = Path(tls["key"])
        if "workers" in http:
            values["workers"] = int(http["workers"])
        if "accesslog" in http:
            values["access_log"] = bool(http["accesslog"])
        htp = _section(auth, "htpasswd", where)
        if "path" in htp:
            values["htpasswd"] = Path(htp["path"])
        if "realm" in htp:
            values["realm"] = str(htp["realm"])
        if "expiry" in uploads:
            values["upload_expiry"] = parse_duration(uploads["expiry"], f"{where}: uploads.expiry")
        if "purgeinterval" in uploads:
            values["upload_purge_interval"] = parse_duration(
                uploads["purgeinterval"], f"{where}: uploads.purgeinterval"
            )
    values.update({k: v for k, v in overrides.items() if v is not None})
    cfg = ServerConfig(storage=Path(values.pop("storage", None) or default_storage()))
    cfg = replace(cfg, **values)
    return validate(cfg)


def validate(cfg: ServerConfig) -> ServerConfig:
    split_addr(cfg.addr)
    if (cfg.tls_cert is None) != (cfg.tls_key is None):
        raise InvalidInput("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    if cfg.workers < 1:
        raise InvalidInput(f"workers: must be at least 1, got {cfg.workers}")
    if cfg.upload_expiry <= 0:
        raise InvalidInput("uploads.expiry: must be positive")
    for label, p in (
        ("TLS cert", cfg.tls_cert),
        ("TLS key", cfg.tls_key),
        ("htpasswd", cfg.htpasswd),
    ):
        if p is not None and not p.is_file():
            raise InvalidInput(f"{label} file {p} does not exist")
    return cfg
