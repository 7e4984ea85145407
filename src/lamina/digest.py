"""Content digests (`algorithm:encoded`), as the OCI image spec defines them.

Only sha256 and sha512 are registered; anything else is refused with DIGEST_INVALID.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from lamina.errors import ErrorCode, InvalidInput

# The spec's grammar: algorithm-component(separator algorithm-component)* ":" encoded.
# Matched with fullmatch (`$` would also match before a trailing newline); ASCII classes.
_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")


class Hash(Protocol):
    """The part of hashlib's hash objects that lamina uses."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...
    def copy(self) -> Hash: ...


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated digest. `str(d)` is its canonical form `algorithm:hex`."""

    algorithm: str
    hex: str

    @staticmethod
    def parse(text: str) -> Digest:
        """Parse and validate `text`; raise InvalidInput(DIGEST_INVALID) naming what is wrong."""
        if not isinstance(text, str):
            raise InvalidInput(
                f"digest must be a string, got {type(text).__name__}", code=ErrorCode.DIGEST_INVALID
            )
        if not _GRAMMAR.fullmatch(text):
            raise InvalidInput(
                f"invalid digest {text[:80]!r}: expected 'sha256:<64 hex digits>'",
                code=ErrorCode.DIGEST_INVALID,
            )
        algorithm, _, encoded = text.partition(":")
        length = _ALGORITHMS.get(algorithm)
        if length is None:
            raise InvalidInput(
                f"invalid digest {text[:80]!r}: unsupported algorithm {algorithm!r} "
                f"(supported: {', '.join(_ALGORITHMS)})",
                code=ErrorCode.DIGEST_INVALID,
            )
        if len(encoded) != length or not _HEX.fullmatch(encoded):
            raise InvalidInput(
                f"invalid digest {text[:80]!r}: {algorithm} needs {length} lowercase hex digits",
                code=ErrorCode.DIGEST_INVALID,
            )
        return Digest(algorithm, encoded)

    @staticmethod
    def is_valid(text: str) -> bool:
        try:
            Digest.parse(text)
        except InvalidInput:
            return False
        return True

    @staticmethod
    def of_bytes(data: bytes, algorithm: str = "sha256") -> Digest:
        h = new_hash(algorithm)
        h.update(data)
        return Digest(algorithm, h.hexdigest())

    @staticmethod
    def from_hash(h: Hash, algorithm: str) -> Digest:
        return Digest(algorithm, h.hexdigest())

    def new_hash(self) -> Hash:
        """A fresh hash object of this digest's algorithm."""
        return new_hash(self.algorithm)

    @property
    def short(self) -> str:
        """The first 12 hex digits, as image IDs are shown."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def new_hash(algorithm: str = "sha256") -> Hash:
    if algorithm not in _ALGORITHMS:
        raise InvalidInput(
            f"unsupported digest algorithm {algorithm!r}", code=ErrorCode.DIGEST_INVALID
        )
    h: Hash = hashlib.new(algorithm)
    return h


def supported_algorithms() -> tuple[str, ...]:
    return tuple(_ALGORITHMS)
