from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lamina.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Run = Callable[..., Result]


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def lamina(
    store_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Run:
    """Run the CLI in-process against a fresh store; returns exit code and output."""
    monkeypatch.setenv("LAMINA_ROOT", str(store_root))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")

    def run(*argv: str) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        captured = capsys.readouterr()
        code = exc.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run
