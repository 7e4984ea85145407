"""`copy_image`: move an image or an index from any source to any destination, with the
defaults most callers want (every platform of an index; manifests copied verbatim, so digests
never change). It is `lamina.copy.parallel.copy_with` with those options: one copier, so the
rules (verification, skipping, admission, commit-or-nothing) live in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamina.copy.admission import AdmissionCheck
from lamina.digest import Digest
from lamina.platform import Platform
from lamina.transports.base import ImageReference

if TYPE_CHECKING:
    from lamina.copy.progress import ProgressCallback


def copy_image(
    src_ref: ImageReference,
    dst_ref: ImageReference,
    *,
    all_platforms: bool = True,
    platform: Platform | None = None,
    progress: ProgressCallback | None = None,
    admission: AdmissionCheck | None = None,
) -> Digest:
    """Copy the image `src_ref` names to `dst_ref`; return the digest of the top manifest
    written. For an index: every child when `all_platforms` and no `platform` is given,
    else only the child for `platform` (the host's by default), written as a single image.
    `admission` is asked, before any blob is read, as containers/image's policy check is."""
    from lamina.copy.parallel import CopyOptions, copy_with

    multi_arch = "all" if all_platforms and platform is None else "system"
    options = CopyOptions(multi_arch=multi_arch, platform=platform)
    return copy_with(src_ref, dst_ref, options, progress, admission=admission)
