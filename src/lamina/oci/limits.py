"""Size limits of wire documents, in one place (importing this loads no parser)."""

from __future__ import annotations

# The largest manifest or index lamina reads or accepts, in bytes (Distribution's limit).
MAX_MANIFEST_SIZE = 4 << 20
