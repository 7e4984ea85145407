"""Malformed gpg status output gives a clear TrustError, never an IndexError."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lamina.errors import TrustError
from lamina.trust.gpg import _verdict


def _proc(stdout: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.CompletedProcess(["gpg"], 0, stdout=stdout, stderr=b"")


def test_validsig_without_fingerprint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"x")
    status = b"[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG\n[GNUPG:] PLAINTEXT\n[GNUPG:] VALIDSIG\n"
    with pytest.raises(TrustError, match="VALIDSIG"):
        _verdict(_proc(status), out, "signature")


def test_validsig_with_fingerprint(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"x")
    status = b"[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG\n[GNUPG:] PLAINTEXT\n[GNUPG:] VALIDSIG abcd\n"
    msg = _verdict(_proc(status), out, "signature")
    assert msg.primary_fingerprint == "ABCD" and msg.plaintext == b"x"
