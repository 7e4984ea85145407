"""The working container, with buildah's verbs: from, mount, run, copy, config, commit.

A container's root is an overlay (the base image's snapshots below, its own upper dir
above) or, where overlayfs cannot be mounted, a copy of the merged snapshots made at
creation and compared with a record of itself at commit. Commit turns the changes into one
layer, appends it to the base image with a history entry, and stores the result; the base
image stays pinned in the store (`holds`) while the container exists.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lamina import media_types as mt
from lamina.building.container import (
    Containers,
    RootfsMode,
    WorkingContainer,
    apply_config,
    new_id,
    short_name,
)
from lamina.building.isolation.mountpoints import write_run_files
from lamina.building.isolation.network import (
    check_add_hosts,
    check_all,
    check_dns,
    check_network,
)
from lamina.building.isolation.spec import (
    DEFAULT_PATH,
    RunSpec,
    find_executable,
    parse_mount,
    parse_volume,
    resolve_in_root,
    resolve_user,
)
from lamina.building.rootfs import overlay
from lamina.content.fstree import remove_tree
from lamina.digest import Digest
from lamina.errors import BuildError, InvalidInput, NotFound
from lamina.image import Image
from lamina.image.mutate import (
    Addendum,
    StoreLayer,
    append_layers,
    empty_image,
    format_time,
    with_annotations,
    with_config,
    with_media_type,
)
from lamina.oci import History
from lamina.store import Store, StoredImage

# What only some verbs need (isolation, layer diffing and packing: tar, isal, zstandard) is
# imported where used: each CLI call is a new process, and `from` needs none of it (~60 ms).
log = logging.getLogger("lamina.building")
_said_copy = False


class Builder:
    """A working container in `store`. Methods persist the record after each change."""

    def __init__(self, store: Store, record: WorkingContainer) -> None:
        self.store = store
        self.record = record
        self._containers = Containers(store.root)
        self.dir = self._containers.workdir(record.id)

    # -- creating and finding ------------------------------------------------------------
    @classmethod
    def from_image(
        cls,
        store: Store,
        image: str,
        *,
        name: str | None = None,
        rootfs_mode: RootfsMode | None = None,
        network: str | None = None,
        dns: Sequence[str] = (),
        add_hosts: Sequence[str] = (),
    ) -> Builder:
        """A new container from `image` (a name or ID in the store) or "scratch"; NotFound
        if the image is not in the store (pulling is the caller's job). `rootfs_mode`:
        "overlay" or "copy" (default: overlay if it can be mounted here). `network`, `dns`
        and `add_hosts` are what `run` uses unless told otherwise (InvalidInput if bad)."""
        global _said_copy
        check_all(network or "private", dns, add_hosts)
        containers = Containers(store.root)
        if image == "scratch":
            base: Image = empty_image()
            image_id = None
        else:
            stored = store.lookup(image)
            base, image_id = store.image(stored), stored.id
        problem = overlay.overlay_works(containers.dir)
        if rootfs_mode == "overlay" and problem is not None:
            raise BuildError(f"overlay rootfs requested but unusable: {problem}")
        if rootfs_mode is None and problem is not None and not _said_copy:
            log.warning("overlayfs unusable (%s): containers use copied root trees", problem)
            _said_copy = True
        record = WorkingContainer(
            id=new_id(),
            name=name or "",
            image_id=image_id,
            image_name=image,
            config=base.config().evolve(history=base.config().history).raw.decode(),
            manifest_type=base.manifest().media_type,
            mode=rootfs_mode or ("overlay" if problem is None else "copy"),
            created=format_time(datetime.now(UTC)),
            network=network,
            dns=list(dns),
            add_hosts=list(add_hosts),
        )
        containers.create(record, base_name=short_name(image))
        b = cls(store, record)
        try:
            if image_id is not None:
                store.hold(image_id, record.id)
            for d in ("upper", "work", "merged"):
                (b.dir / d).mkdir()
            if record.mode == "copy":
                from lamina.building.rootfs.diff import TreeRecord
                from lamina.building.rootfs.snapshot import materialise

                materialise(b._lowers(), b.dir / "rootfs")
                TreeRecord.of(b.dir / "rootfs").save(b.dir / "tree.json")
        except BaseException:
            b.remove()
            raise
        return b

    @classmethod
    def load(cls, store: Store, name: str) -> Builder:
        """The existing container called `name` (or with that ID); NotFound otherwise."""
        return cls(store, Containers(store.root).get(name))

    @property
    def name(self) -> str:
        return self.record.name

    def _save(self) -> None:
        self._containers.save(self.record)

    def _lowers(self) -> list[Path]:
        from lamina.building.rootfs.lowers import overlay_lowers

        if self.record.image_id is None:
            return []
        stored = self.store.get(self.record.image_id)
        snaps = self.store.rootfs(stored)
        diff_ids = self.store.layer_diff_ids(stored)
        whiteouts = [self.store.whiteouts(d) for d in diff_ids]
        with contextlib.suppress(OSError):
            remove_tree(self.dir / "wh")
        return overlay_lowers(snaps, whiteouts, self.dir / "wh")

    # -- mounting ---------------------------------------------------------------------------
    def mount(self) -> Path:
        """The container's root on the host, mounted if needed (it stays mounted until
        `umount`, across processes). BuildError if its storage has vanished."""
        self._check_storage()
        if self.record.mode == "copy":
            return self.dir / "rootfs"
        merged = self.dir / "merged"
        if not overlay.is_mounted(merged):
            lowers = self._lowers()
            if not lowers:
                (self.dir / "empty").mkdir(exist_ok=True)
                lowers = [self.dir / "empty"]
            overlay.mount_overlay(
                lowers, self.dir / "upper", self.dir / "work", merged, volatile=True
            )
        if not self.record.mounted:
            self.record.mounted = True
            try:
                self._save()
            except BaseException:
                overlay.unmount(merged)
                self.record.mounted = False
                raise
        return merged

    def _check_storage(self) -> None:
        """BuildError if the container's own files (upper dir or copied root) are gone."""
        needed = self.dir / ("rootfs" if self.record.mode == "copy" else "upper")
        if not needed.is_dir():
            raise BuildError(
                f"working container {self.name}: its storage {needed} is missing",
                hint=f"remove it with `lamina rm {self.name}` and create it again",
            )

    def is_mounted(self) -> bool:
        """Whether the root is mounted now (the record may be stale: a mount made in another
        mount namespace, or unmounted behind lamina's back)."""
        if self.record.mode == "copy":
            return self.record.mounted
        return self.record.mounted and overlay.is_mounted(self.dir / "merged")

    def umount(self) -> None:
        if self.record.mode == "overlay":
            overlay.unmount(self.dir / "merged")
        if self.record.mounted:
            self.record.mounted = False
            self._save()

    # -- run --------------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        isolation: str | None = None,
        network: str | None = None,
        dns: Sequence[str] = (),
        add_hosts: Sequence[str] = (),
        volumes: Sequence[str] = (),
        mounts: Sequence[str] = (),
        env: Sequence[str] = (),
        user: str | None = None,
        workdir: str | None = None,
        stdin: int | IO[Any] | None = None,
        stdout: int | IO[Any] | None = None,
        stderr: int | IO[Any] | None = None,
        timeout: float | None = None,
    ) -> int:
        """Run `argv` in the container (image env, user and workdir unless overridden);
        the exit code. BuildError if the executable does not exist or the run times out.
        `network` (private, slirp4netns[:allow_host_loopback=true], host, none; default:
        the container's, else private), `dns` (default: the container's) and `add_hosts`
        (added to the container's) as podman's `--network`, `--dns` and `--add-host`."""
        if not argv:
            raise InvalidInput("run: no command given")
        net = check_network(network or self.record.network or "private")
        servers = check_dns(dns or self.record.dns, net.kind)
        extra_hosts = check_add_hosts([*self.record.add_hosts, *add_hosts], net)
        cfg = self.record.image_config().config
        was_mounted = self.is_mounted()
        root = self.mount()
        try:
            merged_env = dict(e.partition("=")[::2] for e in cfg.env)
            merged_env.setdefault("PATH", DEFAULT_PATH)
            merged_env.update(e.partition("=")[::2] for e in env)
            env_list = tuple(f"{k}={v}" for k, v in merged_env.items())
            uid, gid, groups = resolve_user(root, user if user is not None else cfg.user)
            cwd = workdir or cfg.working_dir or "/"
            wd = resolve_in_root(root, cwd)
            if not wd.exists():
                wd.mkdir(parents=True, mode=0o755)
            find_executable(root, argv[0], env_list)
            from lamina.building.isolation.choose import choose

            chosen = choose(isolation)
            all_mounts = tuple(parse_volume(v) for v in volumes)
            all_mounts += tuple(parse_mount(m) for m in mounts)
            with tempfile.TemporaryDirectory(dir=self.dir, prefix="run-") as tmp:
                bundle = Path(tmp)
                hosts, resolv = write_run_files(
                    bundle,
                    self.record.id[:12],
                    network=net.kind,
                    host_loopback=net.host_loopback,
                    dns=servers,
                    add_hosts=extra_hosts,
                )
                spec = RunSpec(
                    argv=tuple(argv),
                    rootfs=root,
                    env=env_list,
                    cwd=cwd,
                    uid=uid,
                    gid=gid,
                    groups=groups,
                    hostname=self.record.id[:12],
                    network=net.kind,
                    host_loopback=net.host_loopback,
                    mounts=all_mounts,
                    hosts=hosts,
                    resolv=resolv,
                )
                return chosen.run(
                    spec, bundle, stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout
                )
        finally:
            if not was_mounted:
                self.umount()

    # -- copy and config ---------------------------------------------------------------------
    def copy(
        self,
        srcs: Sequence[str | Path],
        dest: str,
        *,
        chown: str | None = None,
        chmod: str | None = None,
        extract_archives: bool = False,
    ) -> list[str]:
        """Copy host paths into the container (`extract_archives`: ADD's tar extraction)."""
        was_mounted = self.is_mounted()
        root = self.mount()
        try:
            uid, gid = 0, 0
            if chown:
                uid, gid, _ = resolve_user(root, chown)
            mode = None
            if chmod is not None:
                try:
                    mode = int(chmod, 8)
                except ValueError:
                    raise InvalidInput(f"copy: chmod {chmod!r} is not an octal mode") from None
            from lamina.building.rootfs.copyin import copy_into

            return copy_into(
                root, srcs, dest, uid=uid, gid=gid, mode=mode, extract_archives=extract_archives
            )
        finally:
            if not was_mounted:
                self.umount()

    def set_config(self, **fields: Any) -> None:
        """Edit the pending config (see `lamina.building.container.apply_config`)."""
        apply_config(self.record, fields)
        self._save()

    def configure(self, steps: Sequence[tuple[str, Any]]) -> None:
        """Apply config edits in order (buildah's flag order), saving once at the end."""
        for key, value in steps:
            apply_config(self.record, {key: value})
        self._save()

    # -- commit and remove -------------------------------------------------------------------
    def commit(
        self,
        image_name: str | None,
        *,
        format: str = "oci",
        squash: bool = False,
        rm: bool = False,
        timestamp: int | None = None,
    ) -> StoredImage:
        """Store the container's changes as one new layer on its base image, named
        `image_name` (None: dangling). `timestamp` (else $SOURCE_DATE_EPOCH) fixes the
        created times and clamps file mtimes, so the same content gives the same digest."""
        if format not in ("oci", "docker"):
            raise InvalidInput(f"commit: format {format!r}: use oci or docker")
        epoch = timestamp
        if epoch is None and os.environ.get("SOURCE_DATE_EPOCH", "").isdigit():
            epoch = int(os.environ["SOURCE_DATE_EPOCH"])
        when = datetime.fromtimestamp(epoch, UTC) if epoch is not None else datetime.now(UTC)
        from lamina.building.rootfs.diff import TreeRecord, tree_changes, upper_changes
        from lamina.content.layers import pack_dir

        # Removed afterwards, an overlay container's upper dir (exactly the new layer's
        # content) becomes the layer's snapshot instead of being deleted now and the layer
        # extracted again by the next container over this image.
        adopt = rm and not squash and self.record.mode == "overlay"
        was_mounted = self.is_mounted()
        # An overlay's layer is read from its upper dir alone: no need to mount (and a
        # COPY may have put the upper dir on a tmpfs, which an overlay cannot mount).
        upper_only = self.record.mode == "overlay" and not squash
        if upper_only:
            self._check_storage()
        root = self.dir / "upper" if upper_only else self.mount()
        try:
            with self.store.ingest() as blobs:
                if squash:
                    layer = pack_dir(root, blobs, source_date_epoch=epoch)
                elif self.record.mode == "overlay":
                    changes = upper_changes(self.dir / "upper")
                    layer = pack_dir(
                        self.dir / "upper", blobs, changes=changes, source_date_epoch=epoch
                    )
                else:
                    before = TreeRecord.load(self.dir / "tree.json")
                    changes = tree_changes(before, root)
                    layer = pack_dir(root, blobs, changes=changes, source_date_epoch=epoch)
                img = self._image(layer, blobs, when, squash, format)
                stored = self.store.put_image(img, [image_name] if image_name else [])
        finally:
            if adopt or (not was_mounted and not upper_only):
                self.umount()
        if adopt:
            self._adopt_upper(layer.diff_id, epoch)
        if rm:
            self.remove()
        return stored

    def _adopt_upper(self, diff_id: Digest, epoch: int | None) -> None:
        """Offer the unmounted upper dir to the store as the snapshot of `diff_id`."""
        try:
            self.store.adopt_snapshot(diff_id, self.dir / "upper", source_date_epoch=epoch)
        except OSError as exc:  # only a shortcut: the layer is stored; extract it later
            log.debug("keeping no snapshot of %s from %s: %s", diff_id, self.dir, exc)

    def _image(self, layer: Any, blobs: Any, when: datetime, squash: bool, fmt: str) -> Image:
        rec = self.record
        pending = rec.image_config()
        if squash or rec.image_id is None:
            base: Image = empty_image(docker=fmt == "docker")
        else:
            base = self.store.image(self.store.get(rec.image_id))
        stamp = format_time(when)
        entry = History(
            created=stamp,
            created_by=rec.created_by if rec.created_by is not None else "/bin/sh",
            comment=rec.comment,
            author=pending.author or None,
        )
        img: Image = append_layers(base, [Addendum(StoreLayer.from_blob(layer, blobs), entry)])
        cfg = img.config()
        img = with_config(
            img,
            cfg.evolve(
                created=stamp,
                author=pending.author,
                config=pending.config,
                config_present=True,
                architecture=pending.architecture,
                os=pending.os,
                variant=pending.variant,
            ),
        )
        img = with_media_type(img, mt.DOCKER_MANIFEST if fmt == "docker" else mt.OCI_MANIFEST)
        if fmt == "oci" and rec.annotations:
            img = with_annotations(img, dict(rec.annotations))
        return img

    def remove(self) -> None:
        """Unmount, delete the container's files and record, and unpin its base image."""
        if self.record.mode == "overlay":
            overlay.unmount(self.dir / "merged")
            overlay.unmount(self.dir / "upper")  # a COPY's tmpfs (building.rootfs.fresh)
        # Files first: on a full disk, releasing the hold needs the space they free.
        with contextlib.suppress(OSError):
            remove_tree(self.dir)
        if self.record.image_id is not None:
            try:
                self.store.release(self.record.image_id, self.record.id)
            except NotFound:
                pass
        self._containers.delete(self.record)


def containers(store: Store) -> list[WorkingContainer]:
    """Every working container of `store`, oldest first."""
    return Containers(store.root).list()
