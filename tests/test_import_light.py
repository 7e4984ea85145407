"""DESIGN.md: `import lamina` loads no web framework, no CLI toolkit and no crypto; the
library layers a Python user imports stay free of them too."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("click", "rich", "aiohttp", "cryptography", "nacl", "jwt", "bcrypt", "urllib3")


@pytest.mark.parametrize(
    "module",
    ["lamina", "lamina.oci", "lamina.content", "lamina.image", "lamina.store", "lamina.copy"],
)
def test_import_loads_nothing_heavy(module: str) -> None:
    code = f"import sys, {module}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"importing {module} loaded: {out}"
