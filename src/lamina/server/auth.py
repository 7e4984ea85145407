"""Access control seam and the htpasswd (bcrypt) implementation.

An `AccessController` sees each request with the access it needs (repository + actions);
it returns the caller's name or raises `RegistryHTTPError(401/403)` with a challenge.
Token (Bearer/JWT) auth implements the same Protocol in `lamina.server.token_auth`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import bcrypt
from aiohttp import web

from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import validate_repository
from lamina.server.errors import RegistryHTTPError
from lamina.server.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class Access:
    """What a request needs: `type` "repository" (name, actions pull/push/delete) or
    "registry" (name "catalog", action "*")."""

    type: str
    name: str
    actions: tuple[str, ...]


def mount_source(request: web.Request) -> Access | None:
    """For a cross-repository mount (`POST /v2/<name>/blobs/uploads/?mount=…&from=<source>`)
    the pull on `<source>` it needs as well (challenges name it beside the target's
    pull,push, as Distribution's do); None for any other request, or a `from` that is not
    a valid repository name (never echoed into a header)."""
    if request.method != "POST" or "mount" not in request.query:
        return None
    if not request.path.rstrip("/").endswith("/blobs/uploads"):
        return None
    source = request.query.get("from", "")
    try:
        validate_repository(source)
    except InvalidInput:
        return None
    return Access("repository", source, ("pull",))


class AccessController(Protocol):
    def authorize(self, request: web.Request, access: Sequence[Access]) -> str | None:
        """The authenticated user (None when anonymous access is allowed); raise
        RegistryHTTPError(UNAUTHORIZED/DENIED) otherwise."""
        ...


class AllowAll:
    """No authentication: every request may do everything."""

    def authorize(self, request: web.Request, access: Sequence[Access]) -> str | None:
        return None


DEFAULT_COST = 10  # bcrypt's (and Distribution's) default, for a file with no entries


class HtpasswdFile:
    """Users of an htpasswd file of bcrypt entries (`htpasswd -B`), re-read when its mtime
    changes. Verified credentials are remembered by a SHA-256 of user:password, so bcrypt's
    cost is paid once per process, not per request. An unknown user costs one bcrypt check
    too (against a stand-in hash of the file's highest cost), so timing does not tell which
    users exist."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mtime = -1.0
        self._users: dict[str, bytes] = {}
        self._verified: set[bytes] = set()
        self._stand_in = b""
        self._load()

    def _load(self) -> None:
        mtime = self.path.stat().st_mtime
        if mtime == self._mtime:
            return
        users: dict[str, bytes] = {}
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not hashed.startswith(("$2y$", "$2a$", "$2b$")):
                raise InvalidInput(
                    f"{self.path}:{n}: only bcrypt entries are supported (make them with "
                    "'htpasswd -B')"
                )
            users[user] = hashed.encode()
        cost = min(max((_cost(h) for h in users.values()), default=DEFAULT_COST), 31)
        cost = max(cost, 4)  # (bcrypt's range)
        if _cost(self._stand_in) != cost:
            self._stand_in = bcrypt.hashpw(b"stand-in", bcrypt.gensalt(cost))
        self._users, self._verified, self._mtime = users, set(), mtime

    def has_user(self, user: str) -> bool:
        self._load()
        return user in self._users

    def check(self, user: str, password: str) -> bool:
        """True if `password` is `user`'s (blocking: bcrypt on a cache miss)."""
        self._load()
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        if key in self._verified:
            return True
        hashed = self._users.get(user)
        ok = bcrypt.checkpw(password.encode(), self._stand_in if hashed is None else hashed)
        if hashed is None or not ok:
            return False
        self._verified.add(key)
        return True


def _cost(hashed: bytes) -> int:
    """The cost of a `$2y$NN$...` hash; 0 when there is none."""
    parts = hashed.split(b"$")
    return int(parts[2]) if len(parts) > 3 and parts[2].isdigit() else 0


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` value; None if absent/malformed."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


class HtpasswdAccess:
    """HTTP Basic against an htpasswd file; every authenticated user may do everything.
    Failed logins are throttled per client address."""

    def __init__(
        self, path: Path, realm: str = "lamina", throttle: LoginThrottle | None = None
    ) -> None:
        self.users = HtpasswdFile(path)
        self.realm = realm
        self.throttle = throttle or LoginThrottle()

    def _challenge(self, message: str) -> RegistryHTTPError:
        return RegistryHTTPError(
            401,
            ErrorCode.UNAUTHORIZED,
            message,
            headers={"WWW-Authenticate": f'Basic realm="{self.realm}"'},
        )

    def authorize(self, request: web.Request, access: Sequence[Access]) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise self._challenge("authentication required")
        creds = parse_basic(header)
        if creds is None:
            raise self._challenge("malformed Basic credentials")
        addr = client_address(request)
        self.throttle.check(addr)
        if not self.users.check(*creds):
            self.throttle.failure(addr)
            raise self._challenge("invalid username or password")
        self.throttle.success(addr)
        return creds[0]


class DeletesDisabled:
    """Wraps a controller for `storage.delete.enabled: false`: a request that needs the
    delete action is answered 405 UNSUPPORTED (Distribution's answer) once the inner
    controller has accepted the caller; everything else is the inner controller's."""

    def __init__(self, inner: AccessController) -> None:
        self.inner = inner

    def authorize(self, request: web.Request, access: Sequence[Access]) -> str | None:
        user = self.inner.authorize(request, access)
        if any("delete" in a.actions for a in access):
            raise RegistryHTTPError(
                405,
                ErrorCode.UNSUPPORTED,
                "deletes are disabled on this registry (storage.delete.enabled: false)",
            )
        return user
