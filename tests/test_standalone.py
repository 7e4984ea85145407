"""The repository stands alone: a fresh clone of it passes its tests, so no test, script or
benchmark names a path outside it (the sibling `shared/` folder of the working machine)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE = ("../" + "shared", "/work/" + "shared")  # split, so this file does not match itself


def _offenders(root: Path) -> list[str]:
    found: list[str] = []
    for folder in ("tests", "scripts", "bench"):
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path.relative_to(root)}: {o}" for o in OUTSIDE if o in text]
    return found


def test_no_test_or_script_reads_outside_the_repository() -> None:
    assert _offenders(ROOT) == []


def test_readme_points_inside_the_repository() -> None:
    assert [o for o in OUTSIDE if o in (ROOT / "README.md").read_text()] == []
    assert (ROOT / "docs" / "design.md").is_file()
