"""Registry credentials in the files podman, skopeo and docker already use.

Lookup order (containers/image): an explicit auth file (or `$REGISTRY_AUTH_FILE`) alone;
otherwise `${XDG_RUNTIME_DIR}/containers/auth.json` (root without it:
`/run/containers/0/auth.json`), `~/.config/containers/auth.json`, `~/.docker/config.json`.
In each file `credHelpers[host]` (then `credsStore`) wins over `auths`; `auths` keys may be
namespaced (`host/ns/repo`), the most specific match wins; legacy `https://host/v1/` keys
match by host. Helpers speak docker's `docker-credential-NAME get|store|erase` protocol.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.errors import AuthError, InvalidInput

if TYPE_CHECKING:
    import subprocess

HELPER_TIMEOUT = 30.0
TOKEN_USER = "<token>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A username and password, or an identity (refresh) token; `origin` says where from."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    origin: str = ""

    @staticmethod
    def parse(text: str, origin: str = "--creds") -> Credentials:
        """`user:password` as given on a command line."""
        user, sep, password = text.partition(":")
        if not user:
            raise InvalidInput("credentials must be USERNAME[:PASSWORD]", hint="e.g. --creds u:p")
        return Credentials(username=user, password=password if sep else "", origin=origin)


def default_auth_file() -> Path:
    """Where login writes when no file is named: `$REGISTRY_AUTH_FILE` or the runtime file."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return Path(env)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "containers" / "auth.json"
    return Path(f"/run/containers/{os.getuid()}/auth.json")


def auth_file_paths(authfile: str | os.PathLike[str] | None = None) -> list[Path]:
    """The files read, in order (missing ones are skipped when reading)."""
    if authfile is not None:
        return [Path(authfile)]
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return [Path(os.environ["REGISTRY_AUTH_FILE"])]
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [
        default_auth_file(),
        Path(config) / "containers" / "auth.json",
        Path.home() / ".docker" / "config.json",
    ]


