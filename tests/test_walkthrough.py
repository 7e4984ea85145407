"""The README's first set-up command must keep working: run the walk-through end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo not installed")
def test_walkthrough_runs(tmp_path: Path) -> None:
    env = dict(os.environ, LAMINA_WALKTHROUGH_DIR=str(tmp_path))
    env.pop("LAMINA_ROOT", None)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "walkthrough")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Loaded image: localhost/hello:1.0" in out
    assert "srv/index.html" in out
    step9 = out[out.index("== 9. ") : out.index("== 10. ")]
    assert "<none>" not in step9  # the build cache is not listed without -a
    assert "\nlocalhost/hello:1.0\nlocalhost/hello:ms\n" in step9
    assert '{"repositories":["demo/hello"]}' in out
    assert '"tags":["1.0"]' in out
    for n in range(1, 11):
        assert f"== {n}. " in out, f"step {n} missing"
    assert "must be refused" in out and "ERROR: the policy accepted it" not in out
    assert (tmp_path / "store").is_dir()
