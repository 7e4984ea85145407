"""Fail when a module in src/ passes the hard size limit (600 lines); warn past 400."""

from __future__ import annotations

import sys
from pathlib import Path

SOFT, HARD = 400, 600


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "src"
    failed = False
    for path in sorted(root.rglob("*.py")):
        lines = sum(1 for _ in path.open(encoding="utf-8"))
        if lines > HARD:
            print(f"{path.relative_to(root)}: {lines} lines (hard limit {HARD})")
            failed = True
        elif lines > SOFT:
            print(f"note: {path.relative_to(root)}: {lines} lines (soft limit {SOFT})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
