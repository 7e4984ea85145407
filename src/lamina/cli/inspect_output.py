"""Printing `inspect` results: JSON, or a Go template run on each result, with nested
values shaped as the Go structs podman and skopeo template over (field names, `omitempty`,
nil maps)."""

from __future__ import annotations

import re
from typing import Any

import click

from lamina.cli.output import echo_json, is_json, render_template
from lamina.gotemplate import Record, Time

# podman's struct fields (all `omitempty`), so that `{{.Config.User}}` is "" where the
# JSON leaves it out, as in Go
_CONFIG_FIELDS: dict[str, Any] = {
    "User": "",
    "ExposedPorts": {},
    "Env": [],
    "Entrypoint": [],
    "Cmd": [],
    "Volumes": {},
    "WorkingDir": "",
    "Labels": {},
    "StopSignal": "",
}
# Go's v1.History: the template sees its field names, JSON its tags
_HISTORY_NAMES = {
    "Created": "created",
    "CreatedBy": "created_by",
    "Author": "author",
    "Comment": "comment",
    "EmptyLayer": "empty_layer",
}


def _history_entry(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    created = str(entry.get("created") or "")
    record = Record(
        Created=Time.of(created, _go_time_text(created)) if created else None,
        CreatedBy=entry.get("created_by", ""),
        Author=entry.get("author", ""),
        Comment=entry.get("comment", ""),
        EmptyLayer=bool(entry.get("empty_layer", False)),
    )
    record.json_names = _HISTORY_NAMES
    record.omitempty = frozenset(_HISTORY_NAMES)
    return record


def _go_time_text(rfc3339: str) -> str:
    """`2026-12-08T01:19:53.0782Z` → Go's `2026-12-08 01:19:53.0782 +0000 UTC`."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)Z", rfc3339)
    return f"{m.group(1)} {m.group(2)} +0000 UTC" if m else rfc3339


def _struct(value: Any, fields: dict[str, Any] | None = None) -> Any:
    if not isinstance(value, dict):
        return value
    record = Record({**(fields or {}), **value})
    record.omitempty = frozenset(fields or ())
    return record


def echo_inspected(value: Any, fmt: str) -> None:
    """Print inspect results: JSON, or a template run on each (a list) or on the one."""
    if is_json(fmt):
        echo_json(value)
        return
    items = value if isinstance(value, list) else [value]
    records = []
    for item in items:
        record = Record(item)
        for key in ("Labels", "Annotations"):  # Go's nil map[string]string prints map[]
            if key in record and record[key] is None:
                record[key] = {}
        if "Config" in item:
            record["Config"] = _struct(item["Config"], _CONFIG_FIELDS)
        for key in ("RootFS", "GraphDriver"):
            if key in item:
                record[key] = _struct(item[key])
        if isinstance(item.get("History"), list):
            record["History"] = [_history_entry(h) for h in item["History"]]
        records.append(record)
    click.echo(render_template(fmt, records), nl=False)
