"""Cosign key files: `cosign.pub` (PEM SubjectPublicKeyInfo) and `cosign.key`.

`cosign.key` is PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (older cosign: `ENCRYPTED COSIGN PRIVATE
KEY`) around JSON `{"kdf":{"name":"scrypt","params":{"N":..,"r":8,"p":1},"salt":B64},
"cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}`; the plaintext is the
PKCS#8 DER private key, sealed with NaCl secretbox under scrypt(passphrase, salt).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidInput, TrustError

PRIVATE_PEM_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
SCRYPT_N_ALLOWED = (32768, 65536, 131072)
SCRYPT_N_DEFAULT = 32768
SCRYPT_R, SCRYPT_P = 8, 1

if TYPE_CHECKING:  # cryptography is imported only when a key is used (CLI start-up)
    from typing import TypeAlias

    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    PublicKey: TypeAlias = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    PrivateKey: TypeAlias = (
        ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    )


def _scrypt(passphrase: bytes, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(
        passphrase, salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, dklen=32, maxmem=256 * 1024 * 1024
    )


def _pem(kind: str, der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n"


def encrypt_private_key(key: PrivateKey, passphrase: bytes, *, n: int = SCRYPT_N_DEFAULT) -> bytes:
    """`key` as an encrypted cosign private key file (PEM bytes)."""
    from cryptography.hazmat.primitives import serialization
    from nacl.secret import SecretBox

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, nonce = os.urandom(32), os.urandom(24)
    sealed = SecretBox(_scrypt(passphrase, salt, n)).encrypt(der, nonce).ciphertext
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return _pem(PRIVATE_PEM_TYPES[0], json.dumps(doc, separators=(",", ":")).encode()).encode()


def generate_keypair(passphrase: bytes) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key pair as (cosign.key, cosign.pub) file contents."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encrypt_private_key(key, passphrase), public


def _pem_body(pem: bytes, what: str) -> tuple[str, bytes]:
    text = pem.decode("ascii", "replace").strip()
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].startswith("-----BEGIN ") or not lines[0].endswith("-----"):
        raise InvalidInput(f"{what}: not a PEM file")
    kind = lines[0][len("-----BEGIN ") : -5]
    if lines[-1] != f"-----END {kind}-----":
        raise InvalidInput(f"{what}: PEM block {kind!r} is not terminated")
    try:
        return kind, base64.b64decode("".join(lines[1:-1]), validate=True)
    except ValueError:
        raise InvalidInput(f"{what}: PEM body is not base64") from None


def load_private_key(pem: bytes, passphrase: bytes, what: str = "cosign.key") -> PrivateKey:
    """Decrypt a cosign private key file; TrustError for a wrong passphrase."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    kind, body = _pem_body(pem, what)
    if kind not in PRIVATE_PEM_TYPES:
        raise InvalidInput(f"{what}: PEM type {kind!r} is not a cosign private key")
    try:
        doc: Any = json.loads(body)
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = kdf["params"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise InvalidInput(f"{what}: unsupported kdf {kdf['name']!r} / {cipher['name']!r}")
        n, r, p = params["N"], params["r"], params["p"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        sealed = base64.b64decode(doc["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{what}: malformed encrypted key JSON") from None
    if n not in SCRYPT_N_ALLOWED or (r, p) != (SCRYPT_R, SCRYPT_P):
        raise InvalidInput(f"{what}: unsupported scrypt parameters N={n} r={r} p={p}")
    try:
        der = SecretBox(_scrypt(passphrase, salt, n)).decrypt(sealed, nonce)
    except (CryptoError, ValueError):
        raise TrustError(f"{what}: wrong passphrase or corrupt key") from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise InvalidInput(f"{what}: unsupported private key type {type(key).__name__}")
    return key


def load_public_key(pem: bytes, what: str = "public key") -> PublicKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise InvalidInput(f"{what}: not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise InvalidInput(f"{what}: unsupported public key type {type(key).__name__}")
    return key


def load_public_keys(pem: bytes, what: str = "public key") -> list[PublicKey]:
    """Every PEM public key in `pem` (a file may hold several)."""
    marker = b"-----BEGIN "
    chunks = [marker + c for c in pem.split(marker)[1:]]
    if not chunks:
        raise InvalidInput(f"{what}: no PEM public key found")
    return [load_public_key(c, what) for c in chunks]
