"""Token auth: the registry side (`TokenAccess`, an AccessController checking Bearer JWTs)
and the built-in token endpoint (`/token`, GET with Basic auth and OAuth2 POST).

Answers, as Docker, podman and skopeo expect them:
- no token, or a bad/expired/wrong-audience one: 401 UNAUTHORIZED with
  `WWW-Authenticate: Bearer realm=…,service=…,scope=…` (`error="invalid_token"` when bad);
- a valid token without the needed scope: 401 UNAUTHORIZED with `error="insufficient_scope"`
  when asking for a new token could help (the access file would grant it, or the caller is
  anonymous and a login could); 403 DENIED when the caller is a known user whom the access
  file does not allow that action (a new token would not help).
The token endpoint grants the intersection of what was asked and what the access file
allows; an unknown user or wrong password is 401, and failures are throttled per address.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import validate_repository
from lamina.server.access_policy import AccessPolicy
from lamina.server.auth import Access, client_address, mount_source, parse_basic
from lamina.server.body import body_timeout, give_up
from lamina.server.config import ServerConfig
from lamina.server.errors import RegistryHTTPError, error_response
from lamina.server.throttle import LoginThrottle
from lamina.server.tokens import Grant, TokenError, TokenSigner, allows, load_or_create_key

TOKEN_PATH = "/token"
_MAX_SCOPES = 64


def parse_scope(scope: str) -> Grant | None:
    """`repository:name:pull,push` → Grant; None when malformed (ignored, as Distribution
    does). The name may itself contain ':' (a registry host with a port)."""
    type_, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not type_ or not name:
        return None
    acts = tuple(a for a in actions.split(",") if a)
    return Grant(type_, name, acts) if acts else None


def _valid_name(name: str) -> None:
    """A scope's repository as the registry checks it: a token for a name the registry
    refuses is refused here (400 NAME_INVALID), not granted by a pattern."""
    try:
        validate_repository(name)
    except InvalidInput as exc:
        raise RegistryHTTPError(400, ErrorCode.NAME_INVALID, exc.message) from None


def scope_text(access: Sequence[Access]) -> str:
    return " ".join(f"{a.type}:{a.name}:{','.join(a.actions)}" for a in access)


class TokenAccess:
    """Checks `Authorization: Bearer <jwt>` on every registry request."""

    def __init__(self, signer: TokenSigner, policy: AccessPolicy | None, realm: str | None):
        self.signer = signer
        self.policy = policy
        self.realm = realm

    def realm_for(self, request: web.Request) -> str:
        return self.realm or f"{request.scheme}://{request.host}{TOKEN_PATH}"

    def _challenge(
        self, request: web.Request, access: Sequence[Access], message: str, error: str = ""
    ) -> RegistryHTTPError:
        """401 naming the scopes a new token needs: `access`, plus the source's pull on a
        cross-repository mount (so a client asking for the challenge's scopes can mount)."""
        source = mount_source(request)
        if source is not None and not any(
            a.type == source.type and a.name == source.name for a in access
        ):
            access = [*access, source]
        parts = [f'realm="{self.realm_for(request)}"', f'service="{self.signer.service}"']
        if access:
            parts.append(f'scope="{scope_text(access)}"')
        if error:
            parts.append(f'error="{error}"')
        return RegistryHTTPError(
            401,
            ErrorCode.UNAUTHORIZED,
            message,
            detail=[{"Type": a.type, "Name": a.name, "Action": ",".join(a.actions)} for a in access]
            or None,
            headers={"WWW-Authenticate": "Bearer " + ",".join(parts)},
        )

    def authorize(self, request: web.Request, access: Sequence[Access]) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise self._challenge(request, access, "authentication required")
        try:
            claims = self.signer.verify_access(token.strip())
        except TokenError as exc:
            raise self._challenge(request, access, str(exc), "invalid_token") from None
        user: str = claims["sub"]
        for a in access:
            if allows(claims, a.type, a.name, a.actions):
                continue
            granted: set[str] = set()
            if self.policy is not None and user:
                granted = self.policy.granted(user, a.type, a.name, a.actions)
            if self.policy is None or not user or set(a.actions) <= granted:
                raise self._challenge(
                    request, access, f"the token does not grant {scope_text([a])}",
                    "insufficient_scope",
                )  # fmt: skip
            missing = [x for x in a.actions if x not in granted]
            raise RegistryHTTPError(
                403,
                ErrorCode.DENIED,
                f"{user} may not {','.join(missing)} {a.name}",
                detail=[{"Type": a.type, "Name": a.name, "Action": ",".join(a.actions)}],
            )
        return user or None


class TokenEndpoint:
    """`GET /token` (Basic auth or anonymous; `offline_token=true` adds a refresh token)
    and `POST /token` (grant_type=password or refresh_token)."""

    def __init__(self, signer: TokenSigner, policy: AccessPolicy, throttle: LoginThrottle):
        self.signer, self.policy, self.throttle = signer, policy, throttle

    def _grants(self, user: str | None, scopes: list[str]) -> list[Grant]:
        out: list[Grant] = []
        for text in scopes[:_MAX_SCOPES]:
            want = parse_scope(text)
            if want is None:
                continue
            if want.type == "repository":
                _valid_name(want.name)
            got = self.policy.granted(user, want.type, want.name, want.actions)
            if got:
                ordered = tuple(a for a in want.actions if a in got)
                ordered += tuple(sorted(got - set(ordered)))
                out.append(Grant(want.type, want.name, ordered))
        return out

    async def _login(self, request: web.Request, user: str, password: str) -> None:
        addr = client_address(request)
        self.throttle.check(addr)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(None, self.policy.check_password, user, password)
        if not ok:
            self.throttle.failure(addr)
            raise RegistryHTTPError(
                401,
                ErrorCode.UNAUTHORIZED,
                "invalid username or password",
                headers={"WWW-Authenticate": 'Basic realm="lamina token"'},
            )
        self.throttle.success(addr)

    def _check_service(self, service: str | None) -> None:
        if service is not None and service != self.signer.service:
            raise RegistryHTTPError(
                400, ErrorCode.UNSUPPORTED, f"this token server is for {self.signer.service!r}"
            )

    def _answer(self, user: str | None, scopes: list[str], refresh: str | None) -> web.Response:
        token, claims = self.signer.issue(user, self._grants(user, scopes))
        issued = datetime.datetime.fromtimestamp(claims["iat"], datetime.UTC)
        body: dict[str, Any] = {
            "token": token,
            "access_token": token,
            "expires_in": claims["exp"] - claims["iat"],
            "issued_at": issued.isoformat().replace("+00:00", "Z"),
            "scope": " ".join(scopes),
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return web.json_response(body, headers={"Cache-Control": "no-store"})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            if request.method == "GET":
                return await self._get(request)
            if request.method == "POST":
                return await self._post(request)
            raise RegistryHTTPError(405, ErrorCode.UNSUPPORTED, "use GET or POST")
        except RegistryHTTPError as exc:
            return error_response(exc)

    async def _get(self, request: web.Request) -> web.Response:
        self._check_service(request.query.get("service"))
        scopes = [s for v in request.query.getall("scope", []) for s in v.split(" ") if s]
        header = request.headers.get("Authorization", "")
        user: str | None = None
        if header:
            creds = parse_basic(header)
            if creds is None:
                raise RegistryHTTPError(401, ErrorCode.UNAUTHORIZED, "malformed Basic credentials")
            await self._login(request, *creds)
            user = creds[0]
        offline = request.query.get("offline_token", "").lower() == "true"
        refresh = self.signer.issue_refresh(user) if offline and user else None
        return self._answer(user, scopes, refresh)

    async def _post(self, request: web.Request) -> web.Response:
        timeout = body_timeout(request)
        try:
            async with asyncio.timeout(timeout):  # (a form is small: the whole of it)
                form = await request.post()
        except TimeoutError:
            give_up(request)
            raise RegistryHTTPError(
                400, ErrorCode.UNSUPPORTED, f"request body not received within {timeout:g}s"
            ) from None
        field = {k: v for k, v in form.items() if isinstance(v, str)}
        self._check_service(field.get("service"))
        scopes = [s for s in field.get("scope", "").split(" ") if s]
        grant = field.get("grant_type", "")
        if grant == "password":
            user = field.get("username", "")
            await self._login(request, user, field.get("password", ""))
            offline = field.get("access_type", "") == "offline"
            return self._answer(user, scopes, self.signer.issue_refresh(user) if offline else None)
        if grant == "refresh_token":
            addr = client_address(request)
            self.throttle.check(addr)
            try:
                user = self.signer.verify_refresh(field.get("refresh_token", ""))
                if not self.policy.user_exists(user):
                    raise TokenError(f"user {user!r} no longer exists")
            except TokenError as exc:
                self.throttle.failure(addr)
                raise RegistryHTTPError(401, ErrorCode.UNAUTHORIZED, str(exc)) from None
            return self._answer(user, scopes, field.get("refresh_token"))
        raise RegistryHTTPError(
            400, ErrorCode.UNSUPPORTED, f"grant_type {grant[:40]!r}: use password or refresh_token"
        )


def make_token_auth(
    config: ServerConfig, throttle: LoginThrottle
) -> tuple[TokenAccess, TokenEndpoint]:
    """The registry's checker and token endpoint from `config.token_*` (key generated into
    the storage directory when none is configured)."""
    assert config.token_access is not None
    key = load_or_create_key(config.token_key or config.storage / "token-key.pem")
    signer = TokenSigner(
        key,
        issuer=config.token_issuer,
        service=config.token_service,
        expiry=config.token_expiry,
        refresh_expiry=config.token_refresh_expiry,
    )
    policy = AccessPolicy(config.token_access, config.htpasswd)
    return TokenAccess(signer, policy, config.token_realm), TokenEndpoint(signer, policy, throttle)
