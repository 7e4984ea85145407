"""Image locations as users type them: `TRANSPORT:DETAILS` for every transport, with the
local store (`lamina:NAME`) and registries (`docker://HOST/REPO:TAG`) bound to the command's
store and flags.

`parse_location` registers both prefixes with `lamina.copy.alltransports` (so error messages
list their syntax) and then parses. The store is opened only when a `lamina:` location is
used. `registries.conf` applies to `docker://`: blocked registries are refused, insecure ones
allow plain HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from lamina.copy import alltransports
from lamina.errors import ErrorCode, InvalidInput
from lamina.transports.registry.options import RegistryOptions
from lamina.transports.registry.reference import RegistryReference

if TYPE_CHECKING:  # the store is imported only when a `lamina:` location is used
    from lamina.store import Store
    from lamina.transports.base import ImageReference
    from lamina.transports.registries_conf import RegistriesConfig

DOCKER = "docker"
DOCKER_SYNTAX = "docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]"
STORE_PREFIX = "lamina"  # lamina.store.transport.PREFIX (a test keeps them equal)
STORE_SYNTAX = "lamina:NAME[:TAG]"

StoreOpener = Callable[[], "Store"]


def registry_options(
    *,
    creds: str | None = None,
    authfile: str | None = None,
    tls_verify: bool | None = None,
    cert_dir: str | None = None,
    retry_times: int | None = None,
) -> RegistryOptions:
    """RegistryOptions from command-line flags (None keeps the default)."""
    opts = RegistryOptions(creds=creds or None, authfile=authfile or None, cert_dir=cert_dir)
    if tls_verify is not None:
        opts = replace(opts, tls_verify=tls_verify)
    if retry_times is not None:
        if retry_times < 0:
            raise InvalidInput(f"--retry-times must be 0 or more, got {retry_times}")
        opts = replace(opts, retry_times=retry_times)
    return opts


def registry_reference(
    body: str, options: RegistryOptions, registries: RegistriesConfig | None = None
) -> RegistryReference:
    """`//HOST/REPO:TAG` (the text after `docker:`), checked against registries.conf."""
    if not body.startswith("//"):
        raise InvalidInput(
            f"invalid image location 'docker:{body[:300]}': expected {DOCKER_SYNTAX}",
            code=ErrorCode.NAME_INVALID,
            hint=f"e.g. docker://127.0.0.1:5000/app:1 ({DOCKER_SYNTAX})",
        )
    try:
        ref = RegistryReference.parse(body, options)
    except InvalidInput as exc:
        raise InvalidInput(
            f"invalid image location 'docker:{body[:300]}': {exc.message}",
            code=ErrorCode.NAME_INVALID,
            hint=f"expected {DOCKER_SYNTAX}",
        ) from None
    if registries is not None:
        registries.check_allowed(ref.ref)
        if registries.is_insecure(ref.ref) and not options.insecure:
            ref = RegistryReference(ref.ref, replace(options, insecure=True))
    return ref


def parse_location(
    text: str,
    store: Store | StoreOpener | None,
    options: RegistryOptions | None = None,
    *,
    registries: RegistriesConfig | None = None,
) -> ImageReference:
    """Parse `TRANSPORT:DETAILS` (InvalidInput naming the expected syntax otherwise).

    `store` is the store (or a function opening it) that `lamina:` names; None refuses
    `lamina:` locations."""
    opts = options or RegistryOptions()

    def store_factory(rest: str) -> ImageReference:
        if store is None:
            raise InvalidInput(
                f"{STORE_PREFIX}:{rest}: no local store is available here",
                hint="name another transport",
            )
        from lamina.store import Store
        from lamina.store.transport import StoreReference

        opened = store if isinstance(store, Store) else store()
        return StoreReference.parse(opened, rest)

    alltransports.register(STORE_PREFIX, store_factory, STORE_SYNTAX)
    alltransports.register(
        DOCKER, lambda rest: registry_reference(rest, opts, registries), DOCKER_SYNTAX
    )
    return alltransports.parse(text)


def split_docker(text: str) -> str:
    """`docker://host/repo` or `host/repo` → `host/repo` (for commands that take only
    registry locations: list-tags, delete, login)."""
    if text.startswith(f"{DOCKER}:"):
        body = text[len(DOCKER) + 1 :]
        if not body.startswith("//"):
            raise InvalidInput(
                f"invalid image location {text[:300]!r}: expected {DOCKER_SYNTAX}",
                code=ErrorCode.NAME_INVALID,
            )
        return body[2:]
    return text
