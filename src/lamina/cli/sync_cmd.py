"""`sync`: many images between registries and directories (skopeo sync's interface)."""

from __future__ import annotations

from typing import Any

import click

from lamina.cli.copy_cmd import endpoint_flags, registries_conf_option
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
    default="table",
    show_default=True,
    metavar="table|json|TEMPLATE",
    help="Per-image lines and a summary, one JSON report for scripts, or a Go template run "
    "on each image ({{.Source}} {{.Destination}} {{.Status}} {{.Digest}} {{.Error}}), e.g. "
    "with --dry-run (--format is the manifest type, as in skopeo).",
)
def sync(source: str, destination: str, **flags: Any) -> int:
    """Copy every image SOURCE names to DESTINATION; images already there (same digest)
    are skipped. Prints one line per image and a summary; exits 1 if any image failed."""
    from lamina.cli.sync_run import run_sync

    # The options above are run_sync's keyword parameters, by the same names.
    return run_sync(source, destination, trust=trust_from, **flags)
