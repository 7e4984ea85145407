"""`lamina registry serve`: run the OCI registry (lamina.server). Thin: flags → config → run.

Registered lazily by `lamina.cli.main` as the "registry" group; LaminaErrors propagate to
the CLI's common error handler.
"""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("registry")
def registry() -> None:
    """Run an OCI distribution-spec v1.1 registry."""


@registry.command("serve")
@click.option("--config", "config_file", type=_FILE, help="YAML config (see docs/registry.md).")
@click.option("--addr", help="HOST:PORT to listen on [default: 127.0.0.1:5000].")
@click.option(
    "--storage",
    type=click.Path(file_okay=False, path_type=Path),
    help="Storage directory [default: $XDG_DATA_HOME/lamina/registry].",
)
@click.option("--tls-cert", type=_FILE, help="PEM certificate chain for TLS.")
@click.option("--tls-key", type=_FILE, help="PEM private key for TLS.")
@click.option("--htpasswd", type=_FILE, help="htpasswd file of bcrypt entries (htpasswd -B).")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (SO_REUSEPORT).")
@click.option("--read-only", is_flag=True, default=None, help="Refuse pushes and deletes.")
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
) -> None:
    """Serve the registry until interrupted."""
    from lamina.server import load_config, run

    config = load_config(
        config_file,
        addr=addr,
        storage=storage,
        tls_cert=tls_cert,
        tls_key=tls_key,
        htpasswd=htpasswd,
        workers=workers,
        read_only=read_only or None,
    )
    run(config)
