"""Blobs by digest and verified streams: the one place streamed bytes are checked."""

from lamina.content.blobstore import BlobStore
from lamina.content.compression import Compression, compress_writer, decompress_reader, detect
from lamina.content.verify import CHUNK, HashingWriter, VerifyingReader, copy_verified

__all__ = [
    "CHUNK",
    "BlobStore",
    "Compression",
    "HashingWriter",
    "VerifyingReader",
    "compress_writer",
    "copy_verified",
    "decompress_reader",
    "detect",
]
