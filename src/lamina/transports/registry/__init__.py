"""The `docker://` transport: images in a registry speaking the distribution API.

`RegistryReference(ref, options)` opens a `RegistrySource` (verified manifests, resumable
blobs, tags, delete, referrers) or a `RegistryDestination` (mount, monolithic / streamed /
chunked uploads checked before commit, manifests). `login`/`logout` manage auth files.

The names below are loaded on first use: naming a location or building options does not
import the HTTP client (urllib3), which only a source or destination needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.lazy import attributes

if TYPE_CHECKING:
    from lamina.transports.registry.authfile import Credentials, find_credentials
    from lamina.transports.registry.client import RegistryClient
    from lamina.transports.registry.destination import RegistryDestination
    from lamina.transports.registry.login import login, logout
    from lamina.transports.registry.options import RegistryOptions
    from lamina.transports.registry.reference import RegistryReference, factory
    from lamina.transports.registry.source import RegistrySource

_WHERE = {
    "Credentials": "authfile",
    "find_credentials": "authfile",
    "RegistryClient": "client",
    "RegistryDestination": "destination",
    "login": "login",
    "logout": "login",
    "RegistryOptions": "options",
    "RegistryReference": "reference",
    "factory": "reference",
    "RegistrySource": "source",
}

__all__ = [
    "Credentials",
    "RegistryClient",
    "RegistryDestination",
    "RegistryOptions",
    "RegistryReference",
    "RegistrySource",
    "factory",
    "find_credentials",
    "login",
    "logout",
]


__getattr__ = attributes(__name__, _WHERE)
