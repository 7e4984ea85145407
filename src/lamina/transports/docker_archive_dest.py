"""Writing docker-archives as containers/image does (`podman save` reads them back).

Blobs are streamed straight into a tar in a temp file beside the archive: each layer is
decompressed on the way in (the format stores uncompressed tars named `DIFFID_HEX.tar`), its
tar header written once its size is known; configs go in as `HEX.json`. Each image's
`put_manifest` adds a manifest.json item and the legacy `ID/{VERSION,json,layer.tar}`
entries; `DockerArchiveWriter.commit()` writes `manifest.json` and `repositories`, then
renames the archive into place. A blob that fails verification is cut back out of the tar.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO, Literal

from lamina import media_types as mt
from lamina.content import CHUNK, VerifyingReader, decompress_reader
from lamina.digest import Digest, new_hash
from lamina.errors import Conflict, ErrorCode, IntegrityError, InvalidInput, cannot_write
from lamina.oci import Descriptor, ImageManifest
from lamina.oci.jsonio import dump, load_object
from lamina.reference import Reference
from lamina.transports.base import ImageDestination, ImageReference, ImageSource
from lamina.transports.docker_archive import MANIFEST_FILE, MAX_JSON, REPOSITORIES_FILE
from lamina.transports.names import DOCKER_ARCHIVE

_LEGACY_ATTRS = (
    "architecture",
    "config",
    "container",
    "container_config",
    "created",
    "docker_version",
    "os",
)
_BLOCK = 512


def _header(name: str, size: int, *, link: str | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = link
        info.mode = 0
    else:
        info.mode = 0o444
    if size < 8 << 30:
        return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")
    return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict")


class DockerArchiveWriter:
    """One docker-archive with any number of images; nothing is visible until commit."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise InvalidInput(f"{self.path}: directory {self.path.parent} does not exist")
        if self.path.is_dir():
            raise Conflict(f"{self.path}: is a directory; a docker-archive is a file")
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.tmp-")
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        self._tmp = Path(tmp)
        self._f = os.fdopen(fd, "w+b")
        self.blobs: dict[Digest, tuple[Digest, int]] = {}  # put digest -> (diff_id|config, size)
        self._configs: dict[Digest, bytes] = {}
        self._written: set[str] = set()
        self._items: list[dict[str, object]] = []
        self._by_config: dict[str, dict[str, object]] = {}
        self._repositories: dict[str, dict[str, str]] = {}
        self._done = False

    def reference(self, tags: list[Reference]) -> ImageReference:
        """A write-only reference for one image of this archive, tagged `tags`."""
        return _WriterReference(self, tags)

    def destination(
        self, tags: list[Reference], describe_text: str, *, finish: bool = False
    ) -> ImageDestination:
        return DockerArchiveDestination(self, tags, describe_text, finish=finish)

    def _send_bytes(self, name: str, data: bytes) -> None:
        if name in self._written:
            return
        self._f.write(_header(name, len(data)))
        self._f.write(data)
        self._f.write(b"\0" * (-len(data) % _BLOCK))
        self._written.add(name)

    def put_config(self, stream: BinaryIO, desc: Descriptor) -> None:
        if desc.size > MAX_JSON:
            raise InvalidInput(
                f"config {desc.digest} is {desc.size} bytes; refusing over {MAX_JSON}"
            )
        with VerifyingReader(stream, desc.digest, desc.size, "config") as r:
            data = r.read()
            r.read()
        self._send_bytes(f"{desc.digest.hex}.json", data)
        self._configs[desc.digest] = data
        self.blobs[desc.digest] = (desc.digest, len(data))

    def put_layer(self, stream: BinaryIO, desc: Descriptor) -> None:
        """Decompress into the tar as DIFFID.tar; verify the compressed bytes against desc."""
        start = self._f.tell()
        try:
            self._f.write(b"\0" * _BLOCK)
            verifying = VerifyingReader(stream, desc.digest, desc.size, "layer")
            plain, _ = decompress_reader(verifying, f"layer {desc.digest}")  # type: ignore[arg-type]
            diff = new_hash(desc.digest.algorithm)
            size = 0
            while chunk := plain.read(CHUNK):
                diff.update(chunk)
                self._f.write(chunk)
                size += len(chunk)
            verifying.read_all_chunks()
            plain.close()
            diff_id = Digest.from_hash(diff, desc.digest.algorithm)
            name = f"{diff_id.hex}.tar"
            if name in self._written:
                self._f.seek(start)
                self._f.truncate()
            else:
                self._f.write(b"\0" * (-size % _BLOCK))
                end = self._f.tell()
                self._f.seek(start)
                self._f.write(_header(name, size))
                self._f.seek(end)
                self._written.add(name)
        except BaseException:
            self._f.seek(start)
            self._f.truncate()
            raise
        self.blobs[desc.digest] = (diff_id, size)

    def add_image(self, manifest: ImageManifest, tags: list[Reference], where: str) -> None:
        """Record one image: a manifest.json item, legacy layer entries, repositories."""
        config = self._configs.get(manifest.config.digest)
        if config is None:
            raise InvalidInput(
                f"{where}: manifest names config {manifest.config.digest}, which was not written",
                code=ErrorCode.MANIFEST_BLOB_UNKNOWN,
            )
        diff_ids: list[Digest] = []
        for i, layer in enumerate(manifest.layers):
            got = self.blobs.get(layer.digest)
            if got is None:
                raise InvalidInput(
                    f"{where}: manifest layers[{i}] {layer.digest} was not written",
                    code=ErrorCode.MANIFEST_BLOB_UNKNOWN,
                )
            diff_ids.append(got[0])
        cfg = load_object(config, f"config {manifest.config.digest}")
        declared = (cfg.get("rootfs") or {}).get("diff_ids")
        if declared != [str(d) for d in diff_ids]:
            raise IntegrityError(
                f"{where}: config rootfs.diff_ids do not match the layers' contents",
                code=ErrorCode.MANIFEST_INVALID,
            )
        layer_paths = [f"{d.hex}.tar" for d in diff_ids]
        config_path = f"{manifest.config.digest.hex}.json"
        item = self._by_config.get(config_path)
        if item is None:
            item = {"Config": config_path, "RepoTags": [], "Layers": layer_paths}
            self._by_config[config_path] = item
            self._items.append(item)
        repo_tags = item["RepoTags"]
        assert isinstance(repo_tags, list)
        for tag in tags:
            text = f"{tag.name}:{tag.tag}"
            if text not in repo_tags:
                repo_tags.append(text)
        last = self._legacy_layers(diff_ids, cfg)
        if last:
            for tag in tags:
                self._repositories.setdefault(tag.name, {})[tag.tag or "latest"] = last

    def _legacy_layers(self, diff_ids: list[Digest], cfg: dict[str, object]) -> str:
        chain = ""
        last = ""
        for i, diff_id in enumerate(diff_ids):
            fields: dict[str, object] = {}
            if last:
                fields["parent"] = last
            if i == len(diff_ids) - 1:
                for attr in _LEGACY_ATTRS:
                    fields[attr] = cfg.get(attr)
            chain = (
                str(diff_id) if not chain else str(Digest.of_bytes(f"{chain} {diff_id}".encode()))
            )
            layer_id = Digest.of_bytes(_sorted_json({**fields, "layer_id": chain})).hex
            body = _sorted_json({**fields, "id": layer_id})
            if f"{layer_id}/json" not in self._written:
                link = f"{layer_id}/layer.tar"
                self._f.write(_header(link, 0, link=f"../{diff_id.hex}.tar"))
                self._written.add(link)
                self._send_bytes(f"{layer_id}/VERSION", b"1.0")
                self._send_bytes(f"{layer_id}/json", body)
            last = layer_id
        return last

    def commit(self) -> None:
        """Write manifest.json and repositories, finish the tar, rename it into place."""
        self._send_bytes(MANIFEST_FILE, dump(self._items))
        self._send_bytes(REPOSITORIES_FILE, _sorted_json(self._repositories))
        self._f.write(b"\0" * (2 * _BLOCK))
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)
        self._done = True

    def close(self) -> None:
        """Abandon the archive unless committed."""
        with contextlib.suppress(OSError):
            self._f.close()
        if not self._done:
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()


