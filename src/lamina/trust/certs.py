"""X.509 certificates of cosign signatures: the `fulcio` and `pki` parts of `sigstoreSigned`.

A certificate-based signature carries its leaf certificate (PEM) in the annotation
`dev.sigstore.cosign/certificate` and, optionally, a chain in `dev.sigstore.cosign/chain`
(PEM; its last certificate is the root, which is never trusted from the signature: only
the ones before it may serve as intermediates). As containers/image does:

- the leaf must chain to one of the policy's CA certificates (any of them is an anchor,
  an intermediate too), through the signature's intermediates (and, for `pki`, the
  policy's `caIntermediates*`), each certificate valid at the relevant time, every issuer
  a CA (basic constraints, path length), the leaf's and issuers' extended key usages
  allowing code signing, no unknown critical extension (SAN aside);
- Fulcio: the time is the Rekor SET's integrated time (a Fulcio certificate lives minutes),
  the OIDC issuer extension (1.3.6.1.4.1.57264.1.1, or the newer .8) must equal
  `oidcIssuer`, and `subjectEmail` must be one of the SAN e-mail addresses;
- PKI: the time is now; `subjectEmail` among the SAN e-mail addresses and `subjectHostname`
  matching a SAN DNS name (a leading `*.` matches one label) or IP address.

The certificate's public key then verifies the signature like a configured key.
Certificate Transparency SCTs are not checked (containers/image does not either).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lamina.errors import TrustError

if TYPE_CHECKING:
    from cryptography import x509

    from lamina.trust.cosign_keys import PublicKey

CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"  # raw string value
_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"  # DER UTF8String
_SAN = "2.5.29.17"
_MAX_DEPTH = 10
# Signature checks one chain search may make (Go's crypto/x509 stops at 100 as well): the
# signature's chain annotation is the signer's to write, and intermediates that all share one
# name and key would otherwise make the depth-first search try every ordering of them: 8
# such certificates took 25 s without this limit, 7 took 2.9 s, 6 0.4 s (time of verify_chain
# over the intermediates test_certs.py's test_look_alike_intermediates_are_refused builds).
_MAX_SIGNATURE_CHECKS = 100


def load_certs(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in PEM `data`; TrustError if there is none or one is malformed."""
    from cryptography import x509

    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise TrustError(f"{what}: no PEM certificate found")
    try:
        found = x509.load_pem_x509_certificates(data)
        for cert in found:
            # Extensions are decoded on first use: a malformed one (from a signature's
            # annotation) must be refused here, not escape later as a ValueError.
            _ = cert.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise TrustError(f"{what}: malformed certificate ({exc})") from None
    return found


def load_all(blobs: Sequence[bytes], what: str) -> list[x509.Certificate]:
    """Every certificate in each PEM blob (a policy's CA or intermediates files)."""
    return [c for blob in blobs for c in load_certs(blob, what)]


def leaf_cert(data: bytes, what: str) -> x509.Certificate:
    certs = load_certs(data, what)
    if len(certs) != 1:
        raise TrustError(f"{what}: expected one certificate, found {len(certs)}")
    return certs[0]


def chain_intermediates(chain: bytes | None, what: str) -> list[x509.Certificate]:
    """The usable intermediates of a signature's chain annotation: all but the last."""
    if not chain:
        return []
    return load_certs(chain, what)[:-1]


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime,
    what: str,
) -> None:
    """A path from `leaf` to one of `anchors` valid at `at` for code signing, or TrustError."""
    _check_cert(leaf, at, what)
    budget = _Budget(what)
    if _path(leaf, list(intermediates), list(anchors), at, [], budget):
        return
    raise TrustError(
        f"{what}: the certificate does not chain to a trusted CA at {at:%Y-%m-%dT%H:%M:%SZ}"
    )


def _path(
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    anchors: list[x509.Certificate],
    at: datetime,
    below: list[x509.Certificate],
    budget: _Budget,
) -> bool:
    """Whether `cert` (with the certificates `below` it on the way from the leaf) reaches
    an anchor through `intermediates`, depth first."""
    if any(cert == a for a in anchors):
        return True
    if len(below) > _MAX_DEPTH:
        return False
    for cand in anchors:
        if _issued_by(cert, cand, budget) and _usable_issuer(cand, at, len(below), anchor=True):
            return True
    for cand in intermediates:
        if cand in below or cand == cert:
            continue
        if (
            _issued_by(cert, cand, budget)
            and _usable_issuer(cand, at, len(below), anchor=False)
            and _path(cand, intermediates, anchors, at, [*below, cert], budget)
        ):
            return True
    return False


class _Budget:
    """The signature checks left to one `verify_chain`."""

    def __init__(self, what: str) -> None:
        self.left = _MAX_SIGNATURE_CHECKS
        self.what = what

    def spend(self) -> None:
        if self.left <= 0:
            raise TrustError(
                f"{self.what}: more than {_MAX_SIGNATURE_CHECKS} certificate signature checks "
                "while looking for a chain (too many intermediates)"
            )
        self.left -= 1


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate, budget: _Budget) -> bool:
    from cryptography.exceptions import InvalidSignature

    if cert.issuer != issuer.subject:
        return False
    budget.spend()
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _usable_issuer(cand: x509.Certificate, at: datetime, below: int, *, anchor: bool) -> bool:
    from cryptography import x509

    try:
        _check_cert(cand, at, "issuer")
    except TrustError:
        return False
    try:
        bc = cand.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return anchor  # a trust anchor need not say it is a CA (as Go's verifier)
    if not bc.ca:
        return anchor
    return bc.path_length is None or below <= bc.path_length


