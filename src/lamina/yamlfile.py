"""Reading a YAML file's document: PyYAML, imported when a YAML file is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.errors import InvalidInput


def load(data: bytes | str, where: str | Path) -> Any:
    """The document in `data` as PyYAML's safe loader reads it (the C loader, CSafeLoader,
    when PyYAML was built with libyaml). `where` names the file in errors: InvalidInput
    with the line and column of a syntax error."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(data, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed"
        if exc.context and exc.context_mark and exc.problem:
            what += f" ({exc.context} from line {exc.context_mark.line + 1})"
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"{where}: invalid YAML{at}: {what}", hint="fix the file") from None
    except yaml.YAMLError as exc:  # a ReaderError (a byte or character YAML does not allow)
        raise InvalidInput(
            f"{where}: invalid YAML: {str(exc).splitlines()[0]}", hint="fix the file"
        ) from None
