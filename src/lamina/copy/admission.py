"""The admission seam: what `copy` asks before it reads any layer or config blob.

`copy` knows nothing of policies or crypto; a caller hands it an `AdmissionCheck`
(`lamina.trust.evaluate.PolicyContext` is one). copy asks it about exactly the manifests
containers/image's copy.Image passes to `IsRunningImageAllowed` (copy/copy.go, copy/single.go
copySingleImage, copy/multiple.go copyMultipleImages), each with its own signatures:

- a single image: its (top-level) manifest, through `check`;
- one platform out of an index: the chosen instance only (copy.Image hands
  copySingleImage the `UnparsedInstance`, never the list);
- every instance out of an index (`--all`, `--multi-arch all`): each image instance copied,
  all of them before the first blob of any is read; the index itself is not judged
  (copyMultipleImages has no policy check of its own);
- the index alone (`--multi-arch index-only`): containers/image judges nothing here (no
  instance is copied); lamina judges the index, the one manifest that moves.

Instances go through `InstanceCheck` when the check has it, else through `check`. A check
that raises stops the copy; the destination is then closed without commit, so nothing is
stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from lamina.digest import Digest
from lamina.reference import Reference


class AdmissionCheck(Protocol):
    """`src_ref_description` is the source's transport string (`docker://r/a:1`, `dir:/x`);
    `reference` the Docker identity the image is used as (None: derive it from the
    description, or the transport has none); `signatures` the blobs the source gave.
    Returns None, or raises (a TrustError) to refuse the image."""

    def check(
        self,
        src_ref_description: str,
        reference: Reference | None,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None: ...


@runtime_checkable
class InstanceCheck(Protocol):
    """Optional capability of an AdmissionCheck: judging one instance of an index.
    `needs_signatures` says whether the instance's signatures matter at all for this source
    (copy fetches them only then: one request per instance saved on a registry);
    `check_instance` raises (a TrustError naming `instance`) to refuse it."""

    def needs_signatures(self, src_ref_description: str) -> bool: ...

    def check_instance(
        self,
        src_ref_description: str,
        reference: Reference | None,
        instance: Digest,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None: ...


class _SignatureSource(Protocol):
    def signatures(self, digest: Digest) -> list[bytes]: ...


def admit_instance(
    check: AdmissionCheck,
    src: _SignatureSource,
    src_ref_description: str,
    instance: Digest,
    manifest_raw: bytes,
) -> list[bytes] | None:
    """Judge one index instance (`manifest_raw`, already checked against its descriptor).
    Returns the signatures fetched for it (None when the check did not need them)."""
    if isinstance(check, InstanceCheck):
        if not check.needs_signatures(src_ref_description):
            check.check_instance(src_ref_description, None, instance, manifest_raw, [])
            return None
        signatures = src.signatures(instance)
        check.check_instance(src_ref_description, None, instance, manifest_raw, signatures)
        return signatures
    signatures = src.signatures(instance)
    check.check(src_ref_description, None, manifest_raw, signatures)
    return signatures
