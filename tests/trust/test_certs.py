"""Certificate-based cosign signatures (`sigstoreSigned` with `fulcio` or `pki`): the
containers/image fixtures signed with a Fulcio certificate (and a Rekor SET from the public
Rekor log) and with a private PKI, accepted and refused in the cases containers/image's own
tests use; then chains made here for what the fixtures cannot show (expiry, key usage, CA
flags, host names)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lamina.errors import TrustError
from lamina.trust import certs
from lamina.trust.cosign import CERTIFICATE_ANNOTATION, CosignSignature, sign_cosign
from lamina.trust.evaluate import PolicyContext
from lamina.trust.policy import Policy
from lamina.trust.rekor import SET_ANNOTATION
from tests.trust.fixture_files import FIXTURES, read

# The public-good Rekor log's key (rekor.sigstore.dev, GET /api/v1/log/publicKey): the
# fixtures' SETs were made by it; the fixture directory holds only a dangling link to it.
REKOR = str(Path(__file__).parent / "data" / "rekor-public-good.pub")
FULCIO_REF = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1:1"
PKI_REF = "localhost:5000/test:1"
FULCIO: dict[str, Any] = {
    "caPath": str(FIXTURES / "fulcio_v1.crt.pem"),
    "oidcIssuer": "https://github.com/login/oauth",
    "subjectEmail": "mitr@redhat.com",
}
PKI: dict[str, Any] = {
    "caRootsPath": str(FIXTURES / "pki_root_crts.pem"),
    "caIntermediatesPath": str(FIXTURES / "pki_intermediate_crts.pem"),
    "subjectEmail": "qiwan@redhat.com",
    "subjectHostname": "myhost.example.com",
}


def _sig(name: str) -> tuple[bytes, CosignSignature]:
    manifest = read(f"dir-img-cosign-{name}/manifest.json")
    return manifest, CosignSignature.from_internal(read(f"dir-img-cosign-{name}/signature-1"))


def _check(fields: dict[str, Any], ref: str, manifest: bytes, sig: CosignSignature) -> None:
    req = {"type": "sigstoreSigned", **fields, "signedIdentity": {"type": "matchRepository"}}
    ctx = PolicyContext(Policy.parse(json.dumps({"default": [req]}).encode()))
    ctx.evaluate("docker", ref, None, manifest, cosign_signatures=[sig])


def _without(sig: CosignSignature, key: str) -> CosignSignature:
    return replace(sig, annotations={k: v for k, v in sig.annotations.items() if k != key})


def _with(sig: CosignSignature, key: str, value: str) -> CosignSignature:
    return replace(sig, annotations={**sig.annotations, key: value})


def _fulcio(**over: Any) -> dict[str, Any]:
    return {"fulcio": {**FULCIO, **over}, "rekorPublicKeyPath": REKOR}


def test_fulcio_fixture_is_accepted() -> None:
    manifest, sig = _sig("fulcio-rekor-valid")
    _check(_fulcio(), FULCIO_REF, manifest, sig)
    # several Rekor keys: any one may have signed the SET
    fields = {**_fulcio(), "rekorPublicKeyPaths": [str(FIXTURES / "cosign.pub"), REKOR]}
    del fields["rekorPublicKeyPath"]
    _check(fields, FULCIO_REF, manifest, sig)


def test_fulcio_chain_annotation_may_be_the_trust_anchor() -> None:
    manifest, sig = _sig("fulcio-rekor-valid")
    chain = sig.annotations[certs.CHAIN_ANNOTATION]
    bare = _without(sig, certs.CHAIN_ANNOTATION)
    with pytest.raises(TrustError, match="does not chain to a trusted CA"):
        _check(_fulcio(), FULCIO_REF, manifest, bare)
    anchored = _fulcio(caData=base64.b64encode(chain.encode()).decode())
    del anchored["fulcio"]["caPath"]
    _check(anchored, FULCIO_REF, manifest, bare)


@pytest.mark.parametrize(
    ("fields", "change", "why"),
    [
        (_fulcio(subjectEmail="this-does-not-match@example.com"), None, "required e-mail"),
        (_fulcio(oidcIssuer="https://accounts.google.com"), None, "OIDC issuer"),
        (
            {"fulcio": FULCIO, "rekorPublicKeyPath": str(FIXTURES / "cosign.pub")},
            None,
            "verification of the SET failed",
        ),
        (_fulcio(), (SET_ANNOTATION, None), "Rekor SET\\) is missing"),
        (_fulcio(), (SET_ANNOTATION, "this is not a valid SET"), "not JSON"),
        (_fulcio(), (CERTIFICATE_ANNOTATION, None), "certificate is missing"),
        (_fulcio(), (CERTIFICATE_ANNOTATION, "this is not a valid certificate"), "no PEM"),
        (
            _fulcio(caPath=str(FIXTURES / "pki_root_crts.pem")),
            None,
            "does not chain to a trusted CA",
        ),
    ],
)
def test_fulcio_refusals(
    fields: dict[str, Any], change: tuple[str, str | None] | None, why: str
) -> None:
    manifest, sig = _sig("fulcio-rekor-valid")
    if change is not None:
        key, value = change
        sig = _without(sig, key) if value is None else _with(sig, key, value)
    with pytest.raises(TrustError, match=why):
        _check(fields, FULCIO_REF, manifest, sig)


def test_fulcio_certificate_from_another_signature_does_not_match_the_set() -> None:
    manifest, sig = _sig("fulcio-rekor-valid")
    other = read("pki-cert").decode()
    with pytest.raises(TrustError, match="logged signature or key"):
        _check(_fulcio(), FULCIO_REF, manifest, _with(sig, CERTIFICATE_ANNOTATION, other))


def test_pki_fixture_is_accepted() -> None:
    manifest, sig = _sig("pki-valid")
    _check({"pki": PKI}, PKI_REF, manifest, sig)
    # without the policy's intermediates, the signature's chain supplies them
    roots_only = {k: v for k, v in PKI.items() if k != "caIntermediatesPath"}
    _check({"pki": roots_only}, PKI_REF, manifest, sig)
    # without the chain, the policy's intermediates do
    _check({"pki": PKI}, PKI_REF, manifest, _without(sig, certs.CHAIN_ANNOTATION))
    with pytest.raises(TrustError, match="does not chain to a trusted CA"):
        _check({"pki": roots_only}, PKI_REF, manifest, _without(sig, certs.CHAIN_ANNOTATION))


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"subjectEmail": "someone@example.com"}, "required e-mail"),
        ({"subjectHostname": "otherhost.example.com"}, "not valid for host"),
        ({"caRootsPath": str(FIXTURES / "fulcio_v1.crt.pem")}, "does not chain"),
    ],
)
def test_pki_refusals(over: dict[str, str], why: str) -> None:
    manifest, sig = _sig("pki-valid")
    with pytest.raises(TrustError, match=why):
        _check({"pki": {**PKI, **over}}, PKI_REF, manifest, sig)


def test_key_signed_signature_does_not_meet_a_certificate_requirement() -> None:
    manifest, sig = _sig("valid")
    with pytest.raises(TrustError, match="certificate is missing"):
        _check({"pki": PKI}, "192.168.64.2:5000/cosign-signed-single-sample:1", manifest, sig)


def test_pki_with_rekor_key_is_a_malformed_policy() -> None:
    req = {"type": "sigstoreSigned", "pki": PKI, "rekorPublicKeyPath": REKOR}
    with pytest.raises(Exception, match="pki"):
        Policy.parse(json.dumps({"default": [req]}).encode())


# -- chains made here -----------------------------------------------------------------------
NOW = dt.datetime.now(dt.UTC)
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
REF = "registry.example/app:1"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool | None,
    eku: list[x509.ObjectIdentifier] | None = None,
    email: str | None = None,
    dns: str | None = None,
    start: dt.datetime = NOW - dt.timedelta(days=1),
    end: dt.datetime = NOW + dt.timedelta(days=1),
) -> x509.Certificate:
    iname, ikey = issuer if issuer is not None else (subject, key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(iname))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    names: list[x509.GeneralName] = []
    if email:
        names.append(x509.RFC822Name(email))
    if dns:
        names.append(x509.DNSName(dns))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(ikey, hashes.SHA256())


def _pem(*cs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in cs)


def _signed(leaf_key: ec.EllipticCurvePrivateKey, leaf: x509.Certificate, chain: str) -> Any:
    sig = sign_cosign(MANIFEST, REF, leaf_key)
    return _with(_with(sig, CERTIFICATE_ANNOTATION, _pem(leaf)), certs.CHAIN_ANNOTATION, chain)


def _pki_fields(root: x509.Certificate, **over: str) -> dict[str, Any]:
    data = base64.b64encode(_pem(root).encode()).decode()
    return {"pki": {"caRootsData": data, "subjectEmail": "dev@example.com", **over}}


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("good", None),
        ("wildcard", None),
        ("expired", "not at"),
        ("not-yet", "not at"),
        ("server-auth-only", "not for code signing"),
        ("intermediate-not-ca", "does not chain"),
        ("intermediate-expired", "does not chain"),
        ("self-signed-leaf", "does not chain"),
    ],
)
def test_pki_chain_rules(case: str, why: str | None) -> None:
    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert("root", root_key, None, ca=True)
    mid_ca: bool = case != "intermediate-not-ca"
    mid_end = NOW + dt.timedelta(days=1)
    if case == "intermediate-expired":
        mid_end = NOW - dt.timedelta(hours=1)
    mid = _cert("mid", mid_key, ("root", root_key), ca=mid_ca, end=mid_end)
    start, end = NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=1)
    if case == "expired":
        start, end = NOW - dt.timedelta(days=2), NOW - dt.timedelta(days=1)
    if case == "not-yet":
        start, end = NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=2)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if case == "server-auth-only" else None
    eku = [usage or ExtendedKeyUsageOID.CODE_SIGNING]
    issuer = ("leaf", leaf_key) if case == "self-signed-leaf" else ("mid", mid_key)
    dns = "*.example.com" if case == "wildcard" else "build.example.com"
    leaf = _cert(
        "leaf",
        leaf_key,
        issuer,
        ca=False,
        eku=eku,
        email="dev@example.com",
        dns=dns,
        start=start,
        end=end,
    )
    sig = _signed(leaf_key, leaf, _pem(mid, root))
    fields = _pki_fields(root, subjectHostname="build.example.com")
    if why is None:
        _check(fields, REF, MANIFEST, sig)
    else:
        with pytest.raises(TrustError, match=why):
            _check(fields, REF, MANIFEST, sig)


def test_chain_root_from_the_signature_is_never_trusted() -> None:
    """The last certificate of the chain annotation is its root: a signer cannot smuggle in
    its own root, even one that issued the leaf."""
    mine_key, leaf_key, policy_root_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(3)
    )
    mine = _cert("root", mine_key, None, ca=True)
    leaf = _cert("leaf", leaf_key, ("root", mine_key), ca=False, email="dev@example.com")
    policy_root = _cert("root", policy_root_key, None, ca=True)  # same name, another key
    sig = _signed(leaf_key, leaf, _pem(mine))
    with pytest.raises(TrustError, match="does not chain"):
        _check(_pki_fields(policy_root), REF, MANIFEST, sig)


def test_malformed_certificate_extension_is_a_refusal() -> None:
    """A certificate whose extension does not decode (cryptography decodes them lazily) is
    refused as a malformed certificate, not left to escape as a ValueError."""
    root_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
    root = _cert("root", root_key, None, ca=True)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("leaf"))
        .issuer_name(_name("root"))
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(x509.oid.ExtensionOID.BASIC_CONSTRAINTS, b"\x05\x00"),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    sig = _signed(leaf_key, leaf, _pem(root))
    with pytest.raises(TrustError, match="malformed certificate"):
        _check(_pki_fields(root), REF, MANIFEST, sig)
    with pytest.raises(TrustError, match="malformed certificate"):
        certs.load_certs(_pem(leaf).encode(), "leaf")


def test_fulcio_requirement_built_without_rekor_keys_is_refused() -> None:
    """The policy parser refuses fulcio without rekorPublicKey*; a requirement built in code
    is refused too, with a TrustError (not an assertion, gone under -O)."""
    from lamina.trust.requirements_sigstore import Fulcio, SigstoreSigned
    from lamina.trust.sigstore_check import check_sigstore

    manifest, sig = _sig("fulcio-rekor-valid")
    fulcio = Fulcio(
        ca_path=FULCIO["caPath"],
        oidc_issuer=FULCIO["oidcIssuer"],
        subject_email=FULCIO["subjectEmail"],
    )

    def read(path: str | None, paths: Any, datas: Any) -> list[bytes]:
        return [Path(path).read_bytes()] if path else list(datas or ())

    with pytest.raises(TrustError, match="fulcio needs a rekorPublicKey"):
        check_sigstore(SigstoreSigned(fulcio=fulcio), read, lambda r: True, manifest, [sig], [])


def test_look_alike_intermediates_are_refused() -> None:
    """Intermediates sharing one name and key all issue one another: the chain search must
    not try every ordering of them (factorial time); it stops after a fixed number of
    signature checks, as Go's verifier does."""
    key, leaf_key, root_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    mids = [_cert("X", key, ("X", key), ca=True) for _ in range(12)]
    leaf = _cert("leaf", leaf_key, ("X", key), ca=False, email="dev@example.com")
    root = _cert("root", root_key, None, ca=True)
    with pytest.raises(TrustError, match="signature checks"):
        certs.verify_chain(leaf, mids, [root], NOW, "leaf")
    # through the policy too: the chain annotation is the signer's to write
    sig = _signed(leaf_key, leaf, _pem(*mids, root))
    with pytest.raises(TrustError, match="signature checks"):
        _check(_pki_fields(root), REF, MANIFEST, sig)


