"""`TRANSPORT:DETAILS` strings to ImageReferences, for every registered transport.

The four file transports and `docker://` (with default options) are built in. A caller
binding a transport to its own state (a store, credentials) passes it to `parse` as `extra`
for that one call; `register(prefix, factory, syntax)` adds a transport for the whole
process. A factory gets the text after the first `:` and raises InvalidInput when it is
malformed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from lamina.errors import ErrorCode, InvalidInput
from lamina.transports.names import DIR, DOCKER_ARCHIVE, OCI, OCI_ARCHIVE, SYNTAX
from lamina.transports.registry.reference import TRANSPORT as DOCKER
from lamina.transports.registry.reference import factory as docker_factory

if TYPE_CHECKING:
    from lamina.transports.base import ImageReference

Factory = Callable[[str], "ImageReference"]


# Each transport's module is imported when a location of its kind is parsed (start-up time).
def _oci(rest: str) -> ImageReference:
    from lamina.transports.layout import LayoutReference

    return LayoutReference.parse(rest)


def _oci_archive(rest: str) -> ImageReference:
    from lamina.transports.oci_archive import OCIArchiveReference

    return OCIArchiveReference.parse(rest)


def _docker_archive(rest: str) -> ImageReference:
    from lamina.transports.docker_archive import DockerArchiveReference

    return DockerArchiveReference.parse(rest)


def _dir(rest: str) -> ImageReference:
    from lamina.transports.directory import DirReference

    return DirReference.parse(rest)


_FACTORIES: dict[str, Factory] = {
    OCI: _oci,
    OCI_ARCHIVE: _oci_archive,
    DOCKER_ARCHIVE: _docker_archive,
    DIR: _dir,
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


def _expected(extra: Mapping[str, tuple[Factory, str]]) -> str:
    syntax = {**_SYNTAX, **{prefix: text for prefix, (_, text) in extra.items()}}
    return ", ".join(syntax[p] for p in sorted(syntax))


def parse(text: str, extra: Mapping[str, tuple[Factory, str]] | None = None) -> ImageReference:
    """Parse `TRANSPORT:DETAILS`; InvalidInput naming the expected syntax otherwise.
    `extra` maps prefixes to (factory, syntax) for this call only, over the registered ones."""
    extra = extra or {}
    prefix, sep, rest = text.partition(":")
    if not sep:
        raise InvalidInput(
            f"invalid image location {text[:300]!r}: no transport prefix",
            code=ErrorCode.NAME_INVALID,
            hint=f"expected TRANSPORT:DETAILS, one of: {_expected(extra)}",
        )
    bound = extra.get(prefix)
    factory = bound[0] if bound is not None else _FACTORIES.get(prefix)
    if factory is None:
        raise InvalidInput(
            f"invalid image location {text[:300]!r}: unknown transport {prefix!r}",
            code=ErrorCode.NAME_INVALID,
            hint=f"expected TRANSPORT:DETAILS, one of: {_expected(extra)}",
        )
    return factory(rest)
