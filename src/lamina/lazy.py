"""Package attributes that load their submodule on first use (PEP 562), so that importing
a package, or one of its submodules, does not import every other submodule with it
(start-up time of the CLI)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: name → `package.<where[name]>.<name>`,
    imported on first access and then kept in the package's namespace."""

    def load(name: str) -> Any:
        sub = where.get(name)
        if sub is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{sub}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return load