def lookup_keys(registry: str, repository: str | None) -> list[str]:
    """`host/a/b`, `host/a`, `host`: most specific first."""
    keys = [registry]
    if repository:
        parts = repository.split("/")
        keys = [f"{registry}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1)] + keys
    return keys


def _normalise_key(key: str) -> str:
    """Legacy docker keys (`https://host/v1/`) name only a host."""
    if "://" in key:
        key = key.partition("://")[2].split("/", 1)[0]
    return key


def read_file(path: Path) -> dict[str, Any]:
    """The JSON object in an auth file; {} when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidInput(f"cannot read auth file {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"auth file {path} is not valid JSON: {exc}", hint="fix or remove the file"
        ) from None
    if not isinstance(obj, dict):
        raise InvalidInput(f"auth file {path} must hold a JSON object")
    return obj


def find_credentials(
    registry: str, repository: str | None = None, authfile: str | os.PathLike[str] | None = None
) -> Credentials | None:
    """The credentials for `registry` (and `repository`) from the first file that has some."""
    return credentials_in(read_auth_files(authfile), registry, repository)


def read_auth_files(
    authfile: str | os.PathLike[str] | None = None,
) -> list[tuple[Path, dict[str, Any]]]:
    """The auth files `find_credentials` reads, in order, with their contents (a caller
    that looks up many repositories reads them once and uses `credentials_in`)."""
    return [(path, read_file(path)) for path in auth_file_paths(authfile)]


def credentials_in(
    files: list[tuple[Path, dict[str, Any]]], registry: str, repository: str | None = None
) -> Credentials | None:
    """The credentials for `registry` (and `repository`) from the first of the read auth
    `files` that has some (a credential helper is asked when a file names one)."""
    keys = lookup_keys(registry, repository)
    for path, obj in files:
        helper = _helper_for(obj, registry)
        if helper:
            found = helper_get(helper, registry)
            if found is not None:
                return found
            continue
        auths = obj.get("auths")
        if not isinstance(auths, dict):
            continue
        for key in keys:
            entry = auths.get(key)
            if entry is None and key == registry:
                entry = next((v for k, v in auths.items() if _normalise_key(k) == registry), None)
            if isinstance(entry, dict):
                creds = _decode_entry(entry, f"{path} ({key})")
                if creds is not None:
                    return creds
    return None


def _helper_for(obj: dict[str, Any], registry: str) -> str | None:
    helpers = obj.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(registry), str):
        return str(helpers[registry])
    store = obj.get("credsStore")
    return store if isinstance(store, str) and store else None


def _decode_entry(entry: dict[str, Any], origin: str) -> Credentials | None:
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    user = password = ""
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(
                f"auth file {origin}: 'auth' is not base64 of user:password"
            ) from None
        user, _, password = decoded.partition(":")
    if isinstance(token, str) and token:
        return Credentials(username=user, identity_token=token, origin=origin)
    if user or password:
        return Credentials(username=user, password=password, origin=origin)
    return None


def _helper_binary(name: str) -> str:
    import shutil  # (helpers and writing load these; looking credentials up does not)

    exe = shutil.which(f"docker-credential-{name}")
    if exe is None:
        raise AuthError(
            f"credential helper docker-credential-{name} is not on PATH",
            hint="install the helper or remove it from credHelpers/credsStore in the auth file",
        )
    return exe


def _run_helper(name: str, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
    import subprocess

    try:
        return subprocess.run(
            [_helper_binary(name), action],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AuthError(
            f"credential helper docker-credential-{name} {action} timed out after "
            f"{HELPER_TIMEOUT:.0f}s"
        ) from None


def helper_get(name: str, registry: str) -> Credentials | None:
    """Ask `docker-credential-NAME get`; None when it knows nothing for `registry`."""
    proc = _run_helper(name, "get", registry)
    if proc.returncode != 0:
        if "credentials not found" in (proc.stdout + proc.stderr).lower():
            return None
        raise AuthError(
            f"credential helper docker-credential-{name} failed for {registry}: "
            f"{(proc.stderr or proc.stdout).strip()[:300]}"
        )
    try:
        obj = json.loads(proc.stdout)
        user, secret = str(obj["Username"]), str(obj["Secret"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise AuthError(
            f"credential helper docker-credential-{name} gave malformed output for {registry}"
        ) from None
    origin = f"docker-credential-{name}"
    if user == TOKEN_USER:
        return Credentials(identity_token=secret, origin=origin)
    return Credentials(username=user, password=secret, origin=origin)


def _helper_store(name: str, registry: str, creds: Credentials) -> None:
    user, secret = creds.username, creds.password
    if creds.identity_token:
        user, secret = TOKEN_USER, creds.identity_token
    payload = json.dumps({"ServerURL": registry, "Username": user, "Secret": secret})
    proc = _run_helper(name, "store", payload)
    if proc.returncode != 0:
        raise AuthError(
            f"credential helper docker-credential-{name} could not store credentials for "
            f"{registry}: {(proc.stderr or proc.stdout).strip()[:300]}"
        )


def _helper_erase(name: str, registry: str) -> bool:
    proc = _run_helper(name, "erase", registry)
    return proc.returncode == 0


def write_file(path: Path, obj: dict[str, Any]) -> None:
    """Write atomically, mode 0600, tab-indented like containers/image."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".auth-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def store_credentials(
    key: str, creds: Credentials, authfile: str | os.PathLike[str] | None
) -> Path:
    """Record `creds` under `key` (`host` or `host/ns`) in the file login writes to."""
    path = Path(authfile) if authfile is not None else default_auth_file()
    obj = read_file(path)
    host = key.split("/", 1)[0]
    helper = _helper_for(obj, host)
    if helper and key == host:
        _helper_store(helper, host, creds)
        return path
    auths = obj.setdefault("auths", {})
    if not isinstance(auths, dict):
        raise InvalidInput(f"auth file {path}: 'auths' must be an object")
    entry: dict[str, str] = {}
    if creds.identity_token:
        entry["identitytoken"] = creds.identity_token
    if creds.username or creds.password:
        raw = f"{creds.username}:{creds.password}".encode()
        entry["auth"] = base64.b64encode(raw).decode()
    auths[key] = entry
    write_file(path, obj)
    return path


def remove_credentials(
    key: str | None, authfile: str | os.PathLike[str] | None, *, all_entries: bool = False
) -> bool:
    """Forget `key` (or, with `all_entries`, every entry); True if something was removed."""
    path = Path(authfile) if authfile is not None else default_auth_file()
    obj = read_file(path)
    auths = obj.get("auths")
    removed = False
    if all_entries:
        helpers = obj.get("credHelpers")
        if isinstance(helpers, dict):
            for host, name in helpers.items():
                removed = _helper_erase(str(name), str(host)) or removed
        removed = removed or bool(auths)
        obj["auths"] = {}
    else:
        assert key is not None
        host = key.split("/", 1)[0]
        helper = _helper_for(obj, host)
        if helper and key == host:
            removed = _helper_erase(helper, host)
        if isinstance(auths, dict):
            for k in list(auths):
                if k == key or (key == host and _normalise_key(k) == host and k != host):
                    del auths[k]
                    removed = True
    if removed or all_entries:
        write_file(path, obj)
    return removed


def credentials_hint(registry: str, authfile: str | os.PathLike[str] | None) -> str:
    """The auth files consulted, for error messages."""
    files = ", ".join(str(p) for p in auth_file_paths(authfile))
    return f"log in with `lamina login {registry}` (auth files searched: {files})"


__all__ = [
    "Credentials",
    "auth_file_paths",
    "credentials_hint",
    "default_auth_file",
    "find_credentials",
    "helper_get",
    "lookup_keys",
    "remove_credentials",
    "store_credentials",
]
