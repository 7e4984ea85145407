"""What `lamina copy SRC DST` (the image form) does once its flags are known, and the pieces
the registry commands share with it: the progress display, registry options from flags,
registries.conf, trust options from the trust flags."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lamina.cli.errors import echo_err

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressEvent
    from lamina.ops.trust import TrustOptions
    from lamina.store import Store
    from lamina.transports.registries_conf import RegistriesConfig
    from lamina.transports.registry import RegistryOptions

INSECURE_POLICY_WARNING = "warning: --insecure-policy: accepting images without any trust check"


def trust_options(
    flags: dict[str, Any], passphrase: Callable[[], bytes | None] = lambda: None
) -> TrustOptions:
    """TrustOptions from the trust flags' values (by parameter name); warns on
    --insecure-policy (before `passphrase` is asked for the cosign key's passphrase)."""
    from lamina.ops.trust import TrustOptions

    insecure = bool(flags.get("insecure_policy"))
    if insecure:
        echo_err(INSECURE_POLICY_WARNING)
    return TrustOptions(
        policy=flags.get("policy"),
        insecure_policy=insecure,
        sign_by=flags.get("sign_by"),
        sign_by_sigstore_key=flags.get("sign_by_sigstore_private_key"),
        sign_passphrase_file=flags.get("sign_passphrase_file"),
        sigstore_passphrase=passphrase(),
        sign_identity=flags.get("sign_identity"),
    )


def load_registries(path: str | None) -> RegistriesConfig:
    from lamina.transports.registries_conf import RegistriesConfig

    return RegistriesConfig.load(path)


def options_for(
    creds: str | None,
    authfile: str | None,
    tls_verify: bool | None,
    cert_dir: str | None = None,
    retry_times: int | None = None,
) -> RegistryOptions:
    from lamina.ops.locations import registry_options

    return registry_options(
        creds=creds,
        authfile=authfile,
        tls_verify=tls_verify,
        cert_dir=cert_dir,
        retry_times=retry_times,
    )


def binary_size(size: int) -> str:
    """`11.4 MiB`: binary units, as podman writes transfer sizes."""
    from rich.filesize import pick_unit_and_suffix

    unit, suffix = pick_unit_and_suffix(size, ["bytes", "KiB", "MiB", "GiB", "TiB"], 1024)
    return f"{size} {suffix}" if unit == 1 else f"{size / unit:.1f} {suffix}"


class ProgressView:
    """Shows copy events on stderr: a rich bar per blob on a terminal, plain lines
    otherwise, nothing with `quiet`. Use as a context manager; call it with events.

    Sizes are binary (MiB). A bar whose bytes have all passed says `finishing` until its
    blob is done (then `done`). The summary lines (`Writing manifest…`, `Copied to…`) come
    once each per copy, below its finished bars: the bars stop when the top manifest is
    written, and the next copy's blobs (`pull --all-tags`) get fresh bars."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.rich = not quiet and sys.stderr.isatty()
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._said: set[str] = set()

    def __enter__(self) -> ProgressView:
        self._start()
        return self

    def _start(self) -> None:
        """Fresh bars (for the first copy, or the next one of several, as `pull -a`)."""
        self._tasks.clear()
        if self.rich and self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                DownloadColumn(binary_units=True),
                _state_column(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _line(self, text: str) -> None:
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
        else:
            echo_err(text)

    def _summary(self, text: str) -> None:
        """A line below the bars, said once."""
        if text not in self._said:
            self._said.add(text)
            self._stop()
            echo_err(text)

    def __call__(self, event: ProgressEvent) -> None:
        if self.quiet:
            return
        from lamina import media_types as mt
        from lamina.copy import (
            BlobDone,
            BlobProgress,
            BlobSkipped,
            BlobStarted,
            CopyDone,
            ManifestWritten,
        )

        if isinstance(event, BlobStarted | BlobSkipped) and self._said:  # the next copy
            self._said.clear()
            self._start()
        if isinstance(event, BlobStarted | BlobSkipped):
            kind = "config" if event.media_type in mt.CONFIG_TYPES else "blob"
            label = f"Copying {kind} {event.digest.hex[:12]}"
        if isinstance(event, BlobStarted):
            task = self._tasks.get(str(event.digest))
            if self._progress is None:
                self._line(f"{label} ({binary_size(event.size)})")
            elif task is not None:  # the same blob again (another instance, a retry)
                self._progress.reset(task, total=event.size, state="")
            else:
                task = self._progress.add_task(label, total=event.size, state="")
                self._tasks[str(event.digest)] = task
        elif isinstance(event, BlobProgress) and self._progress is not None:
            task = self._tasks.get(str(event.digest))
            if task is not None:
                self._progress.update(task, completed=event.done)
        elif isinstance(event, BlobDone) and self._progress is not None:
            task = self._tasks.get(str(event.digest))
            if task is not None:
                self._progress.update(task, completed=event.size, state="done")
        elif isinstance(event, BlobSkipped):
            why = "already exists" if event.reason == "exists" else "foreign layer"
            self._line(f"{label} skipped: {why}")
        elif isinstance(event, ManifestWritten) and not event.instance:
            self._summary("Writing manifest to image destination")
        elif isinstance(event, CopyDone):
            self._summary(f"Copied to {event.destination} ({event.digest})")


def _state_column() -> Any:
    """The last column: the speed (binary units) while bytes flow, `finishing` once all
    have passed but the blob is not yet done, `done` after."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class StateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            if task.fields.get("state") == "done":
                return Text("done", style="progress.percentage")
            if task.total is not None and task.completed >= task.total:
                return Text("finishing", style="progress.percentage")
            speed = task.finished_speed or task.speed
            if speed is None:
                return Text("?", style="progress.data.speed")
            return Text(f"{binary_size(int(speed))}/s", style="progress.data.speed")

    return StateColumn()


def copy_image(
    source: str,
    destination: str,
    *,
    store: Callable[[], Store],
    trust: Callable[[], TrustOptions],
    all_: bool = False,
    multi_arch: str | None = None,
    platform: str | None = None,
    preserve_digests: bool = False,
    manifest_format: str | None = None,
    dest_compress_format: str | None = None,
    remove_signatures: bool = False,
    src_creds: str | None = None,
    dest_creds: str | None = None,
    authfile: str | None = None,
    src_authfile: str | None = None,
    dest_authfile: str | None = None,
    src_cert_dir: str | None = None,
    dest_cert_dir: str | None = None,
    src_tls_verify: bool | None = None,
    dest_tls_verify: bool | None = None,
    retry_times: int = 0,
    digestfile: str | None = None,
    registries_conf: str | None = None,
    quiet: bool = False,
) -> None:
    """Copy the image at `source` to `destination`. `trust` is called once, after the
    other flags are checked (it may print the --insecure-policy warning)."""
    from lamina.copy.parallel import CopyOptions
    from lamina.ops.copying import CopyRequest
    from lamina.ops.copying import copy as copy_op
    from lamina.platform import Platform

    mode = "all" if all_ else (multi_arch or "system")
    request = CopyRequest(
        src_options=options_for(src_creds, src_authfile or authfile, src_tls_verify, src_cert_dir),
        dst_options=options_for(
            dest_creds, dest_authfile or authfile, dest_tls_verify, dest_cert_dir
        ),
        copy=CopyOptions(
            multi_arch=mode,
            platform=Platform.parse(platform) if platform else None,
            preserve_digests=preserve_digests,
            manifest_format=manifest_format,
            compression=dest_compress_format,
            remove_signatures=remove_signatures,
        ),
        retry_times=retry_times,
        registries=load_registries(registries_conf),
        trust=trust(),
    )
    with ProgressView(quiet) as view:
        shown = None if quiet else view
        digest = copy_op(source, destination, store, request, shown)
    if digestfile:
        with open(digestfile, "w", encoding="utf-8") as f:
            f.write(str(digest))
