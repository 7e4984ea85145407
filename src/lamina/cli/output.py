"""Rendering helpers shared by commands: aligned tables, JSON, sizes and ages as podman
prints them (go-units' HumanSizeWithPrecision and HumanDuration)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(size: float, precision: int = 3) -> str:
    """`2.15 MB`: decimal units, three significant digits."""
    i = 0
    while size >= 1000.0 and i < len(_UNITS) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g} {_UNITS[i]}"


def human_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def ago(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return ""
    now = now or datetime.now(UTC)
    return human_duration((now - when).total_seconds()) + " ago"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, gap: int = 2) -> str:
    """Left-aligned columns separated by at least `gap` spaces (tabwriter's layout)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((" " * gap).join(cells).rstrip())
    return "\n".join(lines)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=4, sort_keys=False))


def go_time(when: datetime | None) -> str:
    """Go's time.Time String() in UTC, seconds: `2026-12-08 01:19:54 +0000 UTC`."""
    if when is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def template_format_option(default_help: str) -> Callable[[F], F]:
    """`--format`: `table`, `json`, or a Go template as podman takes it."""
    return click.option(
        "--format",
        "fmt",
        default="table",
        show_default=True,
        metavar="table|json|TEMPLATE",
        help=f"{default_help} json is stable for scripts; a Go template "
        "(`{{.Field}}`, `table {{.A}}\\t{{.B}}`) prints one line per item, as podman does.",
    )


def is_json(fmt: str) -> bool:
    """`json` or podman's `{{json .}}` / `{{ json . }}`: the whole list as JSON."""
    return fmt == "json" or re.fullmatch(r"\{\{\s*json\s+\.\s*\}\}\s*", fmt) is not None


def camel_header(name: str) -> str:
    """A field name as podman heads its column: `CreatedSince` → `CREATED SINCE`."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\d|\b)|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    return " ".join(words).upper() or name.upper()


def _table_text(fmt: str) -> str:
    """podman's NormalizeFormat: `\\t`/`\\n` escapes become tabs/newlines and, in a
    `table` format, spaces between actions become tabs; a newline ends the line."""
    parts = re.split(r"(\{\{.*?\}\})", fmt, flags=re.DOTALL)
    out = []
    for k, part in enumerate(parts):
        if k % 2 == 0:
            part = part.replace("\\t", "\t").replace("\\n", "\n")
        out.append(part)
    text = "".join(out)
    return text if text.endswith("\n") else text + "\n"


def render_template(
    fmt: str,
    items: Sequence[Any],
    *,
    headers: Mapping[str, str] | None = None,
    noheading: bool = False,
) -> str:
    """Execute a podman-style `--format` on each item (a gotemplate Record) and lay the
    result out as podman's tabwriter does (minimum width 12, padding 2). A `table` prefix
    adds a heading row: the template run on the field names' headers (`headers` overrides
    the camel-case split). Template errors are InvalidInput naming `--format`."""
    from lamina.errors import InvalidInput
    from lamina.gotemplate import Record, Template

    table_mode = re.match(r"table(\s|$)", fmt) is not None
    body = fmt[len("table") :].lstrip(" ") if table_mode else fmt
    if table_mode:
        pieces = re.split(r"(\{\{.*?\}\})", body, flags=re.DOTALL)
        body = "".join(p if k % 2 else p.replace(" ", "\t") for k, p in enumerate(pieces))
    try:
        template = Template(_table_text(body))
        lines: list[str] = []
        if table_mode and not noheading:
            # the items' fields, and those the template names (a heading with no items)
            names: list[str] = list(items[0].keys()) if items else []
            for n in [*re.findall(r"\.([A-Za-z_]\w*)", body), *(headers or {})]:
                if n not in names:
                    names.append(n)
            heads = Record({n: (headers or {}).get(n) or camel_header(n) for n in names})
            try:
                lines.append(template.execute(heads))
            except InvalidInput:
                pass  # a heading the template cannot render (a nested field): none
        lines += [template.execute(item) for item in items]
    except InvalidInput as e:
        raise InvalidInput(f"--format: {e.message}", hint=e.hint) from None
    return tabwrite("".join(lines))


def tabwrite(text: str, *, minwidth: int = 12, padding: int = 2) -> str:
    """Go's text/tabwriter with podman's settings: tab-terminated cells of consecutive lines
    form a column padded to its widest cell + `padding` (at least `minwidth`); a line's
    last cell is written as it is."""
    lines = [line.split("\t") for line in text.split("\n")]
    if lines and lines[-1] == [""]:
        lines.pop()
        trailing = "\n"
    else:
        trailing = ""
    widths: list[int] = []
    out: list[str] = []

    def write(line0: int, line1: int) -> None:
        for cells in lines[line0:line1]:
            row = ""
            for j, cell in enumerate(cells):
                row += cell.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else cell
            out.append(row)

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + trailing
