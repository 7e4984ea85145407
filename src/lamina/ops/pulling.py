"""`lamina pull` and `lamina push`: between the local store and registries.

Pull resolves what the user typed as podman does: a short name through registries.conf
aliases, then each unqualified-search registry in order; each candidate is tried at its
mirrors first, then at its own location (rewritten by `[[registry]]`); a blocked registry is
refused. The image is stored under the candidate's name, wherever it came from, and judged
by the policy as that name (containers/image's logical reference): a mirror's location never
picks the policy scope or the signed identity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lamina.copy import alltransports
from lamina.copy.parallel import CopyOptions
from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput, LaminaError, NotFound, TransportError
from lamina.ops.copying import CopyRequest, copy_refs
from lamina.ops.locations import Locations, registry_reference
from lamina.ops.trust import TrustOptions
from lamina.reference import Reference
from lamina.store import Store
from lamina.store.names import has_domain, parse_query
from lamina.store.transport import StoreReference
from lamina.transports.base import ImageReference
from lamina.transports.registries_conf import PullSource, RegistriesConfig
from lamina.transports.registry import RegistryOptions, RegistryReference, RegistrySource

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressCallback


@dataclass(frozen=True, slots=True, kw_only=True)
class Pulled:
    name: str
    digest: Digest
    image_id: str
    source: str


def _source_ref(source: PullSource, options: RegistryOptions) -> RegistryReference:
    opts = replace(options, insecure=True) if source.insecure else options
    return RegistryReference(source.ref, opts)


def pull(
    store: Store,
    name: str,
    *,
    options: RegistryOptions | None = None,
    registries: RegistriesConfig | None = None,
    copy_options: CopyOptions | None = None,
    all_tags: bool = False,
    retry_times: int = 0,
    progress: ProgressCallback | None = None,
    trust: TrustOptions | None = None,
) -> list[Pulled]:
    """Pull `name` (short or qualified, optionally `docker://…`) into `store`. The image
    must pass the policy `trust` names (the default policy when None) before any layer
    is read."""
    opts = options or RegistryOptions()
    trust = trust or TrustOptions()
    conf = registries if registries is not None else RegistriesConfig.load()
    text = name.removeprefix("docker://")
    if all_tags and ("@" in text or _has_tag(text)):
        raise InvalidInput(
            f"pull --all-tags {name!r}: name a repository without a tag or digest",
            hint="e.g. lamina pull --all-tags 127.0.0.1:5000/app",
        )
    candidates = conf.resolve_short_name(text)
    errors: list[LaminaError] = []
    for candidate in candidates:
        try:
            if all_tags:
                return _pull_all_tags(
                    store, candidate, opts, conf, copy_options, retry_times, progress, trust
                )
            return [
                _pull_one(store, candidate, opts, conf, copy_options, retry_times, progress, trust)
            ]
        except (NotFound, TransportError) as err:
            if len(candidates) == 1:
                raise
            errors.append(err)
    tried = "; ".join(e.message for e in errors)
    raise NotFound(
        f"pulling {name}: not found in any of {', '.join(str(c) for c in candidates)}: {tried}",
        code=ErrorCode.MANIFEST_UNKNOWN,
        hint="check the name and tag, or use a fully qualified name",
    )


def _has_tag(text: str) -> bool:
    slash, colon = text.rfind("/"), text.rfind(":")
    return colon > slash


def _pull_one(
    store: Store,
    candidate: Reference,
    opts: RegistryOptions,
    conf: RegistriesConfig,
    copy_options: CopyOptions | None,
    retry_times: int,
    progress: ProgressCallback | None,
    trust: TrustOptions,
) -> Pulled:
    sources = conf.pull_sources(candidate)
    stored_name = str(candidate) if candidate.digest is None else candidate.name
    # by digest (no tag): stored untagged, found as REPO@DIGEST (podman's digest name)
    dst = StoreReference(store, stored_name if candidate.tag else str(candidate))
    request = CopyRequest(copy=copy_options or CopyOptions(), retry_times=retry_times, trust=trust)
    last: LaminaError | None = None
    for source in sources:
        src = _source_ref(source, opts)
        moved = source.mirror or source.ref != candidate
        try:
            digest = copy_refs(src, dst, request, progress, requested=candidate if moved else None)
        except (NotFound, TransportError) as err:
            last = err
            if source.mirror:
                continue  # a mirror that lacks the image (or is down) is not fatal
            raise
        entry = store.lookup(f"{candidate.name}@{digest}" if not candidate.tag else stored_name)
        return Pulled(name=stored_name, digest=digest, image_id=entry.id, source=src.describe())
    assert last is not None
    raise last


def _pull_all_tags(
    store: Store,
    candidate: Reference,
    opts: RegistryOptions,
    conf: RegistriesConfig,
    copy_options: CopyOptions | None,
    retry_times: int,
    progress: ProgressCallback | None,
    trust: TrustOptions,
) -> list[Pulled]:
    tags = list_tags(str(candidate), opts, registries=conf)
    return [
        _pull_one(
            store, candidate.with_tag(t), opts, conf, copy_options, retry_times, progress, trust
        )
        for t in tags
    ]


def push(
    store: Store,
    image: str,
    dest: str | None = None,
    *,
    options: RegistryOptions | None = None,
    registries: RegistriesConfig | None = None,
    copy_options: CopyOptions | None = None,
    retry_times: int = 0,
    progress: ProgressCallback | None = None,
    trust: TrustOptions | None = None,
) -> tuple[str, Digest]:
    """Push the stored `image` to `dest` (a location, or `HOST/REPO:TAG` for a registry;
    default: the image's own name). Returns the destination and the digest written.
    `trust` may sign what is written (`sign_by`, `sign_by_sigstore_key`)."""
    opts = options or RegistryOptions()
    entry = store.lookup(image)
    dst_ref: ImageReference
    if dest is None:
        target = _own_name(image, entry.names)
        dst_ref = registry_reference(f"//{target}", opts, registries)
    elif dest.partition(":")[0] in {*alltransports.transports(), "docker", "lamina"}:
        dst_ref = Locations(store, opts, registries).parse(dest)
    else:
        dst_ref = registry_reference(f"//{dest}", opts, registries)
    src_ref = StoreReference(store, image)
    request = CopyRequest(
        copy=copy_options or CopyOptions(), retry_times=retry_times, trust=trust or TrustOptions()
    )
    digest = copy_refs(src_ref, dst_ref, request, progress)
    return dst_ref.describe(), digest


def _own_name(image: str, names: tuple[str, ...]) -> str:
    query = parse_query(image)
    if has_domain(image) and query.full is not None:
        return query.full
    for n in names:
        if query.id_prefix is None and query.matches_name(n):
            return n
    if names:
        return names[0]
    raise InvalidInput(
        f"push {image}: the image has no name to push to",
        hint="give a destination: lamina push IMAGE HOST/REPO:TAG",
    )


def list_tags(
    location: str,
    options: RegistryOptions | None = None,
    *,
    registries: RegistriesConfig | None = None,
) -> list[str]:
    """The tags of a registry repository (`docker://HOST/REPO` or `HOST/REPO`)."""
    body = location.removeprefix("docker:")
    if not body.startswith("//"):
        body = "//" + body
    ref = registry_reference(body, options or RegistryOptions(), registries)
    src = RegistrySource(ref)
    try:
        return src.list_tags()
    finally:
        src.close()
