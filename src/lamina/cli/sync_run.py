"""What `lamina sync` does once its flags are known: the sync, a line per image and the
summary (or one JSON report), for the click command `sync_cmd`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from lamina.cli.image_copy import load_registries, options_for

if TYPE_CHECKING:
    from lamina.ops.sync import SyncItem
    from lamina.ops.trust import TrustOptions


def run_sync(
    source: str,
    destination: str,
    *,
    src: str,
    dest: str,
    trust: Callable[[], TrustOptions],
    scoped: bool = False,
    all_: bool = False,
    preserve_digests: bool = False,
    manifest_format: str | None = None,
    remove_signatures: bool = False,
    keep_going: bool = False,
    dry_run: bool = False,
    retry_times: int = 0,
    src_creds: str | None = None,
    dest_creds: str | None = None,
    authfile: str | None = None,
    src_authfile: str | None = None,
    dest_authfile: str | None = None,
    src_cert_dir: str | None = None,
    dest_cert_dir: str | None = None,
    src_tls_verify: bool | None = None,
    dest_tls_verify: bool | None = None,
    registries_conf: str | None = None,
    quiet: bool = False,
    fmt: str = "table",
) -> int:
    """Sync, print, and return the exit code (1 if any image failed)."""
    from lamina.ops.sync import FAILED, SyncOptions
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
        trust=trust(),
    )
    from lamina.cli.output import is_json

    if is_json(fmt):
        fmt = "json"
    elif fmt != "table":
        from lamina.errors import InvalidInput
        from lamina.gotemplate import Template

        try:
            Template(fmt)  # a bad template is refused before anything is copied
        except InvalidInput as e:
            raise InvalidInput(f"--report-format: {e.message}", hint=e.hint) from None
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
        from lamina.cli.output import echo_json

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
    elif fmt != "table":
        from lamina.cli.output import render_template
        from lamina.gotemplate import Record

        records = [
            Record(
                Source=i.source,
                Destination=i.destination,
                Status=i.status,
                Digest=i.digest or "",
                Error=i.error or "",
            )
            for i in report.items
        ]
        click.echo(render_template(fmt, records), nl=False)
    else:
        click.echo(f"Synced {report.summary()}")
    return 1 if report.failed else 0
