"""Policy evaluation: is this image, with these signatures, allowed?

`PolicyContext(policy).evaluate(...)` finds the scope that applies to the image, then every
requirement of that scope must accept (a signedBy/sigstoreSigned requirement accepts when at
least one signature passes it). Rejection raises TrustError naming the scope and, for each
signature, why it failed.

`PolicyContext` also satisfies `AdmissionCheck`, the small protocol `copy` calls after it has
read the manifest and the signatures and before it reads any layer, and copy's optional
`InstanceCheck` (`needs_signatures`, `check_instance`), which copy uses for every instance of
an index it copies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lamina.digest import Digest
from lamina.errors import InvalidInput, LaminaError, TrustError
from lamina.reference import Reference
from lamina.trust.identity import SignedIdentity
from lamina.trust.internal_forms import BUNDLE_PREFIX, COSIGN_PREFIX
from lamina.trust.policy import Policy
from lamina.trust.policy_scopes import DOCKER_LIKE
from lamina.trust.requirements import Reject, Requirement, SignedBy
from lamina.trust.simple import verify_simple

if TYPE_CHECKING:  # sigstore's modules (and their crypto) load only for sigstore blobs
    from lamina.trust.bundle import Bundle
    from lamina.trust.cosign import CosignSignature


class AdmissionCheck(Protocol):
    """What `copy` calls before reading any layer. `src_ref_description` is the source's
    transport string (`docker://r/a:1`, `dir:/x`); `reference` the Docker identity the image
    is used as (None when the transport has none); `signatures` the blobs the source gave
    (simple-signing and sigstore ones alike). Returns None or raises TrustError."""

    def check(
        self,
        src_ref_description: str,
        reference: Reference | None,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """An accepted image: which scope decided, and what each requirement accepted."""

    transport: str
    scope: str
    accepted: tuple[str, ...]


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TrustError(f"cannot read key file {path}: {exc.strerror}") from None


def split_description(description: str) -> tuple[str, str]:
    """`docker://r/a:1` → (`docker`, `r/a:1`); `dir:/x` → (`dir`, `/x`)."""
    transport, sep, name = description.partition(":")
    if not sep or not transport:
        raise InvalidInput(f"image {description!r}: expected TRANSPORT:NAME")
    if transport == "docker":
        name = name.removeprefix("//")
    return transport, name


def split_signatures(blobs: Sequence[bytes]) -> tuple[list[bytes], list[CosignSignature]]:
    """Separate simple-signing blobs from sigstore ones (containers/image's on-disk forms).
    A sigstore blob that cannot be parsed is kept out and never counts as a signature;
    Sigstore bundles (see `split_bundles`) are in neither list."""
    simple: list[bytes] = []
    cosign: list[CosignSignature] = []
    for blob in blobs:
        if blob.startswith(BUNDLE_PREFIX):
            continue
        if blob.startswith(COSIGN_PREFIX):
            from lamina.trust.cosign import CosignSignature

            try:
                cosign.append(CosignSignature.from_internal(blob))
            except InvalidInput:
                continue
        else:
            simple.append(blob)
    return simple, cosign


def split_bundles(blobs: Sequence[bytes]) -> list[Bundle]:
    """The Sigstore bundles among `blobs` (unparseable ones never count)."""
    out: list[Bundle] = []
    for blob in blobs:
        if blob.startswith(BUNDLE_PREFIX):
            from lamina.trust.bundle import Bundle

            try:
                out.append(Bundle.from_internal(blob))
            except (InvalidInput, TrustError):
                continue
    return out


class PolicyContext:
    """Evaluates images against one policy. `read_file` loads keyPath/keyPaths files."""

    def __init__(self, policy: Policy, *, read_file: Callable[[str], bytes] = _read_file) -> None:
        self.policy = policy
        self._read = read_file

    def check(
        self,
        src_ref_description: str,
        reference: Reference | None,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None:
        transport, name = split_description(src_ref_description)
        simple, cosign = split_signatures(signatures)
        bundles = split_bundles(signatures)
        self.evaluate(transport, name, reference, manifest_raw, simple, cosign, bundles)

    def needs_signatures(self, src_ref_description: str) -> bool:
        """Whether the requirements for this image look at signatures at all (so a caller
        may skip fetching them, e.g. per index instance, as containers/image reads them
        lazily)."""
        transport, name = split_description(src_ref_description)
        _, reqs = self.policy.requirements_for(transport, name)
        return any(r.type in ("signedBy", "sigstoreSigned") for r in reqs)

    def check_instance(
        self,
        src_ref_description: str,
        reference: Reference | None,
        instance: Digest,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None:
        """`check` for one index instance (its own manifest and signatures); the error
        names the instance."""
        try:
            self.check(src_ref_description, reference, manifest_raw, signatures)
        except TrustError as exc:
            raise TrustError(f"index instance {instance}: {exc.message}") from None

    def as_requested(self, requested: Reference) -> AdmissionCheck:
        """An admission check that judges whatever location is read (a registries.conf
        mirror, a rewritten location) as the image the user asked for: policy scope and
        identity come from `docker://requested`, as containers/image uses the logical
        reference, not the physical one."""
        return RequestedName(self, requested)

    def evaluate(
        self,
        transport: str,
        name: str,
        reference: Reference | None,
        manifest_raw: bytes,
        simple_signatures: Sequence[bytes] = (),
        cosign_signatures: Sequence[CosignSignature] = (),
        bundles: Sequence[Bundle] = (),
    ) -> Decision:
        """Accept the image `transport:name` or raise TrustError. For docker-like transports
        `reference` defaults to `name` parsed."""
        if reference is None and transport in DOCKER_LIKE:
            try:
                reference = Reference.parse(name)
            except InvalidInput:
                reference = None
        scope, reqs = self.policy.requirements_for(transport, name)
        where = f"{transport}:{name} (policy scope {transport} {scope!r})"
        if scope == "default":
            where = f"{transport}:{name} (policy default)"
        accepted = []
        for i, req in enumerate(reqs):
            try:
                accepted.append(
                    self._requirement(
                        req, reference, manifest_raw, simple_signatures, cosign_signatures, bundles
                    )
                )
            except TrustError as exc:
                raise TrustError(f"{where}: requirement {i} ({req.type}): {exc.message}") from None
        return Decision(transport=transport, scope=scope, accepted=tuple(accepted))

    def _requirement(
        self,
        req: Requirement,
        reference: Reference | None,
        manifest_raw: bytes,
        simple: Sequence[bytes],
        cosign: Sequence[CosignSignature],
        bundles: Sequence[Bundle],
    ) -> str:
        if isinstance(req, SignedBy):
            return self._signed_by(req, reference, manifest_raw, simple)
        if isinstance(req, Reject):
            raise TrustError("the policy rejects this image")
        from lamina.trust.requirements_other import InsecureAcceptAnything, SignedBaseLayer

        if isinstance(req, InsecureAcceptAnything):
            return "insecureAcceptAnything"
        if isinstance(req, SignedBaseLayer):
            raise TrustError("signedBaseLayer is not implemented (nor in containers/image)")
        from lamina.trust.sigstore_check import check_sigstore

        accept = _identity(req.signed_identity, reference)
        return check_sigstore(req, self._keys, accept, manifest_raw, cosign, bundles)

    def _signed_by(
        self, req: SignedBy, reference: Reference | None, manifest_raw: bytes, sigs: Sequence[bytes]
    ) -> str:
        if req.key_type != "GPGKeys":
            raise TrustError(f"keyType {req.key_type!r} is not supported (only GPGKeys)")
        keys = self._keys(
            req.key_path, req.key_paths, (req.key_data,) if req.key_data is not None else None
        )
        if not sigs:
            raise TrustError("a signature was required, but no simple signature exists")
        accept = _identity(req.signed_identity, reference)
        reasons: list[str] = []
        from lamina.trust import gpg

        with gpg.Keyring(keys, "policy keys") as keyring:
            for i, sig in enumerate(sigs):
                try:
                    ok = verify_simple(
                        sig, keyring, manifest_raw, accept, what=f"signature {i + 1}"
                    )
                    return f"signedBy {ok.key_fingerprint}"
                except TrustError as exc:
                    reasons.append(exc.message)
        raise TrustError("no signature was accepted: " + "; ".join(reasons))

    def _keys(
        self,
        key_path: str | None,
        key_paths: Sequence[str] | None,
        key_data: Sequence[bytes] | None,
    ) -> list[bytes]:
        if key_path is not None:
            return [self._read(key_path)]
        if key_paths is not None:
            return [self._read(p) for p in key_paths]
        return list(key_data or ())


class RequestedName:
    """See `PolicyContext.as_requested`."""

    def __init__(self, context: PolicyContext, requested: Reference) -> None:
        self.context = context
        self.requested = requested

    def check(
        self,
        src_ref_description: str,
        reference: Reference | None,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None:
        del src_ref_description, reference  # the physical location: judged as requested
        self.context.check(f"docker://{self.requested}", self.requested, manifest_raw, signatures)

    def needs_signatures(self, src_ref_description: str) -> bool:
        del src_ref_description
        return self.context.needs_signatures(f"docker://{self.requested}")

    def check_instance(
        self,
        src_ref_description: str,
        reference: Reference | None,
        instance: Digest,
        manifest_raw: bytes,
        signatures: Sequence[bytes],
    ) -> None:
        del src_ref_description, reference
        self.context.check_instance(
            f"docker://{self.requested}", self.requested, instance, manifest_raw, signatures
        )


def _identity(rule: SignedIdentity, reference: Reference | None) -> Callable[[str], bool]:
    def accept(signed: str) -> bool:
        try:
            return rule.matches(reference, signed)
        except LaminaError:
            return False

    return accept


class InstanceSource(Protocol):
    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]: ...

    def signatures(self, digest: Digest) -> list[bytes]: ...


def admit_instances(
    check: AdmissionCheck,
    src: InstanceSource,
    src_ref_description: str,
    reference: Reference | None,
    instances: Sequence[Digest],
) -> None:
    """Check each index instance that will be copied, with its own manifest and its own
    signatures, as containers/image's copySingleImage does for every instance (the index
    itself is not judged: copyMultipleImages has no check of its own). Signatures are
    fetched only when the policy for
    this image looks at them. Raises TrustError naming the first refused instance.
    (`copy` does the same through `PolicyContext.check_instance`.)"""
    judge = check if isinstance(check, PolicyContext | RequestedName) else None
    fetch = judge is None or judge.needs_signatures(src_ref_description)
    for digest in instances:
        raw, _ = src.get_manifest(digest)
        sigs = src.signatures(digest) if fetch else []
        if judge is not None:
            judge.check_instance(src_ref_description, reference, digest, raw, sigs)
            continue
        try:
            check.check(src_ref_description, reference, raw, sigs)
        except TrustError as exc:
            raise TrustError(f"index instance {digest}: {exc.message}") from None
