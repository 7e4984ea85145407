"""`lamina registry serve|gc|du|fsck`: run and maintain the OCI registry (lamina.server). Thin:
flags → config → one library call → text.

Registered lazily by `lamina.cli.main` as the "registry" group; LaminaErrors propagate to
the CLI's common error handler.
"""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """Seconds from seconds or a duration such as 30s, 15m, 1h, 2d (as in the config file)."""
    from lamina.errors import InvalidInput
    from lamina.server.config import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value, f"--{param.name or 'duration'}".replace("_", "-"))
    except InvalidInput:
        raise click.BadParameter(
            f"{value!r} is not a duration: use seconds or 30s, 15m, 1h, 2d"
        ) from None


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
@click.option(
    "--header-timeout",
    metavar="DURATION",
    callback=_duration,
    help="A request head must arrive within this of connecting or going idle "
    "[http.timeouts.header, 60s].",
)
@click.option(
    "--body-timeout",
    metavar="DURATION",
    callback=_duration,
    help="A request or response body that moves no byte for this long is given up "
    "[http.timeouts.body, 120s].",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    help="Open connections per worker; beyond it, 503 with Retry-After "
    "[http.maxconnections, from the file descriptor limit].",
)
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
    header_timeout: float | None,
    body_timeout: float | None,
    max_connections: int | None,
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
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_connections=max_connections,
        **access_log_overrides(access_log),
    )
    run(config)


def _storage(config_file: Path | None, storage: Path | None) -> tuple[Path, float]:
    from lamina.server import load_config

    config = load_config(config_file, storage=storage)
    return config.storage, config.gc_grace


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


@registry.command("gc")
@click.option("--config", "config_file", type=_FILE, help="YAML config (storage, gc.grace).")
@click.option("--storage", type=_DIR, help="Storage directory.")
@click.option("--dry-run", is_flag=True, help="Report what would be freed; delete nothing.")
@click.option("--delete-untagged", is_flag=True, help="Also delete manifests no tag reaches.")
@click.option(
    "--grace",
    metavar="DURATION",
    callback=_duration,
    help="How long new, unreferenced blobs and idle upload files are kept: 30s, 15m, 1h, 2d "
    "or seconds [gc.grace, 1h].",
)
@click.option("--verbose", "-v", is_flag=True, help="List what is deleted.")
def gc(
    *,
    config_file: Path | None,
    storage: Path | None,
    dry_run: bool,
    delete_untagged: bool,
    grace: float | None,
    verbose: bool,
) -> None:
    """Delete unreferenced blobs, and upload files nobody wrote for the grace window (safe
    while the registry serves and pushes continue)."""
    from lamina.server.gc import collect

    root, default_grace = _storage(config_file, storage)
    report = collect(
        root,
        dry_run=dry_run,
        delete_untagged=delete_untagged,
        grace=default_grace if grace is None else grace,
    )
    if verbose:
        for line in report.deleted:
            click.echo(line)
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {report.blobs_deleted} blobs ({_size(report.bytes_freed)}), "
        f"{report.manifests_deleted} manifests, {report.links_deleted} links; "
        f"{report.blobs_kept} blobs kept; {'would remove' if dry_run else 'removed'} "
        f"{report.stale_files} stale upload files "
        f"({_size(report.stale_bytes)})"
    )


@registry.command("du")
@click.option("--config", "config_file", type=_FILE, help="YAML config (storage).")
@click.option("--storage", type=_DIR, help="Storage directory.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def du(*, config_file: Path | None, storage: Path | None, as_json: bool) -> None:
    """Storage used per repository (a blob shared by repositories counts in each), and by
    uploads in progress or left behind."""
    import json

    from lamina.server.gc import leftover_usage, usage

    root, grace = _storage(config_file, storage)
    rows, files, total = usage(root)
    temp = leftover_usage(root, grace)
    if as_json:
        out = {
            "repositories": [
                {"name": r.repository, "blobs": r.blobs, "bytes": r.bytes} for r in rows
            ],
            "total": {"blobs": files, "bytes": total},
            "temporary": {
                "files": temp.files,
                "bytes": temp.bytes,
                "stale_files": temp.stale_files,
                "stale_bytes": temp.stale_bytes,
            },
        }
        click.echo(json.dumps(out, indent=2))
        return
    for r in rows:
        click.echo(f"{_size(r.bytes):>12}  {r.blobs:>6} blobs  {r.repository}")
    click.echo(f"{_size(total):>12}  {files:>6} blobs  total on disk (distinct)")
    click.echo(
        f"{_size(temp.bytes):>12}  {temp.files:>6} files  uploads and ingest "
        f"({temp.stale_files} stale, {_size(temp.stale_bytes)}: gc removes them)"
    )


@registry.command("fsck")
@click.option("--config", "config_file", type=_FILE, help="YAML config (storage).")
@click.option("--storage", type=_DIR, help="Storage directory.")
@click.option("--dry-run", is_flag=True, help="Report corrupt blobs; move nothing.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--jobs", type=click.IntRange(min=1), default=2, show_default=True,
              help="Blobs hashed at once.")  # fmt: skip
def fsck(
    *, config_file: Path | None, storage: Path | None, dry_run: bool, fmt: str, jobs: int
) -> None:
    """Re-hash every stored blob; move a corrupt one into quarantine/ so that clients
    upload it again (safe while the registry serves). Exit code 4 if any is corrupt."""
    import json

    from lamina.errors import IntegrityError
    from lamina.server.fsck import check

    root, _ = _storage(config_file, storage)
    report = check(root, dry_run=dry_run, jobs=jobs)
    if fmt == "json":
        out = {
            "dry_run": report.dry_run,
            "checked": report.checked,
            "bytes": report.bytes,
            "corrupt": [
                {
                    "digest": str(c.digest),
                    "size": c.size,
                    "actual": None if c.actual is None else str(c.actual),
                    "quarantined": None if c.quarantined is None else str(c.quarantined),
                }
                for c in report.corrupt
            ],
            "missing": [{"repository": r, "digest": str(d)} for r, d in report.missing],
        }
        click.echo(json.dumps(out, indent=2))
    else:
        for c in report.corrupt:
            where = "left in place (dry run)" if c.quarantined is None else f"-> {c.quarantined}"
            click.echo(f"corrupt  {c.digest}  {_size(c.size)}  {where}")
        for repo, d in report.missing:
            click.echo(f"missing  {d}  linked by {repo}")
        click.echo(
            f"{report.checked} blobs checked ({_size(report.bytes)}), "
            f"{len(report.corrupt)} corrupt, {len(report.missing)} links without a blob file"
        )
    if report.corrupt:
        n = len(report.corrupt)
        raise IntegrityError(
            f"{root}: {n} stored blob{'s' if n > 1 else ''} corrupt "
            + (
                "(dry run: nothing moved)"
                if dry_run
                else f"and moved to {root / 'quarantine'}; clients upload them again"
            ),
            hint=None if not dry_run else "run without --dry-run to quarantine them",
        )
