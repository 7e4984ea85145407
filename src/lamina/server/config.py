"""The registry's configuration: a YAML file (keys in docs/registry.md), then registry:2's
`REGISTRY_*` environment overrides (config_compat), then flag overrides."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lamina import yamlfile
from lamina.errors import InvalidInput
from lamina.server.config_compat import check_keys, overlay_environment

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
    delete_enabled: bool = True  # storage.delete.enabled (Distribution's default is false)
    upload_expiry: float = DEFAULT_UPLOAD_EXPIRY
    upload_purge_interval: float = 600.0
    access_log: bool = False
    access_log_path: Path | None = None
    metrics: bool = True
    shutdown_timeout: float = 30.0
    # a request head must arrive within this of the connection opening or going idle
    header_timeout: float = 60.0
    # a body (request or sendfile response) that moves no byte for this long is given up
    body_timeout: float = 120.0
    max_connections: int | None = None  # per worker; None: from the file descriptor limit
    # token auth (on when token_access is set)
    token_access: Path | None = None
    token_key: Path | None = None
    token_realm: str | None = None
    token_service: str = "lamina-registry"
    token_issuer: str = "lamina"
    token_expiry: float = 300.0
    token_refresh_expiry: float = 7 * 86400.0
    throttle_attempts: int = 5
    throttle_window: float = 60.0
    gc_grace: float = 3600.0

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


def _access_log(value: object, values: dict[str, Any], where: str) -> None:
    """`accesslog: true` (JSON lines on stderr) or `{path: FILE}`; Distribution's
    `{disabled: true}` is understood too."""
    if value is None:
        return
    if isinstance(value, bool):
        values["access_log"] = value
        return
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: http.accesslog must be true/false or a mapping")
    values["access_log"] = not bool(value.get("disabled", False))
    if value.get("path") not in (None, "", "-"):
        values["access_log_path"] = Path(str(value["path"]))


def access_log_overrides(flag: Path | str | None) -> dict[str, Any]:
    """Config overrides for an `--access-log FILE` flag ('-' for stderr)."""
    if flag is None:
        return {}
    if str(flag) == "-":
        return {"access_log": True}
    return {"access_log": True, "access_log_path": Path(flag)}


def _token(tok: dict[str, Any], values: dict[str, Any], where: str) -> None:
    for key, field in (("access", "token_access"), ("key", "token_key")):
        if key in tok:
            values[field] = Path(str(tok[key]))
    for key, field in (("realm", "token_realm"), ("service", "token_service")):
        if key in tok:
            values[field] = str(tok[key])
    if "issuer" in tok:
        values["token_issuer"] = str(tok["issuer"])
    for key, field in (("expiry", "token_expiry"), ("refreshexpiry", "token_refresh_expiry")):
        if key in tok:
            values[field] = parse_duration(tok[key], f"{where}: auth.token.{key}")


def _limits(http: dict[str, Any], values: dict[str, Any], where: str) -> None:
    timeouts = _section(http, "timeouts", where)
    for key, field in (("header", "header_timeout"), ("body", "body_timeout")):
        if key in timeouts:
            values[field] = parse_duration(timeouts[key], f"{where}: http.timeouts.{key}")
    if "maxconnections" in http:
        try:
            values["max_connections"] = int(http["maxconnections"])
        except (TypeError, ValueError):
            raise InvalidInput(
                f"{where}: http.maxconnections must be a number, got {http['maxconnections']!r}"
            ) from None


def _read_file(path: str | Path) -> dict[str, Any]:
    where = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{where}: cannot read config: {exc.strerror}") from None
    doc = yamlfile.load(data, where) or {}
    if not isinstance(doc, dict):
        raise InvalidInput(f"{where}: the config must be a mapping")
    return doc


def _storage(storage: dict[str, Any], values: dict[str, Any], where: str) -> None:
    """lamina's `rootdirectory`/`readonly` and Distribution's `filesystem.rootdirectory`,
    `delete.enabled`, `maintenance.readonly.enabled` and `maintenance.uploadpurging`."""
    fs = _section(storage, "filesystem", where)
    root = fs.get("rootdirectory", storage.get("rootdirectory"))
    if root is not None:
        values["storage"] = Path(str(root))
    if "readonly" in storage:
        values["read_only"] = bool(storage["readonly"])
    maintenance = _section(storage, "maintenance", where)
    readonly = _section(maintenance, "readonly", where)
    if "enabled" in readonly:
        values["read_only"] = bool(readonly["enabled"])
    delete = _section(storage, "delete", where)
    if "enabled" in delete:
        values["delete_enabled"] = bool(delete["enabled"])
    purging = _section(maintenance, "uploadpurging", where)
    for key, field in (("age", "upload_expiry"), ("interval", "upload_purge_interval")):
        if key in purging:
            values[field] = parse_duration(
                purging[key], f"{where}: storage.maintenance.uploadpurging.{key}"
            )


def _apply(doc: dict[str, Any], values: dict[str, Any], where: str) -> None:
    http, storage = _section(doc, "http", where), _section(doc, "storage", where)
    auth, uploads = _section(doc, "auth", where), _section(doc, "uploads", where)
    tls = _section(http, "tls", where)
    if "addr" in http:
        values["addr"] = str(http["addr"])
    _storage(storage, values, where)
    if "certificate" in tls:
        values["tls_cert"] = Path(str(tls["certificate"]))
    if "key" in tls:
        values["tls_key"] = Path(str(tls["key"]))
    if "workers" in http:
        values["workers"] = int(http["workers"])
    _access_log(_section(doc, "log", where).get("accesslog"), values, where)
    _access_log(http.get("accesslog"), values, where)
    if "metrics" in http:
        values["metrics"] = bool(http["metrics"])
    if "shutdowntimeout" in http:
        values["shutdown_timeout"] = parse_duration(
            http["shutdowntimeout"], f"{where}: http.shutdowntimeout"
        )
    _limits(http, values, where)
    _token(_section(auth, "token", where), values, where)
    throttle = _section(auth, "throttle", where)
    if "attempts" in throttle:
        values["throttle_attempts"] = int(throttle["attempts"])
    if "window" in throttle:
        values["throttle_window"] = parse_duration(throttle["window"], f"{where}: window")
    gc = _section(doc, "gc", where)
    if "grace" in gc:
        values["gc_grace"] = parse_duration(gc["grace"], f"{where}: gc.grace")
    htp = _section(auth, "htpasswd", where)
    if "path" in htp:
        values["htpasswd"] = Path(str(htp["path"]))
    if "realm" in htp:
        values["realm"] = str(htp["realm"])
    if "expiry" in uploads:
        values["upload_expiry"] = parse_duration(uploads["expiry"], f"{where}: uploads.expiry")
    if "purgeinterval" in uploads:
        values["upload_purge_interval"] = parse_duration(
            uploads["purgeinterval"], f"{where}: uploads.purgeinterval"
        )


def _chosen_auth(auth: dict[str, Any], values: dict[str, Any], where: str) -> None:
    """An auth section that is chosen (`REGISTRY_AUTH=htpasswd`) but cannot work is refused:
    serving without the authentication asked for is never the fallback."""
    if "htpasswd" in auth and values.get("htpasswd") is None:
        raise InvalidInput(f"{where}: auth.htpasswd needs path (the htpasswd file of bcrypt users)")
    if "token" in auth and values.get("token_access") is None:
        raise InvalidInput(
            f"{where}: auth.token needs access (lamina's access file; lamina issues the tokens, "
            "see docs/registry.md)"
        )


def load_config(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ServerConfig:
    """Read the YAML file (if any), apply the `REGISTRY_*` variables of `environ`
    (`os.environ` when None) over it as Distribution does, then the non-None `overrides`
    (flag values). Keys lamina does not support are warned about (see config_compat)."""
    doc = _read_file(path) if path is not None else {}
    doc, origin = overlay_environment(doc, os.environ if environ is None else environ)
    where = str(path) if path is not None else "the REGISTRY_* environment"
    check_keys(doc, where, origin)
    values: dict[str, Any] = {}
    _apply(doc, values, where)
    values.update({k: v for k, v in overrides.items() if v is not None})
    _chosen_auth(_section(doc, "auth", where), values, where)
    cfg = ServerConfig(storage=Path(values.pop("storage", None) or default_storage()))
    cfg = replace(cfg, **values)
    return validate(cfg)


def validate(cfg: ServerConfig) -> ServerConfig:
    split_addr(cfg.addr)
    if (cfg.tls_cert is None) != (cfg.tls_key is None):
        raise InvalidInput("TLS needs both a certificate and a key (--tls-cert and --tls-key)")
    if cfg.workers < 1:
        raise InvalidInput(f"workers: must be at least 1, got {cfg.workers}")
    if cfg.token_expiry <= 0 or cfg.token_refresh_expiry <= 0:
        raise InvalidInput("auth.token: expiry and refreshexpiry must be positive")
    if cfg.throttle_attempts < 1 or cfg.throttle_window <= 0:
        raise InvalidInput("auth.throttle: attempts must be >= 1 and window positive")
    if cfg.header_timeout <= 0 or cfg.body_timeout <= 0:
        raise InvalidInput("http.timeouts: header and body must be positive")
    if cfg.max_connections is not None and cfg.max_connections < 1:
        raise InvalidInput(f"http.maxconnections: must be at least 1, got {cfg.max_connections}")
    if cfg.upload_expiry <= 0:
        raise InvalidInput("uploads.expiry: must be positive")
    for label, p in (
        ("TLS cert", cfg.tls_cert),
        ("TLS key", cfg.tls_key),
        ("htpasswd", cfg.htpasswd),
        ("token access", cfg.token_access),
        ("token key", cfg.token_key),
    ):
        if p is not None and not p.is_file():
            raise InvalidInput(f"{label} file {p} does not exist")
    return cfg
