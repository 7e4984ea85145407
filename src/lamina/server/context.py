"""What every handler shares: config, blob store, metadata store, upload files, access control.

Nothing here holds request state that another worker would need: upload offsets live in the
metadata store and upload bytes in files; the only in-process state is the resumable-hash
cache, which is an optimisation that is rebuilt on a miss.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass

from aiohttp import web

from lamina.content import BlobStore
from lamina.errors import ErrorCode
from lamina.server.auth import AccessController, DeletesDisabled
from lamina.server.config import ServerConfig
from lamina.server.errors import RegistryHTTPError
from lamina.server.storage import MetadataStore, UploadFiles, UploadSession
from lamina.server.token_auth import TokenEndpoint

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


@dataclass(slots=True, kw_only=True)
class RegistryContext:
    config: ServerConfig
    blobs: BlobStore
    meta: MetadataStore
    uploads: UploadFiles
    access: AccessController
    token_endpoint: TokenEndpoint | None = None

    def __post_init__(self) -> None:
        # storage.delete.enabled: false holds whatever controller the server was given
        if not self.config.delete_enabled and not isinstance(self.access, DeletesDisabled):
            self.access = DeletesDisabled(self.access)

    def session(self, name: str, upload_id: str) -> UploadSession:
        """The live upload `upload_id` of repository `name`, or BLOB_UPLOAD_UNKNOWN (404).
        An expired session is removed on sight."""
        s = self.meta.get_upload(upload_id) if _valid_upload_id(upload_id) else None
        if s is not None and s.updated < time.time() - self.config.upload_expiry:
            if self.meta.delete_upload(upload_id):
                self.uploads.discard(upload_id)
            s = None
        if s is None or s.repository != name:
            raise RegistryHTTPError(
                404, ErrorCode.BLOB_UPLOAD_UNKNOWN, f"{name}: upload {upload_id[:80]!r} unknown"
            )
        return s

    def purge_expired_uploads(self) -> int:
        """Remove sessions idle longer than the configured expiry; returns how many."""
        removed = 0
        for upload_id in self.meta.expired_uploads(time.time() - self.config.upload_expiry):
            if self.meta.delete_upload(upload_id):
                self.uploads.discard(upload_id)
                removed += 1
        return removed


def _valid_upload_id(upload_id: str) -> bool:
    return 0 < len(upload_id) <= 64 and upload_id.replace("-", "").isalnum()


def upload_headers(name: str, upload_id: str, offset: int) -> dict[str, str]:
    """Location, Range and Docker-Upload-UUID of an upload at `offset` bytes."""
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(offset - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def link_header(path: str, params: dict[str, str]) -> str:
    return f'<{path}?{urllib.parse.urlencode(params)}>; rel="next"'


def new_upload_id() -> str:
    import uuid

    return str(uuid.uuid4())


CTX = web.AppKey("lamina.registry", RegistryContext)
