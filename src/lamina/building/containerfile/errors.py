"""Building ContainerfileErrors that point at a line and column, with a hint when we can."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import NoReturn

from lamina.errors import ContainerfileError, SourceSpan


def suggest(word: str, choices: Iterable[str], *, upper: bool = True) -> str | None:
    """The closest of `choices` to `word` (case-insensitive), or None when none is close."""
    pool = sorted(choices)
    key = word.upper() if upper else word.lower()
    matches = difflib.get_close_matches(key, pool, n=1, cutoff=0.6)
    return matches[0] if matches else None


def fail(span: SourceSpan, message: str, *, hint: str | None = None) -> NoReturn:
    raise ContainerfileError(message, span, hint=hint)
