"""The prefixes that mark sigstore blobs among an image's signatures (containers/image's
on-disk forms), apart from the modules that parse them so that telling the kinds apart
imports no crypto."""

from __future__ import annotations

COSIGN_PREFIX = b"\x00sigstore-json\n"
BUNDLE_PREFIX = b"\x00sigstore-bundle\n"
