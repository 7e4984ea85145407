"""Image locations as users type them: `TRANSPORT:DETAILS` for every transport, with the
local store (`lamina:NAME`) and registries (`docker://HOST/REPO:TAG`) bound to the command's
store and flags.

`Locations(store, options, registries).parse(text)`: the object holds what one command's
locations are bound to, and hands both prefixes to `lamina.copy.alltransports.parse` for
that call only, so threads parsing with different stores or credentials never see each
other's. The store is opened only when a `lamina:` location is used. `registries.conf`
applies to `docker://`: blocked registries are refused, insecure ones allow plain HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
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
# lamina.store.transport.PREFIX: spelled out, as importing it would load the store
STORE = "lamina"
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


@dataclass(frozen=True, slots=True)
class Locations:
    """What one command's image locations are bound to: `store` (the store, or a function
    opening it) that `lamina:` names, None refusing `lamina:` locations; the registry
    `options` (credentials, TLS; None: the defaults) and `registries` (registries.conf;
    None: none) for `docker://`. Immutable: share it between threads freely."""

    store: Store | StoreOpener | None = None
    options: RegistryOptions | None = None
    registries: RegistriesConfig | None = None

    def parse(self, text: str) -> ImageReference:
        """Parse `TRANSPORT:DETAILS` (InvalidInput naming the expected syntax otherwise)."""
        bound = {
            STORE: (self._store_reference, STORE_SYNTAX),
            DOCKER: (self._registry_reference, DOCKER_SYNTAX),
        }
        return alltransports.parse(text, bound)

    def _registry_reference(self, rest: str) -> ImageReference:
        return registry_reference(rest, self.options or RegistryOptions(), self.registries)

    def _store_reference(self, rest: str) -> ImageReference:
        if self.store is None:
            raise InvalidInput(
                f"{STORE}:{rest}: no local store is available here",
                hint="name another transport",
            )
        from lamina.store import Store
        from lamina.store.transport import StoreReference

        opened = self.store if isinstance(self.store, Store) else self.store()
        return StoreReference.parse(opened, rest)
