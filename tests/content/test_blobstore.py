"""BlobStore.put_stream: an already-stored blob is not re-read, but its size is still checked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lamina.content.blobstore import BlobStore
from lamina.digest import Digest
from lamina.errors import ErrorCode, IntegrityError


def test_put_stream_existing_blob_skips_read(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"hello blob"
    d = store.put_bytes(data)
    stream = io.BytesIO(b"not read")
    assert store.put_stream(stream, d, len(data)) == (d, len(data))
    assert stream.tell() == 0


def test_put_stream_existing_blob_wrong_size(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"hello blob"
    d = store.put_bytes(data)
    with pytest.raises(IntegrityError) as ei:
        store.put_stream(io.BytesIO(data), d, len(data) + 1)
    assert ei.value.code == ErrorCode.SIZE_INVALID


def test_put_stream_new_blob_wrong_size(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"hello blob"
    with pytest.raises(IntegrityError) as ei:
        store.put_stream(io.BytesIO(data), Digest.of_bytes(data), len(data) + 1)
    assert ei.value.code == ErrorCode.SIZE_INVALID
