"""Reading one image of a docker-archive, as containers/image's docker-archive source does.

The archive has no manifest, so one is generated deterministically: a Docker schema2
manifest whose config is the stored config and whose layers are named by their diff_id,
sized by their uncompressed length, with containers/image's layer media type
(`...rootfs.diff.tar.gzip`, which it uses whatever the stored compression). Layer blobs are
handed out decompressed, so they match those descriptors. Reading the same archive twice,
or an archive lamina wrote from it, gives the same manifest bytes.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from lamina import media_types as mt
from lamina.content import CHUNK, Compression, decompress_reader, detect
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, NotFound
from lamina.oci import Descriptor
from lamina.oci.jsonio import dump, load_object
from lamina.transports.docker_archive import MAX_JSON, choose_item, read_manifest_items
from lamina.transports.names import DockerArchiveName
from lamina.transports.oci_archive_tar import TarFiles


class DockerArchiveSource:
    def __init__(self, name: DockerArchiveName, describe_text: str) -> None:
        self._name = name
        self._describe = describe_text
        self._files = TarFiles(name.path)
        self._manifest: bytes | None = None
        self._config: bytes = b""
        self._config_digest: Digest | None = None
        self._layers: dict[Digest, tuple[str, int]] = {}

    def describe(self) -> str:
        return self._describe

    def _load(self) -> bytes:
        if self._manifest is not None:
            return self._manifest
        items = read_manifest_items(self._files)
        item, i = choose_item(items, self._name, self._describe)
        where = self._files.where(item.config)
        if not self._files.exists(item.config):
            raise NotFound(
                f"{self._describe}: manifest.json [{i}] names config {item.config!r}, "
                "which is not in the archive",
                code=ErrorCode.BLOB_UNKNOWN,
            )
        with self._files.open(item.config) as f:
            config = f.read(MAX_JSON + 1)
        if len(config) > MAX_JSON:
            raise InvalidInput(f"{where}: config larger than {MAX_JSON} bytes")
        diff_ids = _diff_ids(config, where)
        if len(diff_ids) != len(item.layers):
            raise InvalidInput(
                f"{where}: config lists {len(diff_ids)} diff_ids but manifest.json [{i}] "
                f"lists {len(item.layers)} layers",
                code=ErrorCode.MANIFEST_INVALID,
            )
        layers: dict[Digest, tuple[str, int]] = {}
        for diff_id, member in zip(diff_ids, item.layers, strict=True):
            if diff_id in layers:
                continue
            if not self._files.exists(member):
                raise NotFound(
                    f"{self._describe}: manifest.json [{i}] names layer {member!r}, "
                    "which is not in the archive",
                    code=ErrorCode.BLOB_UNKNOWN,
                )
            layers[diff_id] = (member, self._uncompressed_size(member))
        config_digest = Digest.of_bytes(config)
        doc = {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST,
            "config": {
                "mediaType": mt.DOCKER_CONFIG,
                "size": len(config),
                "digest": str(config_digest),
            },
            "layers": [
                {"mediaType": mt.DOCKER_LAYER_GZIP, "size": layers[d][1], "digest": str(d)}
                for d in diff_ids
            ],
        }
        self._config, self._config_digest, self._layers = config, config_digest, layers
        self._manifest = dump(doc)
        return self._manifest

    def _uncompressed_size(self, member: str) -> int:
        with self._files.open(member) as f:
            head = f.read(8)
        if detect(head) is Compression.NONE:
            return self._files.size(member)
        total = 0
        stream, _ = decompress_reader(self._files.open(member), self._files.where(member))
        with stream:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
        return total

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        raw = self._load()
        if digest is not None and Digest.of_bytes(raw, digest.algorithm) != digest:
            raise NotFound(
                f"{self._describe}: has no manifest {digest} (docker-archive holds no indexes)",
                code=ErrorCode.MANIFEST_UNKNOWN,
            )
        return raw, mt.DOCKER_MANIFEST

    def open_blob(self, desc: Descriptor) -> BinaryIO:
        self._load()
        if desc.digest == self._config_digest:
            return io.BytesIO(self._config)
        found = self._layers.get(desc.digest)
        if found is None:
            raise NotFound(
                f"{self._describe}: no blob {desc.digest} in the archive",
                code=ErrorCode.BLOB_UNKNOWN,
            )
        stream, _ = decompress_reader(self._files.open(found[0]), self._files.where(found[0]))
        return stream

    def signatures(self, digest: Digest) -> list[bytes]:
        return []

    def close(self) -> None:
        self._files.close()


def _diff_ids(config: bytes, where: str) -> list[Digest]:
    obj = load_object(config, where)
    rootfs = obj.get("rootfs")
    if not isinstance(rootfs, dict):
        raise InvalidInput(
            f"{where}: config has no 'rootfs' object", code=ErrorCode.MANIFEST_INVALID
        )
    ids = rootfs.get("diff_ids") or []
    if not isinstance(ids, list):
        raise InvalidInput(
            f"{where}: rootfs.diff_ids must be an array", code=ErrorCode.MANIFEST_INVALID
        )
    out: list[Digest] = []
    for i, text in enumerate(ids):
        if not isinstance(text, str):
            raise InvalidInput(
                f"{where}: rootfs.diff_ids[{i}] must be a string", code=ErrorCode.MANIFEST_INVALID
            )
        try:
            out.append(Digest.parse(text))
        except InvalidInput as exc:
            raise InvalidInput(
                f"{where}: rootfs.diff_ids[{i}]: {exc}", code=ErrorCode.MANIFEST_INVALID
            ) from None
    return out
