"""The `sigstoreSigned` requirement: tag-based cosign signatures and Sigstore bundles.

Either kind counts: the requirement is met by one signature (of either kind) that verifies
with one of the policy's public keys, names the image's manifest digest and an identity the
policy's `signedIdentity` accepts. With `rekorPublicKey*`, that signature must also carry a
Rekor SET (the `dev.sigstore.cosign/bundle` annotation, or a bundle's inclusion promise) that
a Rekor key signed, whose log ID is that key's, and whose entry records this very signature,
key and payload hash (`rekor`). With `fulcio` or `pki`, the key is the one of the
signature's certificate, accepted as `certs` says; for Fulcio, at the time of the Rekor SET,
which is required. Sigstore bundles are verified with configured keys only: a bundle meets a
`fulcio` or `pki` requirement never (said in the rejection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lamina.errors import InvalidInput, TrustError
from lamina.trust import rekor
from lamina.trust.bundle import Bundle, verify_bundle
from lamina.trust.cosign import (
    CERTIFICATE_ANNOTATION,
    CosignSignature,
    signature_bytes,
    verify_cosign,
    verify_cosign_key,
)
from lamina.trust.cosign_keys import load_public_keys
from lamina.trust.requirements_sigstore import SigstoreSigned

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from lamina.trust.cosign_keys import PublicKey

KeyReader = Callable[[str | None, Sequence[str] | None, Sequence[bytes] | None], list[bytes]]


def _single(data: bytes | None) -> tuple[bytes] | None:
    """A policy's one `...Data` value as the list of blobs a KeyReader takes."""
    return (data,) if data is not None else None


def _public_keys(req: SigstoreSigned, read: KeyReader) -> list[PublicKey]:
    datas = req.key_datas if req.key_datas is not None else _single(req.key_data)
    blobs = read(req.key_path, req.key_paths, datas)
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
    datas = req.rekor_public_key_datas
    if datas is None:
        datas = _single(req.rekor_public_key_data)
    blobs = read(req.rekor_public_key_path, req.rekor_public_key_paths, datas)
    return rekor.load_rekor_keys(blobs)


def _trusted_set(
    sig: CosignSignature, rekor_keys: Sequence[ec.EllipticCurvePublicKey], what: str
) -> tuple[rekor.RekorEntry, dict[str, Any], bytes]:
    """A tag-based signature's Rekor SET, verified with a log key: the entry, its (now
    trusted) body and the raw signature the body must record."""
    text = sig.annotations.get(rekor.SET_ANNOTATION)
    if text is None:
        raise TrustError(f"{what}: annotation {rekor.SET_ANNOTATION} (Rekor SET) is missing")
    entry = rekor.RekorEntry.from_annotation(text, f"{what}: {rekor.SET_ANNOTATION}")
    return entry, entry.verify_set(rekor_keys, f"{what}: Rekor SET"), signature_bytes(sig, what)


def check_cosign_set(
    sig: CosignSignature,
    key: PublicKey,
    rekor_keys: Sequence[ec.EllipticCurvePublicKey],
    what: str,
) -> None:
    """The Rekor SET of a tag-based signature that already verified with `key` (as
    `verify_cosign_key` found it): the entry must record this signature by that key."""
    _, body, raw_sig = _trusted_set(sig, rekor_keys, what)
    rekor.check_body(
        body,
        signature=raw_sig,
        key_der=rekor.spki_der(key),
        signed=sig.payload,
        what=f"{what}: Rekor entry",
    )


def check_sigstore(
    req: SigstoreSigned,
    read: KeyReader,
    accept: Callable[[str], bool],
    manifest_raw: bytes,
    sigs: Sequence[CosignSignature],
    bundles: Sequence[Bundle],
) -> str:
    """Accept or raise TrustError (see the module doc). Returns what accepted the image."""
    if req.fulcio is not None or req.pki is not None:
        return _check_certificates(req, read, accept, manifest_raw, sigs, bundles)
    keys = _public_keys(req, read)
    rekor_keys = _rekor_keys(req, read)
    if not sigs and not bundles:
        raise TrustError("a signature was required, but no sigstore signature exists")
    reasons: list[str] = []
    for i, sig in enumerate(sigs, start=1):
        what = f"sigstore signature {i}"
        try:
            _, key = verify_cosign_key(sig, keys, manifest_raw, accept, what=what)
            if rekor_keys is not None:
                check_cosign_set(sig, key, rekor_keys, what)
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


