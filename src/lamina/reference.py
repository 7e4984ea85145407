"""Image references in the docker reference grammar, normalised as podman does.

`alpine` → `docker.io/library/alpine:latest`; `localhost/x` stays on `localhost`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
DOMAIN = rf"{_HOST}(?::[0-9]+)?"
TAG = r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}"  # the spec's: ASCII (Python's \w is not)

# Matched with fullmatch: `$` would also match before a trailing newline.
_REPOSITORY_RE = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(DOMAIN)
_TAG_RE = re.compile(TAG)
_ID_PATTERN = r"[a-f0-9]{64}"  # compiled on first use (re caches it)


def validate_repository(name: str) -> str:
    """Check a repository path (no domain) against the distribution spec's grammar."""
    if not name or len(name) > NAME_TOTAL_LENGTH_MAX or not _REPOSITORY_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid repository name {name[:300]!r}: components are lowercase letters and "
            "digits separated by '.', '_', '__' or '-', joined by '/'",
            code=ErrorCode.NAME_INVALID,
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG_RE.fullmatch(tag):
        raise InvalidInput(
            f"invalid tag {tag[:200]!r}: up to 128 of letters, digits, '_', '.', '-', "
            "not starting with '.' or '-'",
            code=ErrorCode.MANIFEST_INVALID,
        )
    return tag


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A normalised reference: `domain/path[:tag][@digest]`."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @staticmethod
    def parse(text: str, *, default_tag: bool = True) -> Reference:
        """Parse and normalise. Without a tag or digest, `latest` is assumed if `default_tag`."""
        original = text
        if not text or text != text.strip():
            raise _bad(original, "empty or surrounded by spaces")
        digest: Digest | None = None
        if "@" in text:
            text, _, digest_text = text.partition("@")
            try:
                digest = Digest.parse(digest_text)
            except InvalidInput as exc:
                raise _bad(original, str(exc)) from None
        tag: str | None = None
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not _TAG_RE.fullmatch(tag):
                raise _bad(original, f"invalid tag {tag!r}")
        domain, path = split_domain(text)
        if not _DOMAIN_RE.fullmatch(domain):
            raise _bad(original, f"invalid registry host {domain!r}")
        if not _REPOSITORY_RE.fullmatch(path):
            if path.lower() != path and _REPOSITORY_RE.fullmatch(path.lower()):
                raise _bad(original, "repository names must be lowercase")
            raise _bad(original, f"invalid repository path {path!r}")
        if len(domain) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
            raise _bad(original, f"name longer than {NAME_TOTAL_LENGTH_MAX} characters")
        if tag is None and digest is None and default_tag:
            tag = DEFAULT_TAG
        return Reference(domain=domain, path=path, tag=tag, digest=digest)

    @staticmethod
    def is_image_id(text: str) -> bool:
        """True for a full 64-hex image ID (which podman does not treat as a name)."""
        return bool(re.fullmatch(_ID_PATTERN, text))

    @property
    def name(self) -> str:
        """`domain/path`, without tag or digest."""
        return f"{self.domain}/{self.path}"

    @property
    def repository(self) -> str:
        return self.path

    def with_tag(self, tag: str) -> Reference:
        validate_tag(tag)
        return Reference(domain=self.domain, path=self.path, tag=tag)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(domain=self.domain, path=self.path, digest=digest)

    def familiar(self) -> str:
        """The short form users type: `alpine:3` for `docker.io/library/alpine:3`."""
        name = self.name
        if self.domain == DEFAULT_DOMAIN:
            name = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        return name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        if self.digest:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()


def split_domain(name: str) -> tuple[str, str]:
    """Split `name` into (domain, path), applying Docker Hub's defaults."""
    first, sep, rest = name.partition("/")
    if not sep or not (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    ):
        domain, path = DEFAULT_DOMAIN, name
    else:
        domain, path = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


def _bad(text: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"invalid image reference {text[:300]!r}: {why}",
        code=ErrorCode.NAME_INVALID,
        hint="expected [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], e.g. localhost/app:1.0",
    )
