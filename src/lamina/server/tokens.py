"""Signed bearer tokens (JWT, ES256) in the Docker token-auth format.

An access token carries `iss`, `sub` (the user, "" when anonymous), `aud` (the service),
`exp`/`nbf`/`iat`, `jti` and `access: [{type, name, actions}]`. A refresh token is a JWT
from the same key with `lamina_refresh: true` and no `access`; the registry never accepts it
as an access token, and the token endpoint re-checks that its user still exists.

The key is a P-256 private key in PEM; without a configured file one is generated into the
storage directory on first start (`token-key.pem`, mode 0600, created atomically so that
several workers starting together agree on one key).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lamina.errors import InvalidInput

ALGORITHM = "ES256"
LEEWAY = 5.0
_MAX_CACHED = 10_000


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The EC private key in `path`; creates one when the file does not exist."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # never replaces a key another worker made first
        temp.unlink()
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"token key {path}: not a readable unencrypted PEM key: {exc}") from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
        raise InvalidInput(f"token key {path}: must be an EC P-256 key (for ES256)")
    return loaded


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """libtrust-style key ID: base32 of the SPKI's SHA-256, 12 groups of 4."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(b32[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True, slots=True)
class Grant:
    type: str
    name: str
    actions: tuple[str, ...]

    def as_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


class TokenError(Exception):
    """A token that must not be accepted; the message says why (sent to the client)."""


class TokenSigner:
    """Issues and verifies tokens for one issuer and service (audience)."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        issuer: str,
        service: str,
        expiry: float = 300.0,
        refresh_expiry: float = 7 * 86400.0,
    ) -> None:
        self._key = key
        self._public = key.public_key()
        self.kid = key_id(self._public)
        self.issuer, self.service = issuer, service
        self.expiry, self.refresh_expiry = expiry, refresh_expiry
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def _base(self, user: str, lifetime: float) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "iat": now,
            "nbf": now - 1,
            "exp": now + int(lifetime),
            "jti": secrets.token_urlsafe(16),
        }

    def issue(self, user: str | None, grants: list[Grant]) -> tuple[str, dict[str, Any]]:
        claims = self._base(user or "", self.expiry)
        claims["access"] = [g.as_claim() for g in grants]
        return self._sign(claims), claims

    def issue_refresh(self, user: str) -> str:
        claims = self._base(user, self.refresh_expiry)
        claims["lamina_refresh"] = True
        return self._sign(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=[ALGORITHM],
                audience=self.service,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"the token is not for service {self.service!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenError(f"the token was not issued by {self.issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"invalid token: {exc}") from None
        if not isinstance(claims.get("sub"), str):
            raise TokenError("invalid token: 'sub' is not a string")
        return claims

    def verify_access(self, token: str) -> dict[str, Any]:
        """The claims of a valid access token (signature, exp/nbf, aud, iss checked);
        memoised per token until it expires."""
        claims = self._cache.get(token)
        if claims is not None:
            if claims["exp"] + LEEWAY >= time.time():
                return claims
            del self._cache[token]
        claims = self._decode(token)
        if claims.get("lamina_refresh"):
            raise TokenError("a refresh token is not an access token")
        access = claims.get("access", [])
        if not isinstance(access, list) or not all(
            isinstance(a, dict)
            and isinstance(a.get("type"), str)
            and isinstance(a.get("name"), str)
            and isinstance(a.get("actions"), list)
            for a in access
        ):
            raise TokenError("invalid token: malformed 'access' claim")
        self._cache[token] = claims
        while len(self._cache) > _MAX_CACHED:
            self._cache.popitem(last=False)
        return claims

    def verify_refresh(self, token: str) -> str:
        """The user a valid refresh token was issued to."""
        claims = self._decode(token)
        if not claims.get("lamina_refresh"):
            raise TokenError("not a refresh token")
        return str(claims["sub"])


def allows(claims: dict[str, Any], type_: str, name: str, actions: tuple[str, ...]) -> bool:
    """True if the token's `access` claim covers every one of `actions` on type/name."""
    have: set[str] = set()
    for entry in claims.get("access", []):
        if entry["type"] == type_ and entry["name"] == name:
            have.update(str(a) for a in entry["actions"])
    if "*" in have:
        return True
    return all(a in have for a in actions)