def _check_certificates(
    req: SigstoreSigned,
    read: KeyReader,
    accept: Callable[[str], bool],
    manifest_raw: bytes,
    sigs: Sequence[CosignSignature],
    bundles: Sequence[Bundle],
) -> str:
    """`fulcio` or `pki`: each tag-based signature's certificate gives its key."""
    from lamina.trust import certs

    rekor_keys = _rekor_keys(req, read)
    if req.fulcio is not None and rekor_keys is None:
        # (the policy parser refuses this; a requirement built in code may not)
        raise TrustError("fulcio needs a rekorPublicKey* field: its SET dates the certificate")
    if not sigs and not bundles:
        raise TrustError("a signature was required, but no sigstore signature exists")
    inter: list[x509.Certificate] = []
    if req.fulcio is not None:
        f = req.fulcio
        anchors = certs.load_all(read(f.ca_path, None, _single(f.ca_data)), "fulcio CA")
    else:
        assert req.pki is not None
        p = req.pki
        anchors = certs.load_all(read(p.ca_roots_path, None, _single(p.ca_roots_data)), "pki CA")
        if p.ca_intermediates_path is not None or p.ca_intermediates_data is not None:
            idata = read(p.ca_intermediates_path, None, _single(p.ca_intermediates_data))
            inter = certs.load_all(idata, "pki intermediates")
    reasons: list[str] = []
    for i, sig in enumerate(sigs, start=1):
        what = f"sigstore signature {i}"
        try:
            cert = sig.annotations.get(CERTIFICATE_ANNOTATION)
            if cert is None:
                raise TrustError(f"{what}: annotation {CERTIFICATE_ANNOTATION} is missing")
            leaf = certs.leaf_cert(cert.encode(), f"{what}: certificate")
            chain = sig.annotations.get(certs.CHAIN_ANNOTATION)
            chain_pem = chain.encode() if chain is not None else None
            if req.fulcio is not None:
                assert rekor_keys is not None  # (refused above)
                when = _set_time(sig, certs.der(leaf), rekor_keys, what)
                key = certs.fulcio_key(
                    leaf,
                    chain_pem,
                    anchors,
                    at=when,
                    oidc_issuer=req.fulcio.oidc_issuer,
                    email=req.fulcio.subject_email,
                    what=what,
                )
                kind = "Fulcio certificate, Rekor SET verified"
            else:
                assert req.pki is not None
                key = certs.pki_key(
                    leaf,
                    chain_pem,
                    anchors,
                    inter,
                    email=req.pki.subject_email,
                    hostname=req.pki.subject_hostname,
                    what=what,
                )
                kind = "PKI certificate"
            verify_cosign(sig, [key], manifest_raw, accept, what=what)
            return f"sigstoreSigned ({kind})"
        except TrustError as exc:
            reasons.append(exc.message)
    for i, _ in enumerate(bundles, start=1):
        reasons.append(f"sigstore bundle {i}: certificate-based bundles are not supported")
    raise TrustError("no signature was accepted: " + "; ".join(reasons))


def _set_time(
    sig: CosignSignature,
    cert_der: bytes,
    rekor_keys: Sequence[ec.EllipticCurvePublicKey],
    what: str,
) -> datetime:
    """The integrated time of the Rekor SET that records this signature and certificate."""
    entry, body, raw_sig = _trusted_set(sig, rekor_keys, what)
    rekor.check_body(
        body,
        signature=raw_sig,
        key_der=cert_der,
        signed=sig.payload,
        what=f"{what}: Rekor entry",
    )
    return datetime.fromtimestamp(entry.integrated_time, UTC)
