"""Media types of the OCI image spec and of Docker's image manifest v2 schema 2."""

from __future__ import annotations

from typing import Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYOUT_HEADER: Final = "application/vnd.oci.layout.header.v1+json"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
OCI_LAYER_TAR: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND_TAR: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"

MANIFEST_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
ALL_MANIFEST_TYPES: Final = MANIFEST_TYPES | INDEX_TYPES
CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})

LAYER_TYPES: Final = frozenset(
    {
        OCI_LAYER_TAR,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        OCI_LAYER_ND_TAR,
        OCI_LAYER_ND_GZIP,
        OCI_LAYER_ND_ZSTD,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN_GZIP,
        DOCKER_LAYER_TAR,
    }
)
NON_DISTRIBUTABLE: Final = frozenset(
    {
        OCI_LAYER_ND_TAR,
        OCI_LAYER_ND_GZIP,
        OCI_LAYER_ND_ZSTD,
        DOCKER_LAYER_FOREIGN_GZIP,
    }
)


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in LAYER_TYPES


def is_non_distributable(media_type: str) -> bool:
    return media_type in NON_DISTRIBUTABLE


def layer_compression(media_type: str) -> str:
    """'gzip', 'zstd' or 'none' for a known layer type; 'unknown' otherwise."""
    if media_type in (
        OCI_LAYER_GZIP,
        OCI_LAYER_ND_GZIP,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_FOREIGN_GZIP,
    ):
        return "gzip"
    if media_type in (OCI_LAYER_ZSTD, OCI_LAYER_ND_ZSTD):
        return "zstd"
    if media_type in (OCI_LAYER_TAR, OCI_LAYER_ND_TAR, DOCKER_LAYER_TAR):
        return "none"
    return "unknown"


def layer_type(compression: str, *, docker: bool = False) -> str:
    """The layer media type for `compression` ('gzip', 'zstd', 'none') in OCI or Docker form."""
    if docker:
        if compression == "gzip":
            return DOCKER_LAYER_GZIP
        if compression == "none":
            return DOCKER_LAYER_TAR
        raise ValueError(f"Docker schema2 has no layer type for {compression}")
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER_TAR}[compression]


_TO_DOCKER: Final = {
    OCI_MANIFEST: DOCKER_MANIFEST,
    OCI_INDEX: DOCKER_MANIFEST_LIST,
    OCI_CONFIG: DOCKER_CONFIG,
    OCI_LAYER_GZIP: DOCKER_LAYER_GZIP,
    OCI_LAYER_TAR: DOCKER_LAYER_TAR,
    OCI_LAYER_ND_GZIP: DOCKER_LAYER_FOREIGN_GZIP,
}
_TO_OCI: Final = {v: k for k, v in _TO_DOCKER.items()}


def to_docker(media_type: str) -> str:
    """The Docker schema2 equivalent of an OCI type (unchanged if none or already Docker)."""
    return _TO_DOCKER.get(media_type, media_type)


def to_oci(media_type: str) -> str:
    """The OCI equivalent of a Docker schema2 type (unchanged if none or already OCI)."""
    return _TO_OCI.get(media_type, media_type)