def _sorted_json(obj: Mapping[str, object]) -> bytes:
    """Go's json.Marshal of a map: keys sorted at the top level, values as given."""
    items = [dump(k) + b":" + dump(obj[k]) for k in sorted(obj)]
    return b"{" + b",".join(items) + b"}"


class DockerArchiveDestination:
    gzip_layers_only: Literal[True] = True  # `docker load` reads no zstd (transports.base)

    def __init__(
        self,
        writer: DockerArchiveWriter,
        tags: list[Reference],
        describe_text: str,
        *,
        finish: bool,
    ) -> None:
        self._writer = writer
        self._tags = tags
        self._describe = describe_text
        self._finish = finish
        self._manifest: ImageManifest | None = None

    def describe(self) -> str:
        return self._describe

    def supported_manifest_types(self) -> frozenset[str]:
        return mt.MANIFEST_TYPES

    def has_blob(self, desc: Descriptor) -> bool:
        return desc.digest in self._writer.blobs

    def put_blob(self, stream: BinaryIO, desc: Descriptor) -> None:
        if mt.is_layer(desc.media_type):
            self._writer.put_layer(stream, desc)
        elif desc.media_type in mt.CONFIG_TYPES:
            self._writer.put_config(stream, desc)
        else:
            raise InvalidInput(
                f"{self._describe}: cannot store a blob of type {desc.media_type!r}; "
                "docker-archive holds only image configs and layers",
                code=ErrorCode.UNSUPPORTED,
            )

    def put_manifest(self, raw: bytes, media_type: str, *, instance: Digest | None = None) -> None:
        if instance is not None or media_type not in mt.MANIFEST_TYPES:
            raise InvalidInput(
                f"{self._describe}: docker-archive stores single images, not {media_type}",
                code=ErrorCode.UNSUPPORTED,
                hint="copy one platform (all_platforms=False or a platform)",
            )
        self._manifest = ImageManifest.parse(raw, media_type, self._describe)

    def put_signatures(self, digest: Digest, signatures: list[bytes]) -> None:
        if signatures:
            raise InvalidInput(
                f"{self._describe}: docker-archive cannot store signatures",
                code=ErrorCode.UNSUPPORTED,
            )

    def commit(self) -> None:
        if self._manifest is None:
            raise InvalidInput(f"{self._describe}: commit before the image's manifest was written")
        self._writer.add_image(self._manifest, self._tags, self._describe)
        if self._finish:
            self._writer.commit()

    def close(self) -> None:
        if self._finish:
            self._writer.close()


class _WriterReference:
    def __init__(self, writer: DockerArchiveWriter, tags: list[Reference]) -> None:
        self._writer = writer
        self._tags = tags

    @property
    def transport(self) -> str:
        return DOCKER_ARCHIVE

    def describe(self) -> str:
        tag = f":{self._tags[0]}" if self._tags else ""
        return f"{DOCKER_ARCHIVE}:{self._writer.path}{tag}"

    def new_source(self) -> ImageSource:
        raise InvalidInput(f"{self.describe()}: is being written; it cannot be read yet")

    def new_destination(self) -> ImageDestination:
        return self._writer.destination(self._tags, self.describe())
