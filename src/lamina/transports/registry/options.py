"""`RegistryOptions`: how to reach registries. Kept apart from the client so that naming a
registry location (parsing `docker://...`, building options from flags) loads no HTTP stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    """How to reach registries: credentials, TLS, retries. All optional.

    `creds` ("user:password") overrides the auth files; `authfile` names the one file to read;
    `insecure` allows plain HTTP (and skips TLS verification) for every host, as loopback
    hosts always allow it; `timeout` bounds connecting and each read, in seconds.
    """

    authfile: str | None = None
    creds: str | None = None
    tls_verify: bool = True
    cert_dir: str | None = None
    retry_times: int = 3
    retry_delay: float = 1.0
    insecure: bool = False
    user_agent: str = "lamina/0.1"
    timeout: float = 60.0
