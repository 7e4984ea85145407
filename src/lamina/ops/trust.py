"""Trust for the commands that move images: which policy admits a source, which keys sign
what is written, and where signatures are read and written (registries.d).

`TrustOptions` is what `--policy`, `--insecure-policy`, `--sign-by`,
`--sign-by-sigstore-private-key`, `--sign-passphrase-file` and `--sign-identity` set.
`prepare(src, dst, options)` wraps both references so signatures move with the image
(lookaside, attachments, the registry extension) and returns the admission check copy
calls before it reads any layer. The policy is found as podman finds it (`--policy`,
`~/.config/containers/policy.json`, `/etc/containers/policy.json`); only
`insecure_policy` skips the check (the CLI warns).

Pulls through a registries.conf mirror pass `requested=` (the reference the user asked for)
to `prepare`/`admission_for`: the policy scope and signed identity are then those of the
requested name, whatever location the bytes come from (containers/image's logical
reference). For an index, containers/image checks the top-level manifest and, for every
instance it copies, that instance's own manifest and signatures: copy calls the same
check per instance (`PolicyContext.needs_signatures` tells whether fetching an instance's
signatures is needed at all).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.errors import ErrorCode, InvalidInput, NotFound

if TYPE_CHECKING:  # the trust stack is imported by the functions that use it (start-up time)
    from lamina.copy.admission import AdmissionCheck
    from lamina.reference import Reference
    from lamina.transports.base import ImageReference
    from lamina.trust.policy import Policy
    from lamina.trust.signed_refs import SignatureStorage
    from lamina.trust.signer import Signer

PASSPHRASE_ENV = "COSIGN_PASSWORD"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustOptions:
    policy: str | None = None
    insecure_policy: bool = False
    sign_by: str | None = None
    sign_by_sigstore_key: str | None = None
    sign_passphrase_file: str | None = None
    sigstore_passphrase: bytes | None = None
    sign_identity: str | None = None
    gpg_homedir: str | None = None
    registries_d: str | None = None

    @property
    def signs(self) -> bool:
        return bool(self.sign_by or self.sign_by_sigstore_key)


def load_policy(path: str | None = None) -> Policy:
    """The policy at `path`, else the user's, else the system one; NotFound with a hint."""
    from lamina.trust.policy import Policy, find_policy_path

    found = find_policy_path(path)
    if not found.exists():
        raise NotFound(
            f"no policy file: {found} does not exist",
            code=ErrorCode.NAME_UNKNOWN,
            hint="write one (lamina trust set …), give --policy FILE, or accept any "
            "image with --insecure-policy",
        )
    return Policy.load(found)


def admission_for(
    options: TrustOptions, *, requested: Reference | None = None
) -> AdmissionCheck | None:
    """The policy check a copy must pass (None only with `insecure_policy`); with
    `requested`, every source is judged as `docker://requested` (mirrors)."""
    if options.insecure_policy:
        return None
    from lamina.trust.evaluate import PolicyContext

    context = PolicyContext(load_policy(options.policy))
    return context if requested is None else context.as_requested(requested)


def sigstore_passphrase(options: TrustOptions) -> bytes:
    if options.sigstore_passphrase is not None:
        return options.sigstore_passphrase
    if options.sign_passphrase_file:
        try:
            return Path(options.sign_passphrase_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise InvalidInput(
                f"passphrase file {options.sign_passphrase_file}: {exc.strerror}"
            ) from None
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env.encode()
    raise InvalidInput(
        "the cosign private key needs a passphrase",
        hint=f"set {PASSPHRASE_ENV} or give --sign-passphrase-file FILE",
    )


def signers_for(options: TrustOptions) -> list[Signer]:
    if not options.signs:
        return []  # (the signing modules load only when asked to sign)
    from lamina.trust.signer import SigstoreSigner, SimpleSigner

    signers: list[Signer] = []
    if options.sign_by:
        passphrase_file = options.sign_passphrase_file if not options.sign_by_sigstore_key else None
        signers.append(
            SimpleSigner(
                key=options.sign_by,
                homedir=options.gpg_homedir,
                passphrase_file=passphrase_file,
            )
        )
    if options.sign_by_sigstore_key:
        signers.append(
            SigstoreSigner.from_file(options.sign_by_sigstore_key, sigstore_passphrase(options))
        )
    return signers


def storage_for(options: TrustOptions) -> SignatureStorage:
    from lamina.trust.signed_refs import SignatureStorage

    return SignatureStorage.load(options.registries_d)


class PreparedTrust:
    """What `prepare` loads (the policy, registries.d, signing keys), loaded once: many copies
    (a sync) then share it instead of reading the files again for every image."""

    def __init__(self, options: TrustOptions, *, requested: Reference | None = None) -> None:
        self.options = options
        self.admission = admission_for(options, requested=requested)
        self.storage = storage_for(options)
        self.signers = signers_for(options)

    def wrap(
        self, src: ImageReference, dst: ImageReference
    ) -> tuple[ImageReference, ImageReference, AdmissionCheck | None]:
        from lamina.trust.signed_refs import SignedReference

        return (
            SignedReference(src, self.storage),
            SignedReference(dst, self.storage, self.signers, self.options.sign_identity),
            self.admission,
        )


def prepare(
    src: ImageReference,
    dst: ImageReference,
    options: TrustOptions,
    *,
    requested: Reference | None = None,
) -> tuple[ImageReference, ImageReference, AdmissionCheck | None]:
    """Wrap `src` and `dst` for signatures (and signing), and give the admission check
    (judging the source as `requested` when given: a mirror of it). Keys are loaded here,
    so a wrong passphrase fails before any byte moves."""
    return PreparedTrust(options, requested=requested).wrap(src, dst)
