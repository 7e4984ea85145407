"""The README's library example must run as written."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static")
def test_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("## As a library", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    block = block.replace('"/tmp/demo-store"', repr(str(tmp_path / "store")))
    block = block.replace('"oci-archive:/tmp/hello.tar"', repr(f"oci-archive:{tmp_path}/h.tar"))
    src = tmp_path / "tree"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "motd").write_text("hi\n")
    with tarfile.open(tmp_path / "rootfs.tar", "w") as tar:
        tar.add(src / "etc", arcname="etc")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    namespace: dict[str, object] = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "h.tar").stat().st_size > 0
    assert os.path.isdir(tmp_path / "store")
