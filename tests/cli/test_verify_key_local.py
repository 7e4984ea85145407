"""`lamina verify --key cosign.pub` of an image with no registry identity (`dir:`) checks
what `cosign verify --key` checks: the signature against the key and the signed manifest
digest against the manifest; it reports the identity the signature claims instead of
refusing it. `--help` states the exit code a refusal really has (4). The signatures are
cosign's own (containers/image's fixtures)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Run
from tests.trust.fixture_files import FIXTURES, materialize

KEY = str(FIXTURES / "cosign.pub")
OTHER_KEY = str(FIXTURES / "cosign2.pub")
CLAIMED = "192.168.64.2:5000/cosign-signed-single-sample"


def test_verify_key_checks_key_and_digest_and_reports_the_claimed_identity(
    lamina: Run, tmp_path: Path
) -> None:
    image = materialize("dir-img-cosign-valid", tmp_path / "img")
    r = lamina("verify", "--key", KEY, f"dir:{image}")
    assert r.code == 0, r.out + r.err
    assert "signature 1 (sigstore): verified" in r.out
    assert CLAIMED in r.out
    shown = lamina("verify", "--json", "--key", KEY, f"dir:{image}").json()
    assert shown["accepted"] is True
    assert shown["signatures"][0]["identity"] == CLAIMED
    # the key and the manifest digest are still checked
    r = lamina("verify", "--key", OTHER_KEY, f"dir:{image}")
    assert r.code == 4
    assert "cryptographic signature verification failed" in r.out
    modified = materialize("dir-img-cosign-modified-manifest", tmp_path / "modified")
    r = lamina("verify", "--key", KEY, f"dir:{modified}")
    assert r.code == 4
    assert "does not match the manifest" in r.out
    (image / "signature-1").unlink()
    r = lamina("verify", "--key", KEY, f"dir:{image}")
    assert r.code == 4
    assert "no signatures" in r.out


def test_help_states_the_exit_code(lamina: Run) -> None:
    r = lamina("verify", "--help")
    assert r.code == 0
    assert "4 if it is not" in " ".join(r.out.split())
