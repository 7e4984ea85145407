"""`docker-archive:FILE[:NAME:TAG|:@N]`: the `docker save` / `podman save` format.

`manifest.json` lists images as `{"Config", "RepoTags", "Layers"}`; configs and uncompressed
layer tars sit beside it (`HEX.json`, `HEX.tar` as containers/image writes them, or
`ID/layer.tar` as older Docker did). A reference picks an image by tag or by index; with
neither, the archive must hold exactly one image.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.oci.jsonio import load_object
from lamina.reference import Reference
from lamina.transports.base import ImageDestination, ImageReference, ImageSource
from lamina.transports.names import DOCKER_ARCHIVE, DockerArchiveName, parse_docker_archive
from lamina.transports.oci_archive_tar import TarFiles

MANIFEST_FILE = "manifest.json"
REPOSITORIES_FILE = "repositories"
MAX_JSON = 16 << 20


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """One entry of manifest.json."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def read_manifest_items(files: TarFiles) -> list[ManifestItem]:
    """Parse manifest.json strictly enough to name the bad field."""
    where = files.where(MANIFEST_FILE)
    if not files.exists(MANIFEST_FILE):
        raise InvalidInput(f"{where}: missing; this is not a docker-archive")
    with files.open(MANIFEST_FILE) as f:
        raw = f.read(MAX_JSON + 1)
    if len(raw) > MAX_JSON:
        raise InvalidInput(f"{where}: larger than {MAX_JSON} bytes")
    # load_object wants an object; manifest.json is an array, so wrap it.
    obj = load_object(b'{"items":' + raw + b"}", where, ErrorCode.MANIFEST_INVALID)
    items = obj["items"]
    if not isinstance(items, list):
        raise InvalidInput(f"{where}: expected a JSON array", code=ErrorCode.MANIFEST_INVALID)
    out: list[ManifestItem] = []
    for i, item in enumerate(items):
        what = f"{where}: [{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{what}: expected an object", code=ErrorCode.MANIFEST_INVALID)
        config = item.get("Config")
        if not isinstance(config, str) or not config:
            raise InvalidInput(
                f"{what}: field 'Config' must be a non-empty string",
                code=ErrorCode.MANIFEST_INVALID,
            )
        tags = item.get("RepoTags") or []
        layers = item.get("Layers") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidInput(
                f"{what}: field 'RepoTags' must be an array of strings",
                code=ErrorCode.MANIFEST_INVALID,
            )
        if not isinstance(layers, list) or not all(isinstance(x, str) and x for x in layers):
            raise InvalidInput(
                f"{what}: field 'Layers' must be an array of strings",
                code=ErrorCode.MANIFEST_INVALID,
            )
        out.append(ManifestItem(config, tuple(tags), tuple(layers)))
    return out


def choose_item(
    items: list[ManifestItem], name: DockerArchiveName, where: str
) -> tuple[ManifestItem, int]:
    """The item a reference names (by tag or @index), or the only one."""
    if name.index is not None:
        if name.index >= len(items):
            raise NotFound(
                f"{where}: no image @{name.index}; the archive holds {len(items)}",
                code=ErrorCode.MANIFEST_UNKNOWN,
            )
        return items[name.index], name.index
    if name.ref is None:
        if len(items) != 1:
            tags = ", ".join(t for it in items for t in it.repo_tags) or "(untagged)"
            raise InvalidInput(
                f"{where}: holds {len(items)} images; name one by tag or @INDEX (tags: {tags})",
                hint="e.g. docker-archive:FILE:localhost/app:1 or docker-archive:FILE:@0",
            )
        return items[0], 0
    wanted = str(name.ref)
    for i, item in enumerate(items):
        for tag in item.repo_tags:
            try:
                if str(Reference.parse(tag)) == wanted:
                    return item, i
            except InvalidInput:
                continue
    raise NotFound(f"{where}: no image tagged {wanted}", code=ErrorCode.MANIFEST_UNKNOWN)


class DockerArchiveReference:
    def __init__(self, name: DockerArchiveName) -> None:
        self.name = name

    @staticmethod
    def parse(text: str) -> DockerArchiveReference:
        return DockerArchiveReference(parse_docker_archive(text))

    @property
    def path(self) -> str:
        return self.name.path

    @property
    def transport(self) -> str:
        return DOCKER_ARCHIVE

    def describe(self) -> str:
        suffix = ""
        if self.name.ref is not None:
            suffix = f":{self.name.ref}"
        elif self.name.index is not None:
            suffix = f":@{self.name.index}"
        return f"{DOCKER_ARCHIVE}:{self.name.path}{suffix}"

    def new_source(self) -> ImageSource:
        from lamina.transports.docker_archive_source import DockerArchiveSource

        return DockerArchiveSource(self.name, self.describe())

    def new_destination(self) -> ImageDestination:
        from lamina.transports.docker_archive_dest import DockerArchiveWriter

        if self.name.index is not None:
            raise InvalidInput(
                f"{self.describe()}: cannot write to an image index; give a NAME:TAG or nothing"
            )
        writer = DockerArchiveWriter(self.name.path)
        tags = [self.name.ref] if self.name.ref is not None else []
        return writer.destination(tags, self.describe(), finish=True)


def list_docker_archive_images(path: str) -> list[tuple[list[str], ImageReference]]:
    """Every image of a docker-archive with its RepoTags, addressed by @index."""
    files = TarFiles(path)
    try:
        items = read_manifest_items(files)
    finally:
        files.close()
    return [
        (list(item.repo_tags), DockerArchiveReference(DockerArchiveName(path, index=i)))
        for i, item in enumerate(items)
    ]
