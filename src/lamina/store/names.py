"""Image names in the store: normalising new names and resolving what users type.

Names are stored as normalised references with a tag (`localhost/app:1`,
`docker.io/library/busybox:latest`). A new name without a registry host gets `localhost/`, as
`podman tag` and `buildah commit` do. A short name a user looks up (`busybox`, `busybox:1`,
`lib/app`) matches any stored name whose repository path is that name or ends with
`/<name>` (so `busybox` finds `localhost/busybox` and `docker.io/library/busybox`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.reference import DEFAULT_TAG, Reference

_HEX_PREFIX = re.compile(r"^[a-f0-9]{3,64}$")


def has_domain(text: str) -> bool:
    """True if `text` starts with an explicit registry host (`quay.io/`, `localhost/`)."""
    first, sep, _ = text.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def normalize_new_name(text: str) -> str:
    """A name to store: `localhost/` added to a host-less name, `:latest` to an untagged one.

    Raises InvalidInput for malformed names, digests (a name points at a tag) and image IDs.
    """
    if Reference.is_image_id(text):
        raise InvalidInput(
            f"invalid image name {text!r}: a 64-hex name would be taken for an image ID",
            code=ErrorCode.NAME_INVALID,
        )
    ref = Reference.parse(text if has_domain(text) else f"localhost/{text}")
    if ref.digest is not None:
        raise InvalidInput(
            f"invalid image name {text!r}: a stored name takes a tag, not a digest",
            code=ErrorCode.NAME_INVALID,
            hint="tag it as NAME:TAG instead",
        )
    return str(ref)


def split_new_names(names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(names to store, digest names) for names given to a stored image: `REPO@DIGEST`
    (a pull by digest) is kept as a digest name (normalised; see
    `lamina.store.ingest.set_repo_digests`); every other name is normalised by
    `normalize_new_name`."""
    tagged: list[str] = []
    by_digest: list[str] = []
    for text in names:
        if "@" in text and has_domain(text):
            ref = Reference.parse(text, default_tag=False)
            if ref.digest is not None and ref.tag is None:
                by_digest.append(f"{ref.name}@{ref.digest}")
                continue
        tagged.append(normalize_new_name(text))
    return tagged, by_digest


@dataclass(frozen=True, slots=True)
class Query:
    """What a lookup string asks for.

    `full` is set for a fully qualified name; `short_path` for a short one. `digest` is set
    for `name@sha256:…`. `id_prefix` is set when the text could be an image ID (prefix).
    """

    text: str
    full: str | None = None
    repo: str | None = None
    short_path: str | None = None
    tag: str | None = None
    digest: Digest | None = None
    id_prefix: str | None = None

    def matches_name(self, stored: str) -> bool:
        """True if the stored name (domain/path:tag) is one this query's name denotes."""
        ref = Reference.parse(stored)
        if self.digest is None and ref.tag != self.tag:
            return False
        if self.repo is not None:
            return ref.name == self.repo
        assert self.short_path is not None
        return ref.path == self.short_path or ref.path.endswith("/" + self.short_path)


def parse_query(text: str) -> Query:
    """Classify a lookup string; raise InvalidInput if it is neither an ID nor a name."""
    if text.startswith("sha256:") and Reference.is_image_id(text[7:]):
        return Query(text, id_prefix=text[7:])
    id_prefix = text if _HEX_PREFIX.match(text) else None
    if Reference.is_image_id(text):
        return Query(text, id_prefix=text)
    try:
        ref = Reference.parse(text, default_tag=False)
    except InvalidInput:
        if id_prefix:
            return Query(text, id_prefix=id_prefix)
        raise
    tag = ref.tag if ref.tag or ref.digest else DEFAULT_TAG
    if has_domain(text):
        return Query(
            text,
            full=str(Reference(domain=ref.domain, path=ref.path, tag=tag)),
            repo=ref.name,
            tag=tag,
            digest=ref.digest,
            id_prefix=id_prefix,
        )
    bare = text.partition("@")[0]
    slash, colon = bare.rfind("/"), bare.rfind(":")
    short_path = bare[:colon] if colon > slash else bare
    return Query(text, short_path=short_path, tag=tag, digest=ref.digest, id_prefix=id_prefix)
