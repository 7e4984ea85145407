"""Lookaside signature storage: `<base>/<repository path>@<algo>=<hex>/signature-N`, N from 1.

`file://` bases are read and written; `http://` and `https://` bases are read (urllib3):
signatures are read in order until the first missing one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lamina.digest import Digest
from lamina.errors import InvalidInput, TransportError
from lamina.reference import Reference

MAX_SIGNATURE = 4 << 20
MAX_SIGNATURES = 256


def signature_url(base: str, ref: Reference, digest: Digest, index: int) -> str:
    """URL of the `index`-th (from 1) signature of `digest` in `ref`'s repository."""
    return f"{base.rstrip('/')}/{ref.path}@{digest.algorithm}={digest.hex}/signature-{index}"


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(f"lookaside URL {url!r}: file URLs name no host")
    return Path(unquote(parts.path))


def read_signatures(base: str, ref: Reference, digest: Digest) -> list[bytes]:
    scheme = urlsplit(base).scheme
    if scheme not in ("file", "http", "https"):
        raise InvalidInput(f"lookaside URL {base!r}: unsupported scheme {scheme!r}")
    out: list[bytes] = []
    pool = None
    if scheme != "file":
        import urllib3

        pool = urllib3.PoolManager(retries=urllib3.Retry(2, redirect=3))
    for index in range(1, MAX_SIGNATURES + 1):
        url = signature_url(base, ref, digest, index)
        if pool is None:
            path = _file_path(url)
            if not path.is_file():
                break
            data = path.read_bytes()
        else:
            resp = pool.request("GET", url, preload_content=False)
            try:
                if resp.status == 404:
                    break
                if resp.status != 200:
                    raise TransportError(
                        f"GET {url}: HTTP {resp.status}", retryable=resp.status >= 500
                    )
                data = resp.read(MAX_SIGNATURE + 1)
            finally:
                resp.release_conn()
        if len(data) > MAX_SIGNATURE:
            raise InvalidInput(f"{url}: signature larger than {MAX_SIGNATURE} bytes")
        out.append(data)
    return out


def write_signatures(base: str, ref: Reference, digest: Digest, signatures: list[bytes]) -> None:
    """Replace the signatures of `digest` in a `file://` lookaside with `signatures`."""
    if urlsplit(base).scheme != "file":
        raise InvalidInput(f"lookaside URL {base!r}: only file:// can be written")
    for index, sig in enumerate(signatures, start=1):
        path = _file_path(signature_url(base, ref, digest, index))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sig-")
        with os.fdopen(fd, "wb") as f:
            f.write(sig)
        os.replace(tmp, path)
    index = len(signatures) + 1
    while True:
        stale = _file_path(signature_url(base, ref, digest, index))
        if not stale.is_file():
            break
        stale.unlink()
        index += 1
