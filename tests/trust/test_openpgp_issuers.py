"""The issuer pre-filter: it names the keys a signed message claims, and a message whose
issuers are all outside the keyring is refused as gpg refuses it, without running gpg."""

from __future__ import annotations

import os
import zlib
from typing import Any

import pytest

from lamina.errors import TrustError
from lamina.trust import gpg
from lamina.trust.openpgp_issuers import claimed_issuers
from tests.trust.fixture_files import read

PRIMARY = "E932F44B23E8DD43"
SUBKEY = "D75B3109B3BAAEAF"
UNKNOWN = "5F9470E3BC6C3B55"


@pytest.mark.parametrize(
    ("name", "issuers"),
    [
        ("image.signature", {PRIMARY}),
        ("corrupt.signature-v3", {PRIMARY}),
        ("subkey.signature", {SUBKEY}),
        ("subkey.signature-v3", {SUBKEY}),
        ("unknown-key.signature", {UNKNOWN}),
        ("unknown-key.signature-v3", {UNKNOWN}),
        ("unsigned-literal.signature", None),  # no signature packet: gpg decides
        ("unsigned-encrypted.signature", None),  # not a signed message at all
    ],
)
def test_claimed_issuers_of_fixtures(name: str, issuers: set[str] | None) -> None:
    assert claimed_issuers(read(name)) == (None if issuers is None else frozenset(issuers))


def test_unusual_messages_are_left_to_gpg() -> None:
    assert claimed_issuers(b"") is None
    assert claimed_issuers(b"\x00not openpgp") is None
    assert claimed_issuers(b"\xa3\x01" + b"\x00" * 3) is None  # truncated compressed packet
    # A one-pass signature naming the wildcard key ID says nothing about the signer.
    one_pass = bytes([0xC4, 13, 3, 0, 8, 1]) + b"\x00" * 8 + b"\x01"
    assert claimed_issuers(one_pass) is None
    # A compressed packet that inflates past the limit.
    bomb = zlib.compress(b"\x00" * (4 << 20))
    assert (
        claimed_issuers(bytes([0xC8, 0xFF]) + len(bomb).to_bytes(4, "big") + b"\x02" + bomb) is None
    )


@pytest.mark.parametrize("algorithm", [1, 2, 3])
def test_corrupt_compressed_packet_is_left_to_gpg(algorithm: int) -> None:
    """A compressed packet whose data is not zip/zlib/bzip2 (an untrusted signature from a
    registry) is not this reader's to judge: gpg refuses it with its own message."""
    garbage = bytes([0xA3, algorithm]) + b"not compressed data at all"
    assert claimed_issuers(garbage) is None
    with gpg.Keyring([read("public-key.gpg")]) as keyring, pytest.raises(TrustError):
        keyring.verify(garbage)


def test_keyring_knows_subkey_ids_and_skips_gpg_for_unknown_issuers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with gpg.Keyring([read("public-key.gpg"), read("public-key-with-subkey.gpg")]) as keyring:
        assert {PRIMARY, SUBKEY} <= keyring.key_ids
        calls: list[Any] = []
        real = gpg._run

        def counting(args: list[str], data: bytes, what: str) -> Any:
            calls.append(args)
            return real(args, data, what)

        monkeypatch.setattr(gpg, "_run", counting)
        with pytest.raises(TrustError, match="cannot be checked"):
            keyring.verify(read("unknown-key.signature"))
        assert calls == []
        assert keyring.verify(read("subkey.signature")).primary_fingerprint.endswith("EE396F36")
        assert len(calls) == 1
        # gpg was never asked to start an agent, so none is left behind.
        assert not any(name.startswith("S.") for name in os.listdir(keyring.home))
