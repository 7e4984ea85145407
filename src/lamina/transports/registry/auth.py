"""Registry authentication: challenges, Basic, and the Bearer token flow with scopes.

The `Authenticator` answers "which Authorization header for this set of scopes?". It learns the
registry's challenge from a 401 (`WWW-Authenticate`), then either sends Basic credentials or
fetches a token from the realm — anonymously, with Basic credentials (GET), or with an
identity/refresh token (POST `grant_type=refresh_token`) — and caches tokens per scope set
until they expire.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from lamina.errors import AuthError, ErrorCode, RegistryError
from lamina.transports.registry.authfile import Credentials

DEFAULT_TOKEN_LIFETIME = 60.0
MAX_TOKEN_RESPONSE = 1 << 20
CLIENT_ID = "lamina"

_PARAM_RE = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@dataclass(frozen=True, slots=True)
class Challenge:
    """One `WWW-Authenticate` challenge: a scheme (lowercased) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> list[str]:
        scope = self.params.get("scope", "")
        return scope.split(" ") if scope else []


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `Bearer realm="…",service="…",scope="…"` (or `Basic realm=…`) headers."""
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s*", rest)
        if not m:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end() :]
        params: dict[str, str] = {}
        while True:
            pm = _PARAM_RE.match(rest)
            if not pm or (pm.group(2) is None and not pm.group(3) and "=" not in pm.group(0)):
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            rest = rest[pm.end() :]
        out.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return out


def scope_for(repository: str, actions: str) -> str:
    """A token scope: `repository:NAME:pull` or `repository:NAME:pull,push`."""
    return f"repository:{repository}:{actions}"


@dataclass(slots=True)
class _Token:
    value: str
    expires: float


# (method, url, headers, body) -> (status, body bytes); provided by the client so that token
# requests share its TLS set-up, retries and error handling.
Fetch = Callable[[str, str, dict[str, str], bytes | None], tuple[int, bytes]]


class Authenticator:
    """Holds one registry's challenge, credentials and token cache. Thread-safe."""

    def __init__(
        self, registry: str, credentials: Credentials | None, fetch: Fetch, *, hint: str = ""
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self._fetch = fetch
        self._hint = hint
        self._challenge: Challenge | None = None
        self._tokens: dict[frozenset[str], _Token] = {}
        self._lock = threading.Lock()

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def learn(self, www_authenticate: str) -> Challenge | None:
        """Record the strongest challenge we can answer from a 401's header."""
        for ch in parse_challenges(www_authenticate):
            if ch.scheme == "bearer" and "realm" in ch.params:
                self._challenge = ch
                return ch
        for ch in parse_challenges(www_authenticate):
            if ch.scheme == "basic":
                self._challenge = ch
                return ch
        return None

    def header(self, scopes: list[str]) -> str | None:
        """The Authorization value for a request needing `scopes`; None if none is known."""
        ch = self._challenge
        if ch is None:
            return None
        if ch.scheme == "basic":
            return self._basic()
        key = frozenset(scopes)
        with self._lock:
            tok = self._tokens.get(key)
            if tok is not None and tok.expires > time.monotonic():
                return f"Bearer {tok.value}"
            tok = self._get_token(ch, sorted(key))
            self._tokens[key] = tok
            return f"Bearer {tok.value}"

    def invalidate(self, scopes: list[str]) -> None:
        with self._lock:
            self._tokens.pop(frozenset(scopes), None)

    def _basic(self) -> str | None:
        c = self.credentials
        if c is None or not c.username:
            return None
        raw = f"{c.username}:{c.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _get_token(self, ch: Challenge, scopes: list[str]) -> _Token:
        realm = ch.params["realm"]
        service = ch.params.get("service", "")
        c = self.credentials
        headers: dict[str, str] = {}
        if c is not None and c.identity_token:
            form: dict[str, str] = {
                "grant_type": "refresh_token",
                "refresh_token": c.identity_token,
                "client_id": CLIENT_ID,
                "service": service,
            }
            body = urlencode(form)
            if scopes:
                body += "&" + urlencode([("scope", s) for s in scopes])
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            status, data = self._fetch("POST", realm, headers, body.encode())
        else:
            query: list[tuple[str, str]] = []
            if service:
                query.append(("service", service))
            query.extend(("scope", s) for s in scopes)
            if c is not None and c.username:
                query.append(("account", c.username))
            basic = self._basic()
            if basic:
                headers["Authorization"] = basic
            sep = "&" if "?" in realm else "?"
            url = realm + (sep + urlencode(query) if query else "")
            status, data = self._fetch("GET", url, headers, None)
        return self._parse_token(status, data, realm)

    def _parse_token(self, status: int, data: bytes, realm: str) -> _Token:
        who = f"registry {self.registry}"
        if status in (401, 403):
            origin = f" from {self.credentials.origin}" if self.credentials else ""
            raise AuthError(
                f"{who}: token server {realm} refused the credentials{origin} ({status})",
                code=ErrorCode.UNAUTHORIZED if status == 401 else ErrorCode.DENIED,
                hint=self._hint or None,
            )
        if status != 200:
            raise RegistryError(
                f"{who}: token server {realm} answered {status}",
                retryable=status == 429 or status >= 500,
            )
        try:
            obj = json.loads(data)
            value = obj.get("token") or obj.get("access_token")
        except (json.JSONDecodeError, AttributeError):
            value = None
            obj = {}
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{who}: token server {realm} sent no token")
        lifetime = obj.get("expires_in")
        seconds = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 0.0
        # Renew a little early so a token does not lapse mid-request.
        seconds = max(seconds or DEFAULT_TOKEN_LIFETIME, 10.0) - 5.0
        return _Token(value, time.monotonic() + seconds)
