"""Which of its two forms a `lamina copy` command line is, decided from the words alone:
buildah's `copy CONTAINER SRC... DEST` or skopeo's `copy SRC-IMAGE DST-IMAGE`.

Kept apart from both commands so that the group can send an image copy straight to
`copy_cmd` without loading the container commands."""

from __future__ import annotations

import re

TRANSPORT = re.compile(
    r"^(docker|oci|oci-archive|docker-archive|dir|containers-storage|lamina|docker-daemon"
    r"|ostree|sif|tarball):"
)
VALUE_OPTIONS = {"--chown", "--chmod"}


def positionals(args: list[str]) -> list[str]:
    """The arguments that are not options (nor values of the container form's options)."""
    out: list[str] = []
    skip = False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a == "--":
            return out + args[i + 1 :]
        if a.startswith("-") and a != "-":
            skip = a in VALUE_OPTIONS
            continue
        out.append(a)
    return out


def surely_image_copy(args: list[str]) -> bool:
    """True when `args` can only be the image form: some positional names a transport (the
    container form never has one), and no help was asked for."""
    if args[:1] in (["--help"], ["-h"]):
        return False
    return any(TRANSPORT.match(p) for p in positionals(args))
