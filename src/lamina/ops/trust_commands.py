"""`lamina sign`, `verify`, `standalone-sign`, `standalone-verify`, `trust show/set`,
`key generate`: strings in, results out (the CLI renders them).

`sign` adds a signature to what an image already has: a store image (the store's signature
table) or a `docker://` image (extension, lookaside or attachments, as registries.d says).
`verify` reads an image's manifest and signatures exactly as a pull would and judges each
signature alone (so it can say why each one failed), then all together under the policy.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lamina.copy import alltransports
from lamina.digest import Digest
from lamina.errors import InvalidInput, NotFound, TrustError
from lamina.ops.locations import Locations, StoreOpener
from lamina.ops.trust import TrustOptions, load_policy, signers_for, storage_for
from lamina.reference import Reference
from lamina.store import Store
from lamina.store.transport import StoreReference
from lamina.transports.registry import RegistryDestination, RegistryOptions, RegistryReference
from lamina.trust import cosign_keys, gpg, simple
from lamina.trust.cosign import verify_cosign_key
from lamina.trust.evaluate import (
    PolicyContext,
    split_bundles,
    split_description,
    split_signatures,
)
from lamina.trust.identity import MatchRepoDigestOrExact
from lamina.trust.policy import Policy, find_policy_path
from lamina.trust.requirements import Reject, Requirement, SignedBy
from lamina.trust.requirements_other import InsecureAcceptAnything
from lamina.trust.requirements_sigstore import SigstoreSigned
from lamina.trust.signed_refs import SignedReference, identity_of


@dataclass(frozen=True, slots=True, kw_only=True)
class Signed:
    location: str
    digest: Digest
    identity: str
    signatures: int


def _location(image: str) -> str:
    """TRANSPORT:… as given; anything else names a store image."""
    prefix = image.partition(":")[0]
    if prefix in {*alltransports.transports(), "docker", "lamina"}:
        return image
    return f"lamina:{image}"


def sign(
    image: str,
    store: Store | StoreOpener | None,
    trust: TrustOptions,
    options: RegistryOptions | None = None,
) -> Signed:
    """Sign the image `image` names (a store name, or TRANSPORT:…) with the keys `trust`
    gives, adding to the signatures it has."""
    if not trust.signs:
        raise InvalidInput("nothing to sign with", hint="give --sign-by FPR or --key cosign.key")
    ref = Locations(store, options).parse(_location(image))
    storage = storage_for(trust)
    identity = trust.sign_identity or identity_of(ref)
    if identity is None:
        raise InvalidInput(
            f"signing {ref.describe()}: no Docker reference to sign the image as",
            hint="give --sign-identity HOST/REPO:TAG",
        )
    src = SignedReference(ref, storage).new_source()
    try:
        raw, _ = src.get_manifest()
        digest = Digest.of_bytes(raw)
        existing = src.signatures(digest)
    finally:
        src.close()
    new = [s.sign(raw, identity) for s in signers_for(trust)]
    if isinstance(ref, StoreReference):
        ref.store.put_signatures(digest, [*existing, *new])
    elif isinstance(ref, RegistryReference):
        dst = RegistryDestination(ref)
        try:
            simple_old, _ = split_signatures(existing)
            # lookaside is replaced as a whole: keep what is there; the extension and
            # attachments only add, and skip what they hold
            storage.write(dst, digest, [*simple_old, *new])
        finally:
            dst.close()
    else:
        raise InvalidInput(
            f"sign {ref.describe()}: only store images and docker:// images can be signed in place",
            hint="copy with --sign-by to sign while writing",
        )
    return Signed(
        location=ref.describe(),
        digest=digest,
        identity=identity,
        signatures=len(existing) + len(new),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureVerdict:
    index: int
    kind: str
    accepted: bool
    detail: str
    identity: str | None = None  # what a verified signature claims (`verify --key`, no name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    location: str
    digest: Digest
    accepted: bool
    decision: str
    signatures: tuple[SignatureVerdict, ...]


def _is_cosign_key(key_file: str) -> bool:
    return b"-----BEGIN PUBLIC KEY-----" in Path(key_file).read_bytes()


def _key_policy(key_file: str) -> Policy:
    req: Requirement
    if _is_cosign_key(key_file):
        req = SigstoreSigned(key_path=key_file, signed_identity=MatchRepoDigestOrExact())
    else:
        req = SignedBy(key_type="GPGKeys", key_path=key_file)
    return Policy(default=(req,))


def verify(
    image: str,
    store: Store | StoreOpener | None,
    trust: TrustOptions,
    *,
    key_file: str | None = None,
    options: RegistryOptions | None = None,
) -> Verification:
    """Judge `image` under the policy (or only `key_file`, if given). With a cosign public
    key and an image that has no registry identity (`dir:`, `oci:`), as `cosign verify
    --key`: a signature is accepted when the key verifies it and it signs this manifest;
    the identity it claims is reported, not judged (there is nothing to judge it against)."""
    policy = _key_policy(key_file) if key_file else load_policy(trust.policy)
    ctx = PolicyContext(policy)
    ref = Locations(store, options).parse(_location(image))
    src = SignedReference(ref, storage_for(trust)).new_source()
    try:
        raw, _ = src.get_manifest()
        digest = Digest.of_bytes(raw)
        blobs = src.signatures(digest)
    finally:
        src.close()
    if key_file and identity_of(ref) is None and _is_cosign_key(key_file):
        return _cosign_key_only(ref.describe(), digest, raw, blobs, key_file)
    transport, name = split_description(ref.describe())
    verdicts = []
    for i, blob in enumerate(blobs, start=1):
        simple_sigs, cosign_sigs = split_signatures([blob])
        bundles = split_bundles([blob])
        kind = "simple" if simple_sigs else "sigstore" if cosign_sigs else "sigstore bundle"
        try:
            decision = ctx.evaluate(transport, name, None, raw, simple_sigs, cosign_sigs, bundles)
            verdicts.append(
                SignatureVerdict(
                    index=i, kind=kind, accepted=True, detail=", ".join(decision.accepted)
                )
            )
        except TrustError as exc:
            verdicts.append(
                SignatureVerdict(index=i, kind=kind, accepted=False, detail=exc.message)
            )
    simple_all, cosign_all = split_signatures(blobs)
    try:
        decision = ctx.evaluate(
            transport, name, None, raw, simple_all, cosign_all, split_bundles(blobs)
        )
        accepted, why = (
            True,
            f"accepted by scope {decision.scope!r}: " + ", ".join(decision.accepted),
        )
    except TrustError as exc:
        accepted, why = False, exc.message
    return Verification(
        location=ref.describe(),
        digest=digest,
        accepted=accepted,
        decision=why,
        signatures=tuple(verdicts),
    )


def _cosign_key_only(
    location: str, digest: Digest, raw: bytes, blobs: list[bytes], key_file: str
) -> Verification:
    """`verify --key cosign.pub` of an image without a registry identity (see `verify`)."""
    keys = cosign_keys.load_public_keys(Path(key_file).read_bytes(), key_file)
    verdicts = []
    for i, blob in enumerate(blobs, start=1):
        simple_sigs, cosign_sigs = split_signatures([blob])
        kind = "simple" if simple_sigs else "sigstore" if cosign_sigs else "sigstore bundle"
        if not cosign_sigs:
            why = f"not a cosign signature; {key_file} verifies cosign signatures only"
            verdicts.append(SignatureVerdict(index=i, kind=kind, accepted=False, detail=why))
            continue
        what = f"sigstore signature {i}"
        try:
            payload, _ = verify_cosign_key(cosign_sigs[0], keys, raw, lambda _: True, what)
        except TrustError as exc:
            verdicts.append(
                SignatureVerdict(index=i, kind=kind, accepted=False, detail=exc.message)
            )
            continue
        claimed = payload.docker_reference
        detail = (
            f"key {key_file}, manifest digest matches; claims identity {claimed!r} (not "
            "checked: the image has no registry identity)"
        )
        verdicts.append(
            SignatureVerdict(index=i, kind=kind, accepted=True, detail=detail, identity=claimed)
        )
    good = next((v for v in verdicts if v.accepted), None)
    if good is not None:
        decision = (
            f"signature {good.index} verified with {key_file} (claims identity {good.identity!r})"
        )
    elif not blobs:
        decision = "the image has no signatures"
    else:
        decision = f"no signature verified with {key_file}"
    return Verification(
        location=location,
        digest=digest,
        accepted=good is not None,
        decision=decision,
        signatures=tuple(verdicts),
    )


def standalone_sign(
    manifest: str,
    docker_reference: str,
    fingerprint: str,
    output: str,
    *,
    passphrase_file: str | None = None,
) -> None:
    """As `skopeo standalone-sign`: a simple signature of the manifest file to `output`."""
    raw = Path(manifest).read_bytes()
    sig = simple.sign_simple(raw, docker_reference, fingerprint, passphrase_file=passphrase_file)
    Path(output).write_bytes(sig)


def _export_key(fingerprint: str) -> bytes:
    proc = subprocess.run(
        [gpg.GPG, "--batch", "--export", fingerprint], capture_output=True, timeout=60, check=False
    )
    if proc.returncode != 0 or not proc.stdout:
        raise TrustError(
            f"key {fingerprint} is not in the GnuPG keyring "
            f"({os.environ.get('GNUPGHOME', '~/.gnupg')})"
        )
    return proc.stdout


def standalone_verify(
    manifest: str, docker_reference: str, fingerprint: str, signature: str
) -> Digest:
    """As `skopeo standalone-verify`: raises TrustError, or returns the signed digest."""
    raw = Path(manifest).read_bytes()
    sig = Path(signature).read_bytes()
    result = simple.standalone_verify(
        sig, raw, docker_reference, [_export_key(fingerprint)], fingerprint
    )
    return result.payload.manifest_digest


# -- trust show / set (podman image trust) ------------------------------------------------

TRUST_TYPES = {"accept": "insecureAcceptAnything", "reject": "reject", "signedBy": "signedBy"}
_SHOWN = {
    "insecureAcceptAnything": "accept",
    "reject": "reject",
    "signedBy": "signed",
    "sigstoreSigned": "sigstoreSigned",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustRow:
    transport: str
    name: str
    repo_name: str
    type: str
    gpg_id: str = ""
    sigstore: str = ""


def trust_show(policy_path: str | None = None, registries_d: str | None = None) -> list[TrustRow]:
    """The rows `podman image trust show` prints."""
    policy = Policy.load(find_policy_path(policy_path))
    storage = storage_for(TrustOptions(registries_d=registries_d))
    rows = [_row("all", "* (default)", "default", policy.default[0])]
    for transport, scopes in sorted(policy.transports.items()):
        for scope, reqs in sorted(scopes.items()):
            if not reqs:
                continue
            store = ""
            if transport == "docker" and scope:
                try:
                    store = storage.registries_d.lookaside_url(Reference.parse(scope)) or ""
                except InvalidInput:
                    store = ""
            kind = "repository" if transport == "docker" else transport
            rows.append(_row(kind, scope or "*", scope or "*", reqs[0], store))
    return rows


def _row(transport: str, name: str, repo: str, req: Requirement, store: str = "") -> TrustRow:
    return TrustRow(
        transport=transport,
        name=name,
        repo_name=repo,
        type=_SHOWN.get(req.type, req.type),
        sigstore=store,
    )


def trust_set(
    scope: str, trust_type: str, key_files: list[str], policy_path: str | None = None
) -> Path:
    """As `podman image trust set -t TYPE [-f KEY]… SCOPE` (`default` for the default)."""
    if trust_type not in TRUST_TYPES:
        raise InvalidInput(f"trust type {trust_type!r}: expected accept, reject or signedBy")
    path = find_policy_path(policy_path)
    try:
        policy = Policy.load(path)
    except NotFound:
        policy = Policy(default=(InsecureAcceptAnything(),))
    req: Requirement
    if trust_type == "signedBy":
        if not key_files:
            raise InvalidInput("signedBy needs at least one key file (-f/--pubkeysfile)")
        if len(key_files) == 1:
            req = SignedBy(key_type="GPGKeys", key_path=key_files[0], identity_given=False)
        else:
            req = SignedBy(key_type="GPGKeys", key_paths=tuple(key_files), identity_given=False)
    elif trust_type == "reject":
        req = Reject()
    else:
        req = InsecureAcceptAnything()
    if scope == "default":
        policy = policy.with_scope("", "default", (req,))
    else:
        policy = policy.with_scope("docker", scope.removeprefix("docker://"), (req,))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(policy.dumps())
    os.replace(tmp, path)
    return path


def key_generate(directory: str, passphrase: bytes, prefix: str = "cosign") -> tuple[Path, Path]:
    """Write `<prefix>.key` (encrypted) and `<prefix>.pub`; refuses to overwrite."""
    out = Path(directory)
    key_path, pub_path = out / f"{prefix}.key", out / f"{prefix}.pub"
    for p in (key_path, pub_path):
        if p.exists():
            raise InvalidInput(f"{p} already exists", hint="remove it or choose another directory")
    private, public = cosign_keys.generate_keypair(passphrase)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    pub_path.write_bytes(public)
    return key_path, pub_path
