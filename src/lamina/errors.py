"""One error tree with stable codes. Only the CLI prints errors or exits.

Codes that the distribution spec defines are spelled as it spells them, so the registry
server can put `err.code` on the wire verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    # distribution-spec codes, verbatim
    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    # lamina's own
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INTEGRITY = "INTEGRITY"
    TRANSPORT = "TRANSPORT"
    UNSAFE_CONTENT = "UNSAFE_CONTENT"
    CONFLICT = "CONFLICT"
    CONTAINERFILE = "CONTAINERFILE"
    BUILD = "BUILD"
    TRUST = "TRUST"
    INTERNAL = "INTERNAL"


class LaminaError(Exception):
    """Base of every error lamina raises on purpose.

    `code` is stable and machine-readable; `retryable` says whether the same call may
    succeed later; `hint` is an optional sentence telling the user what to do.
    """

    default_code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        retryable: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: ErrorCode = code if code is not None else self.default_code
        self.retryable = retryable
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(LaminaError):
    """Something a user or peer gave is malformed (a reference, JSON, a flag, a tar)."""

    default_code = ErrorCode.INVALID_INPUT


class NotFound(LaminaError):
    """A named thing (image, blob, tag, container, file) does not exist."""

    default_code = ErrorCode.NOT_FOUND


class IntegrityError(LaminaError):
    """Bytes do not match the size or digest they were promised to have."""

    default_code = ErrorCode.INTEGRITY


class UnsafeContent(InvalidInput):
    """A layer or archive tried to do something outside what is allowed (escape the root)."""

    default_code = ErrorCode.UNSAFE_CONTENT


class Conflict(LaminaError):
    """The operation clashes with existing state (a name in use, an image still used)."""

    default_code = ErrorCode.CONFLICT


class TransportError(LaminaError):
    """Reading from or writing to a transport failed."""

    default_code = ErrorCode.TRANSPORT


class RegistryError(TransportError):
    """A registry answered with an error."""


class AuthError(TransportError):
    """Authentication or authorisation failed."""

    default_code = ErrorCode.UNAUTHORIZED


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """A place in a text file: 1-based line and column, and the line's text."""

    file: str
    line: int
    column: int = 1
    end_line: int | None = None
    end_column: int | None = None
    text: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class ContainerfileError(InvalidInput):
    """A Containerfile is malformed; `span` says where."""

    default_code = ErrorCode.CONTAINERFILE

    def __init__(self, message: str, span: SourceSpan, *, hint: str | None = None) -> None:
        super().__init__(f"{span}: {message}", hint=hint)
        self.span = span


class BuildError(LaminaError):
    """A build step failed."""

    default_code = ErrorCode.BUILD


class RunFailed(BuildError):
    """A RUN step's command exited non-zero; `exit_code` is its code (128+N if killed by
    signal N), which `lamina build` exits with, as buildah does."""

    def __init__(self, message: str, *, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = exit_code


class TrustError(LaminaError):
    """A signature or policy check refused an image, or signing failed."""

    default_code = ErrorCode.TRUST


def cannot_write(target: object, exc: OSError) -> InvalidInput:
    """The error for a write the OS refused while making a staging file or directory beside
    `target`: it names `target` (the path the user gave), never the staging name."""
    return InvalidInput(
        f"cannot write {target}: {exc.strerror or exc}",
        hint="name a path in a directory you can create files in",
    )
