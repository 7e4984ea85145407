"""htpasswd logins cost one bcrypt check whether or not the user exists, so the answer's
timing does not tell which users exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bcrypt
import pytest

from lamina.server.auth import HtpasswdFile


@pytest.fixture
def users(tmp_path: Path) -> HtpasswdFile:
    out = subprocess.run(
        ["htpasswd", "-Bbn", "-C", "6", "alice", "secret"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = tmp_path / "htpasswd"
    path.write_text(out)
    return HtpasswdFile(path)


def test_unknown_user_costs_a_bcrypt_check(
    users: HtpasswdFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    assert not users.check("alice", "wrong")
    assert not users.check("mallory", "wrong")
    assert not users.check("mallory2", "secret")
    assert users.check("alice", "secret")
    assert len(checked) == 4
    # The stand-in hash has the cost of the file's hashes (here 6), so it takes as long.
    assert {h[4:6] for h in checked} == {b"06"}


def test_unknown_user_in_an_empty_file_still_costs_a_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "htpasswd"
    path.write_text("")
    users = HtpasswdFile(path)
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    assert not users.check("nobody", "x")
    assert len(calls) == 1