@pytest.mark.parametrize("size", [1, 127, 128, 255, 256, 1000])
def test_fulcio_issuer_v2_any_der_length(size: int) -> None:
    """The newer OIDC issuer extension is a DER UTF8String: a long issuer uses the long
    length form, which is read too; lengths not in DER's shortest form are refused."""
    issuer = "https://" + "i" * size
    body = issuer.encode()
    n = len(body)
    length = (
        bytes([n])
        if n < 0x80
        else (b"\x81" if n < 0x100 else b"\x82") + n.to_bytes(1 if n < 0x100 else 2, "big")
    )
    key = ec.generate_private_key(ec.SECP256R1())

    def with_issuer(value: bytes) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(_name("leaf"))
            .issuer_name(_name("leaf"))
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), value),
                critical=False,
            )
            .sign(key, hashes.SHA256())
        )

    assert certs.fulcio_issuer(with_issuer(b"\x0c" + length + body), "c") == issuer
    with pytest.raises(TrustError, match="malformed OIDC issuer"):
        longer = b"\x82" + n.to_bytes(2, "big") if n < 0x100 else b"\x83" + n.to_bytes(3, "big")
        certs.fulcio_issuer(with_issuer(b"\x0c" + longer + body), "c")
    with pytest.raises(TrustError, match="malformed OIDC issuer"):
        certs.fulcio_issuer(with_issuer(b"\x0c" + length + body + b"x"), "c")
