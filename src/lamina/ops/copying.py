"""`lamina copy SRC DST`: any transport to any transport, as skopeo copy does it.

Strings in (locations, flag values), a digest out. A failed copy is tried again up to
`retry_times` times when its error is retryable (a dropped connection, a 5xx, 429);
never for a refused credential, a missing image or bytes that did not verify.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from lamina.copy.parallel import Copied, CopyOptions, copy_reporting
from lamina.digest import Digest
from lamina.errors import LaminaError
from lamina.ops.locations import Locations, StoreOpener
from lamina.ops.trust import PreparedTrust, TrustOptions, prepare
from lamina.transports.registry.options import RegistryOptions

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressCallback
    from lamina.reference import Reference
    from lamina.store import Store
    from lamina.transports.base import ImageReference
    from lamina.transports.registries_conf import RegistriesConfig

RETRY_DELAY = 1.0
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyRequest:
    """Everything `copy` needs besides the two locations."""

    src_options: RegistryOptions = field(default_factory=RegistryOptions)
    dst_options: RegistryOptions = field(default_factory=RegistryOptions)
    copy: CopyOptions = field(default_factory=CopyOptions)
    retry_times: int = 0
    registries: RegistriesConfig | None = None
    trust: TrustOptions = field(default_factory=TrustOptions)


def with_retries(retry_times: int, fn: Callable[[], T], *, delay: float = RETRY_DELAY) -> T:
    """Call `fn` until it succeeds, or fails with a non-retryable error, or `retry_times`
    extra attempts are spent (then the last error is raised)."""
    attempt = 0
    while True:
        try:
            return fn()
        except LaminaError as err:
            if not err.retryable or attempt >= retry_times:
                raise
            attempt += 1
            time.sleep(min(delay * (2 ** (attempt - 1)), 30.0))


def copy(
    src: str,
    dst: str,
    store: Store | StoreOpener | None,
    request: CopyRequest | None = None,
    progress: ProgressCallback | None = None,
) -> Digest:
    """Copy the image at location `src` to location `dst`; return the digest written."""
    req = request or CopyRequest()
    src_ref = Locations(store, req.src_options, req.registries).parse(src)
    dst_ref = Locations(store, req.dst_options, req.registries).parse(dst)
    return copy_refs(src_ref, dst_ref, req, progress)


def copy_refs(
    src_ref: ImageReference,
    dst_ref: ImageReference,
    request: CopyRequest,
    progress: ProgressCallback | None = None,
    *,
    requested: Reference | None = None,
    trust: PreparedTrust | None = None,
) -> Digest:
    """Copy under the trust options of `request`; with `requested` (a pull from a mirror or
    a rewritten location) the source is judged by the policy as `docker://requested`.
    `trust`: the policy and signature storage already loaded for `request.trust` (many
    copies of one command share them)."""
    plain_src, plain_dst = src_ref, dst_ref
    if trust is not None and requested is None:
        src_ref, dst_ref, admission = trust.wrap(src_ref, dst_ref)
    else:
        src_ref, dst_ref, admission = prepare(src_ref, dst_ref, request.trust, requested=requested)
    copied = with_retries(
        request.retry_times,
        lambda: copy_reporting(src_ref, dst_ref, request.copy, progress, admission=admission),
    )
    if request.copy.multi_arch == "all" and plain_src.transport == plain_dst.transport == "docker":
        _copy_referrers(plain_src, plain_dst, copied, request.retry_times)
    return copied.digest


def _copy_referrers(
    src_ref: ImageReference, dst_ref: ImageReference, copied: Copied, retry_times: int
) -> None:
    """With --all, registry to registry: the image's referrers (and its children's) go
    along when the copy kept the source's digests (see ops.referrers). The source's top
    manifest is the one the copy read (not fetched again)."""
    import logging

    from lamina.ops.referrers import children, copy_referrers

    # (A sync's references share its clients: the referrers are copied through them too.)
    digest = copied.digest
    raw, media_type = copied.source_manifest
    if Digest.of_bytes(raw, digest.algorithm) != digest:
        logging.getLogger("lamina.copy").warning(
            "referrers of %s not copied: the copy changed its digest", src_ref.describe()
        )
        return
    subjects = [digest, *children(raw, media_type)]
    with_retries(retry_times, lambda: copy_referrers(src_ref, dst_ref, subjects))
