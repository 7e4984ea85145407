"""`sync`: many images between registries and directories (skopeo sync's interface)."""

from __future__ import annotations

import click

from lamina.cli.copy_cmd import (
    endpoint_flags,
    load_registries,
    options_for,
    registries_conf_option,
)
from lamina.cli.output import echo_json
from lamina.cli.trust_cmd import policy_flags, sign_flags, trust_from


@click.command(
    epilog="Example: lamina sync --src yaml --dest docker mirror.yaml 127.0.0.1:5000/mirror\n\n"
    "Example: lamina sync --src docker --dest dir 127.0.0.1:5000/app /media/usb"
)
@click.argument("source")
@click.argument("destination")
@click.option("-s", "--src", "src", type=click.Choice(["docker", "dir", "yaml"]), required=True)
@click.option("-d", "--dest", "dest", type=click.Choice(["docker", "dir", "oci"]), required=True)
@click.option("--scoped", is_flag=True, help="Prefix destinations with the full source path.")
@click.option("-a", "--all", "all_", is_flag=True, help="Copy every image of an index.")
@click.option("--preserve-digests", is_flag=True, help="Fail rather than change any digest.")
@click.option("-f", "--format", "manifest_format", type=click.Choice(["oci", "v2s2"]))
@click.option("--remove-signatures", is_flag=True, help="Do not copy signatures.")
@click.option("--keep-going", is_flag=True, help="Go on after a failed image; report it.")
@click.option("--dry-run", is_flag=True, help="Show what would be copied; write nothing.")
@click.option("--retry-times", type=int, default=0, help="Retry a failed image this many times.")
@endpoint_flags
@registries_conf_option
@policy_flags
@sign_flags
@click.option("-q", "--quiet", is_flag=True, help="Print only the summary.")
@click.option(
    "--report-format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Per-image lines and a summary, or one JSON report for scripts "
    "(--format is the manifest type, as in skopeo).",
)
def sync(
    source: str,
    destination: str,
    src: str,
    dest: str,
    scoped: bool,
    all_: bool,
    preserve_digests: bool,
    manifest_format: str | None,
    remove_signatures: bool,
    keep_going: bool,
    dry_run: bool,
    retry_times: int,
    src_creds: str | None,
    dest_creds: str | None,
    authfile: str | None,
    src_authfile: str | None,
    dest_authfile: str | None,
    src_cert_dir: str | None,
    dest_cert_dir: str | None,
    src_tls_verify: bool | None,
    dest_tls_verify: bool | None,
    registries_conf: str | None,
    quiet: bool,
    fmt: str,
) -> int:
    """Copy every image SOURCE names to DESTINATION; images already there (same digest)
    are skipped. Prints one line per image and a summary; exits 1 if any image failed."""
    from lamina.ops.sync import FAILED, SyncItem, SyncOptions
    from lamina.ops.sync import sync as sync_op

    options = SyncOptions(
        src=src,
        dest=dest,
        scoped=scoped,
        all=all_,
        preserve_digests=preserve_digests,
        keep_going=keep_going,
        dry_run=dry_run,
        retry_times=retry_times,
        manifest_format=manifest_format,
        remove_signatures=remove_signatures,
        src_options=options_for(src_creds, src_authfile or authfile, src_tls_verify, src_cert_dir),
        dst_options=options_for(
            dest_creds, dest_authfile or authfile, dest_tls_verify, dest_cert_dir
        ),
        registries=load_registries(registries_conf),
        trust=trust_from(),
    )
    text = fmt == "table" and not quiet

    def show(item: SyncItem) -> None:
        if not text:
            return
        if item.status == FAILED:
            click.echo(f"failed   {item.source} -> {item.destination}: {item.error}", err=True)
        else:
            click.echo(f"{item.status:<10} {item.source} -> {item.destination}")

    report = sync_op(source, destination, options, on_item=show)
    if fmt == "json":
        echo_json(
            {
                "copied": report.count("copied"),
                "skipped": report.count("skipped"),
                "failed": report.count("failed"),
                "wouldCopy": report.count("would-copy"),
                "images": [
                    {
                        "source": i.source,
                        "destination": i.destination,
                        "status": i.status,
                        "digest": i.digest,
                        "error": i.error,
                    }
                    for i in report.items
                ],
            }
        )
    else:
        click.echo(f"Synced {report.summary()}")
    return 1 if report.failed else 0
