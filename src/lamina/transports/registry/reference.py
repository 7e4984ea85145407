"""`docker://HOST/REPO[:TAG|@DIGEST]` references to images in a registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from lamina.reference import Reference
from lamina.transports.base import ImageDestination, ImageSource
from lamina.transports.registry.options import RegistryOptions

TRANSPORT = "docker"


@dataclass(frozen=True, slots=True)
class RegistryReference:
    """An image in a registry, and how to reach it. Implements ImageReference."""

    ref: Reference
    options: RegistryOptions = field(default_factory=RegistryOptions)

    @staticmethod
    def parse(text: str, options: RegistryOptions | None = None) -> RegistryReference:
        """Accept `docker://host/repo:tag`, `//host/repo:tag` or `host/repo:tag`.

        Docker Hub's defaults apply as podman applies them (`alpine` → docker.io/library/…).
        """
        body = text.removeprefix(f"{TRANSPORT}:").removeprefix("//")
        return RegistryReference(Reference.parse(body), options or RegistryOptions())

    @property
    def transport(self) -> str:
        return TRANSPORT

    @property
    def registry(self) -> str:
        return self.ref.domain

    @property
    def repository(self) -> str:
        return self.ref.path

    def describe(self) -> str:
        return f"{TRANSPORT}://{self.ref}"

    def docker_reference(self) -> Reference:
        return self.ref

    def new_source(self) -> ImageSource:
        from lamina.transports.registry.source import RegistrySource

        return RegistrySource(self)

    def new_destination(self) -> ImageDestination:
        from lamina.transports.registry.destination import RegistryDestination

        return RegistryDestination(self)


def factory(text: str) -> RegistryReference:
    """The `alltransports.register("docker", factory)` entry: parse with default options."""
    return RegistryReference.parse(text)
