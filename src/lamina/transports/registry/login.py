"""`login` / `logout`: check credentials against a registry, then record them where podman
and skopeo look (or remove them)."""

from __future__ import annotations

import os
from pathlib import Path

from lamina.errors import AuthError, ErrorCode
from lamina.transports.registry.answers import release
from lamina.transports.registry.authfile import (
    Credentials,
    default_auth_file,
    remove_credentials,
    store_credentials,
)
from lamina.transports.registry.client import RegistryClient
from lamina.transports.registry.options import RegistryOptions


def verify_credentials(registry: str, creds: Credentials, options: RegistryOptions) -> None:
    """Raise AuthError unless `registry` accepts `creds` on `/v2/` (Basic or token flow)."""
    host = registry.split("/", 1)[0]
    client = RegistryClient(host, options)
    client.auth.credentials = creds
    try:
        status = client.ping()
        if status == 200:
            return  # the registry needs no authentication; the credentials are kept anyway
        challenge = client.auth.challenge
        if challenge is None:
            raise AuthError(
                f"logging in to {registry}: the registry demands authentication but sent no "
                "challenge it understands",
                code=ErrorCode.UNSUPPORTED,
            )
        resp = client.request("GET", "/v2/", scopes=[], what=f"logging in to {registry}")
        release(resp)
    finally:
        client.close()


def login(
    registry: str,
    username: str,
    password: str,
    authfile: str | os.PathLike[str] | None = None,
    *,
    options: RegistryOptions | None = None,
) -> Path:
    """Verify `username`/`password` against `registry` (`host[:port]` or `host/namespace`),
    then store them. Returns the auth file written (or holding the credential helper)."""
    creds = Credentials(username=username, password=password, origin="login")
    opts = options or RegistryOptions()
    verify_credentials(registry, creds, opts)
    return store_credentials(registry, creds, authfile)


def logout(
    registry: str | None, authfile: str | os.PathLike[str] | None = None, *, all: bool = False
) -> bool:
    """Forget the credentials for `registry` (or, with `all`, every entry). Returns whether
    anything was removed."""
    if registry is None and not all:
        raise AuthError("logout needs a registry or all=True", code=ErrorCode.INVALID_INPUT)
    return remove_credentials(registry, authfile, all_entries=all)


__all__ = ["default_auth_file", "login", "logout", "verify_credentials"]
