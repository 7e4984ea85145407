"""Making signatures of a manifest as written: simple signing (GnuPG) or cosign.

A `Signer` returns the signature blob in the form sources and destinations carry
(containers/image's on-disk forms): an OpenPGP message for simple signing, the internal
`\\x00sigstore-json` form for cosign. `identity` is the Docker reference the image is
signed as.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lamina.errors import InvalidInput
from lamina.trust.cosign import sign_cosign
from lamina.trust.cosign_keys import load_private_key
from lamina.trust.simple import sign_simple

if TYPE_CHECKING:
    from lamina.trust.cosign_keys import PrivateKey


class Signer(Protocol):
    def describe(self) -> str: ...

    def sign(self, manifest_raw: bytes, identity: str) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class SimpleSigner:
    """`key` is a GnuPG key id or fingerprint in `homedir` (default: $GNUPGHOME/~/.gnupg)."""

    key: str
    homedir: str | None = None
    passphrase_file: str | None = None

    def describe(self) -> str:
        return f"GPG key {self.key}"

    def sign(self, manifest_raw: bytes, identity: str) -> bytes:
        return sign_simple(
            manifest_raw,
            identity,
            self.key,
            homedir=self.homedir,
            passphrase_file=self.passphrase_file,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SigstoreSigner:
    key: PrivateKey
    source: str = "cosign private key"

    def describe(self) -> str:
        return f"sigstore key {self.source}"

    def sign(self, manifest_raw: bytes, identity: str) -> bytes:
        return sign_cosign(manifest_raw, identity, self.key).to_internal()

    @staticmethod
    def from_file(path: str, passphrase: bytes) -> SigstoreSigner:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cosign private key {path}: {exc.strerror}") from None
        return SigstoreSigner(key=load_private_key(pem, passphrase, path), source=path)
