"""TLS set-up for one registry host, read where podman and docker keep it.

Certificate directories are searched as containers/image does: an explicit `cert_dir`
replaces the system ones; otherwise `/etc/containers/certs.d/HOST[:PORT]/`,
`~/.config/containers/certs.d/HOST[:PORT]/` and `/etc/docker/certs.d/HOST[:PORT]/`. In each,
`*.crt` files are extra CAs and `NAME.cert` + `NAME.key` are a client certificate pair.
"""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

from lamina.errors import ErrorCode, InvalidInput

SYSTEM_CERT_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def user_cert_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "containers" / "certs.d"


def cert_dirs_for(host: str, cert_dir: str | None = None) -> list[Path]:
    """The existing certificate directories that apply to `host` (`name[:port]`)."""
    if cert_dir is not None:
        return [Path(cert_dir)] if Path(cert_dir).is_dir() else []
    roots = [Path(SYSTEM_CERT_DIRS[0]), user_cert_dir(), Path(SYSTEM_CERT_DIRS[1])]
    return [root / host for root in roots if (root / host).is_dir()]


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.1 / ::1, with or without a port."""
    name = host
    if name.startswith("["):
        name = name[: name.find("]") + 1]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name in LOOPBACK_HOSTS or name.startswith("127.")


def ssl_context(
    host: str, *, tls_verify: bool = True, cert_dir: str | None = None
) -> ssl.SSLContext:
    """A client context: system CAs plus certs.d CAs and client pairs for `host`.

    With `tls_verify=False` the server's certificate is not checked (client certificates are
    still offered).
    """
    dirs = cert_dirs_for(host, cert_dir)
    if not dirs:
        # Loading the system CAs costs ~100 ms; a host without certs.d material shares one
        # context per mode (clients never change a context after creating it).
        return _plain_context(tls_verify)
    ctx = _new_context(tls_verify)
    for directory in dirs:
        _load_dir(ctx, directory, verify=tls_verify)
    return ctx


def _new_context(tls_verify: bool) -> ssl.SSLContext:
    if tls_verify:
        return ssl.create_default_context()
    # Nothing is verified, so the system CAs (~100 ms to load) are not needed.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def probe_context() -> ssl.SSLContext:
    """A context that checks nothing, for asking "does this host speak TLS at all?"."""
    return _plain_context(False)


@functools.cache
def _plain_context(tls_verify: bool) -> ssl.SSLContext:
    return _new_context(tls_verify)


def _load_dir(ctx: ssl.SSLContext, directory: Path, *, verify: bool) -> None:
    for entry in sorted(directory.iterdir()):
        try:
            if entry.suffix == ".crt" and verify:
                ctx.load_verify_locations(cafile=str(entry))
            elif entry.suffix == ".cert":
                key = entry.with_suffix(".key")
                if not key.exists():
                    raise InvalidInput(
                        f"client certificate {entry} has no matching key {key.name}",
                        code=ErrorCode.INVALID_INPUT,
                        hint=f"put the private key for {entry.name} beside it as {key.name}",
                    )
                ctx.load_cert_chain(certfile=str(entry), keyfile=str(key))
            elif entry.suffix == ".key" and not entry.with_suffix(".cert").exists():
                raise InvalidInput(
                    f"client key {entry} has no matching certificate {entry.stem}.cert",
                    hint=f"put the certificate for {entry.name} beside it as {entry.stem}.cert",
                )
        except (ssl.SSLError, OSError) as exc:
            raise InvalidInput(
                f"cannot load TLS material {entry}: {exc}",
                hint="check the PEM files in the registry's certs.d directory",
            ) from None