def _check_cert(cert: x509.Certificate, at: datetime, what: str) -> None:
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise TrustError(
            f"{what}: certificate valid {cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not at {at:%Y-%m-%dT%H:%M:%SZ}"
        )
    for ext in cert.extensions:
        if (
            ext.critical
            and isinstance(ext.value, x509.UnrecognizedExtension)
            and ext.oid.dotted_string != _SAN
        ):
            raise TrustError(f"{what}: unknown critical extension {ext.oid.dotted_string}")
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    allowed = {ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if not allowed & set(eku):
        raise TrustError(f"{what}: the certificate is not for code signing")


def _san(cert: x509.Certificate) -> x509.SubjectAlternativeName | None:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def check_email(cert: x509.Certificate, email: str, what: str) -> None:
    from cryptography import x509

    san = _san(cert)
    got = san.get_values_for_type(x509.RFC822Name) if san is not None else []
    if email not in got:
        raise TrustError(f"{what}: required e-mail {email} not in the certificate ({got})")


def check_hostname(cert: x509.Certificate, host: str, what: str) -> None:
    from cryptography import x509

    san = _san(cert)
    if san is not None:
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            want = host.rstrip(".").lower()
            for name in san.get_values_for_type(x509.DNSName):
                if _dns_match(name.rstrip(".").lower(), want):
                    return
        else:
            if ip in san.get_values_for_type(x509.IPAddress):
                return
    raise TrustError(f"{what}: the certificate is not valid for host {host}")


def _dns_match(pattern: str, host: str) -> bool:
    if pattern.startswith("*.") and "." in host:
        return host.split(".", 1)[1] == pattern[2:] and host.split(".", 1)[0] != ""
    return pattern == host


def fulcio_issuer(cert: x509.Certificate, what: str) -> str:
    """The OIDC issuer Fulcio recorded in `cert`; TrustError if absent or repeated."""
    from cryptography import x509

    found: dict[str, bytes] = {}
    for ext in cert.extensions:
        oid = ext.oid.dotted_string
        if oid in (_ISSUER_V1, _ISSUER_V2) and isinstance(ext.value, x509.UnrecognizedExtension):
            if oid in found:
                raise TrustError(f"{what}: duplicate OIDC issuer extension")
            found[oid] = ext.value.value
    if _ISSUER_V1 in found:
        return found[_ISSUER_V1].decode("utf-8", errors="replace")
    if _ISSUER_V2 in found:
        text = _der_utf8_string(found[_ISSUER_V2])
        if text is None:
            raise TrustError(f"{what}: malformed OIDC issuer extension")
        return text
    raise TrustError(f"{what}: the Fulcio certificate has no OIDC issuer extension")


def _der_utf8_string(raw: bytes) -> str | None:
    """The text of a DER UTF8String (short or long form length, up to 64 KiB), or None."""
    if len(raw) < 2 or raw[0] != 0x0C:
        return None
    if raw[1] < 0x80:
        start, length = 2, raw[1]
    elif raw[1] in (0x81, 0x82):
        start = 2 + (raw[1] & 0x7F)
        length = int.from_bytes(raw[2:start], "big")
        if length < (0x80 if raw[1] == 0x81 else 0x100):  # DER: the shortest form only
            return None
    else:
        return None
    if len(raw) != start + length:
        return None
    return raw[start:].decode("utf-8", errors="replace")


def fulcio_key(
    leaf: x509.Certificate,
    chain_pem: bytes | None,
    anchors: Sequence[x509.Certificate],
    *,
    at: datetime,
    oidc_issuer: str,
    email: str,
    what: str,
) -> PublicKey:
    """The public key of a Fulcio certificate valid at `at` (the Rekor integrated time)."""
    verify_chain(leaf, chain_intermediates(chain_pem, f"{what}: chain"), anchors, at, what)
    issuer = fulcio_issuer(leaf, what)
    if issuer != oidc_issuer:
        raise TrustError(f"{what}: unexpected Fulcio OIDC issuer {issuer!r}")
    check_email(leaf, email, what)
    return _public_key(leaf, what)


def pki_key(
    leaf: x509.Certificate,
    chain_pem: bytes | None,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    *,
    email: str | None,
    hostname: str | None,
    what: str,
) -> PublicKey:
    """The public key of a certificate from the policy's own CA, valid now."""
    pool = [*intermediates, *chain_intermediates(chain_pem, f"{what}: chain")]
    verify_chain(leaf, pool, roots, datetime.now(UTC), what)
    if email:
        check_email(leaf, email, what)
    if hostname:
        check_hostname(leaf, hostname, what)
    return _public_key(leaf, what)


def _public_key(cert: x509.Certificate, what: str) -> PublicKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TrustError(f"{what}: unreadable certificate key ({exc})") from None
    if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise TrustError(f"{what}: unsupported certificate key type {type(key).__name__}")
    return key


def der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)
