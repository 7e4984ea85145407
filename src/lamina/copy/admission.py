"""The admission seam: what `copy` asks before it reads any layer or config blob.

`copy` knows nothing of policies or crypto; a caller hands it an `AdmissionCheck`
(`lamina.trust.evaluate.PolicyContext` is one) and copy calls it exactly once per copy, with
the source's top-level manifest and the signatures the source holds for it, right after
reading them and before any blob is opened. A check that raises stops the copy; the
destination is then closed without commit, so nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
