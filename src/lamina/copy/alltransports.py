"""`TRANSPORT:DETAILS` strings to ImageReferences, for every registered transport.

The four file transports are built in; others (the local store's `lamina:`, `docker://`)
plug in with `register(prefix, factory, syntax)`. A factory gets the text after the first
`:` and raises InvalidInput when it is malformed.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.errors import ErrorCode, InvalidInput
from lamina.transports.base import ImageReference
from lamina.transports.directory import DirReference
from lamina.transports.docker_archive import DockerArchiveReference
from lamina.transports.layout import LayoutReference
from lamina.transports.names import DIR, DOCKER_ARCHIVE, OCI, OCI_ARCHIVE, SYNTAX
from lamina.transports.oci_archive import OCIArchiveReference
from lamina.transports.registry.reference import TRANSPORT as DOCKER
from lamina.transports.registry.reference import factory as docker_factory

Factory = Callable[[str], ImageReference]

_FACTORIES: dict[str, Factory] = {
    OCI: LayoutReference.parse,
    OCI_ARCHIVE: OCIArchiveReference.parse,
    DOCKER_ARCHIVE: DockerArchiveReference.parse,
    DIR: DirReference.parse,
    DOCKER: docker_factory,
}
_SYNTAX: dict[str, str] = {**SYNTAX, DOCKER: "docker://HOST/REPO[:TAG|@DIGEST]"}


def register(prefix: str, factory: Factory, syntax: str | None = None) -> None:
    """Make `prefix:...` strings parse with `factory` (replacing any earlier registration)."""
    if not prefix or ":" in prefix:
        raise ValueError(f"transport prefix {prefix!r} must be non-empty and without ':'")
    _FACTORIES[prefix] = factory
    _SYNTAX[prefix] = syntax or f"{prefix}:..."


def unregister(prefix: str) -> None:
    _FACTORIES.pop(prefix, None)
    _SYNTAX.pop(prefix, None)


def transports() -> list[str]:
    """The registered prefixes, sorted."""
    return sorted(_FACTORIES)


def _expected() -> str:
    return ", ".join(_SYNTAX[p] for p in transports())


def parse(text: str) -> ImageReference:
    """Parse `TRANSPORT:DETAILS`; InvalidInput naming the expected syntax otherwise."""
    prefix, sep, rest = text.partition(":")
    if not sep:
        raise InvalidInput(
            f"invalid image location {text[:300]!r}: no transport prefix",
            code=ErrorCode.NAME_INVALID,
            hint=f"expected TRANSPORT:DETAILS, one of: {_expected()}",
        )
    factory = _FACTORIES.get(prefix)
    if factory is None:
        raise InvalidInput(
            f"invalid image location {text[:300]!r}: unknown transport {prefix!r}",
            code=ErrorCode.NAME_INVALID,
            hint=f"expected TRANSPORT:DETAILS, one of: {_expected()}",
        )
    return factory(rest)
