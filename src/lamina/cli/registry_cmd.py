"""`lamina registry serve|gc|du`: run and maintain the OCI registry (lamina.server). Thin:
flags → config → one library call → text.

Registered lazily by `lamina.cli.main` as the "registry" group; LaminaErrors propagate to
the CLI's common error handler.
"""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


@click.group("registry")
def registry() -> None:
    """Run an OCI distribution-spec v1.1 registry."""


@registry.command("serve")
@click.option("--config", "config_file", type=_FILE, help="YAML config (see docs/registry.md).")
@click.option("--addr", help="HOST:PORT to listen on [default: 127.0.0.1:5000].")
@click.option(
    "--storage", type=_DIR, help="Storage directory [default: $XDG_DATA_HOME/lamina/registry]."
)
@click.option("--tls-cert", type=_FILE, help="PEM certificate chain for TLS.")
@click.option("--tls-key", type=_FILE, help="PEM private key for TLS.")
@click.option("--htpasswd", type=_FILE, help="htpasswd file of bcrypt entries (htpasswd -B).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (SO_REUSEPORT).")
@click.option("--read-only", is_flag=True, default=None, help="Refuse pushes and deletes.")
@click.option(
    "--auth-token-access", type=_FILE, help="Access file (YAML): turns on token auth at /token."
)
@click.option("--auth-token-key", type=_FILE, help="EC P-256 PEM key that signs tokens.")
@click.option("--auth-token-realm", help="Token realm URL [default: this server's /token].")
@click.option("--auth-token-service", help="Service name (token audience).")
@click.option("--auth-token-issuer", help="Token issuer name.")
@click.option("--access-log", type=click.Path(path_type=Path), help="JSON-lines log; '-': stderr.")
def serve(
    *,
    config_file: Path | None,
    addr: str | None,
    storage: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    htpasswd: Path | None,
    workers: int | None,
    read_only: bool | None,
    auth_token_access: Path | None,
    auth_token_key: Path | None,
    auth_token_realm: str | None,
    auth_token_service: str | None,
    auth_token_issuer: str | None,
    access_log: Path | None,
) -> None:
    """Serve the registry until interrupted (SIGTERM finishes in-flight requests)."""
    from lamina.server import load_config, run
    from lamina.server.config import access_log_overrides

    config = load_config(
        config_file,
        addr=addr,
        storage=storage,
        tls_cert=tls_cert,
        tls_key=tls_key,
        htpasswd=htpasswd,
        workers=workers,
        read_only=read_only or None,
        token_access=auth_token_access,
        token_key=auth_token_key,
        token_realm=auth_token_realm,
        token_service=auth_token_service,
        token_issuer=auth_token_issuer,
        **access_log_overrides(access_log),
    )
    run(config)
