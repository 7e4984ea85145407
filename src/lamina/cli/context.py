"""Shared CLI plumbing: opening the store named by --root."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from lamina.store import Store


def store_from(ctx: click.Context) -> Store:
    from lamina.store import Store

    root = ctx.find_root().obj.get("root") if ctx.find_root().obj else None
    return Store.open(Path(root) if root else None)


FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format; json is stable for scripts.",
)
