"""The `docker://` transport: images in a registry speaking the distribution API.

`RegistryReference(ref, options)` opens a `RegistrySource` (verified manifests, resumable
blobs, tags, delete, referrers) or a `RegistryDestination` (mount, monolithic / streamed /
chunked uploads checked before commit, manifests). `login`/`logout` manage auth files.
"""

from lamina.transports.registry.authfile import Credentials, find_credentials
from lamina.transports.registry.client import RegistryClient, RegistryOptions
from lamina.transports.registry.destination import RegistryDestination
from lamina.transports.registry.login import login, logout
from lamina.transports.registry.reference import RegistryReference, factory
from lamina.transports.registry.source import RegistrySource

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
