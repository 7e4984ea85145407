"""The `sigstoreSigned` requirement: tag-based cosign signatures and Sigstore bundles.

Either kind counts: the requirement is met by one signature (of either kind) that verifies
with one of the policy's public keys, names the image's manifest digest and an identity the
policy's `signedIdentity` accepts. With `rekorPublicKey*`, that signature must also carry a
Rekor SET (the `dev.sigstore.cosign/bundle` annotation, or a bundle's inclusion promise) that
a Rekor key signed, whose log ID is that key's, and whose entry records this very signature,
key and payload hash (`rekor`). `fulcio` and `pki` need certificate chains and (for Fulcio)
an OIDC-bound certificate checked against a log: they are rejected as unsupported offline.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lamina.errors import InvalidInput, TrustError
from lamina.trust import rekor
from lamina.trust.bundle import Bundle, verify_bundle
from lamina.trust.cosign import SIGNATURE_ANNOTATION, CosignSignature, verify_cosign, verify_raw
from lamina.trust.cosign_keys import load_public_keys
from lamina.trust.requirements_sigstore import SigstoreSigned

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

    from lamina.trust.cosign_keys import PublicKey

KeyReader = Callable[[str | None, Sequence[str] | None, Sequence[bytes] | None], list[bytes]]


def _public_keys(req: SigstoreSigned, read: KeyReader) -> list[PublicKey]:
    single = (req.key_data,) if req.key_data is not None else None
    blobs = read(req.key_path, req.key_paths, single if req.key_datas is None else req.key_datas)
    keys: list[PublicKey] = []
    for blob in blobs:
        try:
            keys.extend(load_public_keys(blob, "sigstoreSigned key"))
        except InvalidInput as exc:
            raise TrustError(exc.message) from None
    return keys


def _rekor_keys(req: SigstoreSigned, read: KeyReader) -> list[ec.EllipticCurvePublicKey] | None:
    if not req.uses_rekor:
        return None
    single = (req.rekor_public_key_data,) if req.rekor_public_key_data is not None else None
    datas = req.rekor_public_key_datas if req.rekor_public_key_datas is not None else single
    blobs = read(req.rekor_public_key_path, req.rekor_public_key_paths, datas)
    return rekor.load_rekor_keys(blobs)


def check_cosign_set(
    sig: CosignSignature,
    keys: Sequence[PublicKey],
    rekor_keys: Sequence[ec.EllipticCurvePublicKey],
    what: str,
) -> None:
    """The Rekor SET of a tag-based signature that already verified with one of `keys`."""
    text = sig.annotations.get(rekor.SET_ANNOTATION)
    if text is None:
        raise TrustError(f"{what}: annotation {rekor.SET_ANNOTATION} (Rekor SET) is missing")
    entry = rekor.RekorEntry.from_annotation(text, f"{what}: {rekor.SET_ANNOTATION}")
    body = entry.verify_set(rekor_keys, f"{what}: Rekor SET")
    try:
        raw_sig = base64.b64decode(sig.annotations[SIGNATURE_ANNOTATION], validate=True)
    except (binascii.Error, ValueError, KeyError):
        raise TrustError(f"{what}: signature annotation is not base64") from None
    reasons = []
    for key in keys:
        if not verify_raw(key, raw_sig, sig.payload):
            continue
        try:
            rekor.check_body(
                body,
                signature=raw_sig,
                key_der=rekor.spki_der(key),
                signed=sig.payload,
                what=f"{what}: Rekor entry",
            )
            return
        except TrustError as exc:
            reasons.append(exc.message)
    raise TrustError("; ".join(reasons) or f"{what}: no key verifies the signature")


def check_sigstore(
    req: SigstoreSigned,
    read: KeyReader,
    accept: Callable[[str], bool],
    manifest_raw: bytes,
    sigs: Sequence[CosignSignature],
    bundles: Sequence[Bundle],
) -> str:
    """Accept or raise TrustError (see the module doc). Returns what accepted the image."""
    if req.fulcio is not None:
        raise TrustError("fulcio certificate verification is unsupported offline (keyless)")
    if req.pki is not None:
        raise TrustError("pki certificate verification is unsupported offline")
    keys = _public_keys(req, read)
    rekor_keys = _rekor_keys(req, read)
    if not sigs and not bundles:
        raise TrustError("a signature was required, but no sigstore signature exists")
    reasons: list[str] = []
    for i, sig in enumerate(sigs, start=1):
        what = f"sigstore signature {i}"
        try:
            verify_cosign(sig, keys, manifest_raw, accept, what=what)
            if rekor_keys is not None:
                check_cosign_set(sig, keys, rekor_keys, what)
            return "sigstoreSigned" + (" (Rekor SET verified)" if rekor_keys is not None else "")
        except TrustError as exc:
            reasons.append(exc.message)
    for i, bundle in enumerate(bundles, start=1):
        try:
            verdict = verify_bundle(
                bundle,
                keys,
                manifest_raw,
                accept,
                rekor_keys=rekor_keys,
                what=f"sigstore bundle {i}",
            )
            extra = ", Rekor SET verified" if rekor_keys is not None else ""
            return f"sigstoreSigned (bundle {verdict.kind}, key {verdict.key_id[:12]}{extra})"
        except TrustError as exc:
            reasons.append(exc.message)
    raise TrustError("no signature was accepted: " + "; ".join(reasons))
