"""Connections a sync shares: one registry client per registry, options and credentials,
kept open (keep-alive) across every image of the sync, and references whose sources and
destinations use them."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.digest import Digest
from lamina.transports.registry import (
    RegistryClient,
    RegistryOptions,
    RegistryReference,
    RegistrySource,
)
from lamina.transports.registry.authfile import credentials_in, read_auth_files

if TYPE_CHECKING:
    from lamina.transports.registry import RegistryDestination


class KeptClient(RegistryClient):
    """A client shared by every source and destination of one sync: their `close` leaves
    it open (connections stay alive); `Clients.close` ends it."""

    def close(self) -> None:
        pass

    def really_close(self) -> None:
        super().close()


class Clients:
    """One client per registry, options and credentials (namespaced auth entries can give
    two repositories of one registry different credentials)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, RegistryOptions, object], KeptClient] = {}
        self._creds: dict[tuple[str, str, str | None], object] = {}
        self._files: dict[str | None, list[tuple[Path, dict[str, Any]]]] = {}

    def for_ref(self, ref: RegistryReference) -> KeptClient:
        opts = ref.options
        creds = None if opts.creds else self._credentials(ref)
        key = (ref.registry, opts, creds)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = KeptClient(ref.registry, opts, ref.repository)
                self._clients[key] = client
            return client

    def _credentials(self, ref: RegistryReference) -> object:
        # Auth files are read once per sync; a credential helper is asked once per
        # repository, not per image.
        authfile = ref.options.authfile
        key = (ref.registry, ref.repository, authfile)
        with self._lock:
            if key in self._creds:
                return self._creds[key]
            files = self._files.get(authfile)
        if files is None:
            files = read_auth_files(authfile)
            with self._lock:
                files = self._files.setdefault(authfile, files)
        found = credentials_in(files, ref.registry, ref.repository)
        with self._lock:
            return self._creds.setdefault(key, found)

    def close(self) -> None:
        for client in self._clients.values():
            client.really_close()


@dataclass(frozen=True, slots=True)
class Shared:
    """A `docker://` reference whose sources and destinations use a shared client; with
    `manifest`, its sources return that (already checked) manifest instead of asking again."""

    ref: RegistryReference
    clients: Clients
    manifest: tuple[bytes, str] | None = None

    @property
    def transport(self) -> str:
        return self.ref.transport

    @property
    def registry(self) -> str:
        """(With `repository`: NamesRepository, so a copy mounts blobs between two
        repositories of one registry.)"""
        return self.ref.registry

    @property
    def repository(self) -> str:
        return self.ref.repository

    def describe(self) -> str:
        return self.ref.describe()

    def new_source(self) -> RegistrySource:
        return Preloaded(self.ref, self.clients.for_ref(self.ref), self.manifest)

    def new_destination(self) -> RegistryDestination:
        # (Loaded here: a sync whose images are all up to date writes nothing.)
        from lamina.transports.registry.destination import RegistryDestination

        return RegistryDestination(self.ref, self.clients.for_ref(self.ref))


class Preloaded(RegistrySource):
    """A RegistrySource that already holds the reference's manifest (verified when the
    up-to-date check fetched it), so the copy does not GET it a second time."""

    def __init__(
        self, ref: RegistryReference, client: RegistryClient, manifest: tuple[bytes, str] | None
    ) -> None:
        super().__init__(ref, client)
        self._manifest = manifest

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None and self._manifest is not None:
            return self._manifest
        return super().get_manifest(digest)
