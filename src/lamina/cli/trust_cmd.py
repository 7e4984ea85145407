"""`sign`, `verify`, `standalone-sign`, `standalone-verify`, `trust show/set`, `key generate`,
and the trust flags `copy`, `push`, `pull` and `sync` share (`policy_flags`, `sign_flags`;
read them back with `trust_from()`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lamina.cli.output import echo_json

if TYPE_CHECKING:
    from lamina.ops.trust import TrustOptions

F = TypeVar("F", bound=Callable[..., Any])
_KEY = "lamina.trust"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault(_KEY, {})[param.name] = value
    return value


def _opt(*decls: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, expose_value=False, callback=_store, **kw)


def policy_flags(f: F) -> F:
    f = _opt("--policy", default=None, metavar="FILE", help="Trust policy (policy.json) to use.")(f)
    return _opt(
        "--insecure-policy",
        is_flag=True,
        help="Accept any image, skipping the trust policy (prints a warning).",
    )(f)


def sign_flags(f: F) -> F:
    for decls, kw in (
        (("--sign-by",), {"metavar": "FPR", "help": "Sign what is written with this GPG key."}),
        (
            ("--sign-by-sigstore-private-key",),
            {"metavar": "FILE", "help": "Sign with this cosign private key (cosign.key)."},
        ),
        (
            ("--sign-passphrase-file",),
            {"metavar": "FILE", "help": "Passphrase for the signing key."},
        ),
        (
            ("--sign-identity",),
            {"metavar": "REF", "help": "Docker reference to sign as (default: destination)."},
        ),
    ):
        f = _opt(*decls, default=None, **kw)(f)
    return f


def trust_from(ctx: click.Context | None = None) -> TrustOptions:
    """The TrustOptions the current command's trust flags set; warns on --insecure-policy."""
    from lamina.cli.image_copy import trust_options

    ctx = ctx or click.get_current_context()
    flags: dict[str, Any] = ctx.meta.get(_KEY, {})
    return trust_options(flags, lambda: _prompted_passphrase(flags))


def _prompted_passphrase(flags: dict[str, Any]) -> bytes | None:
    if not flags.get("sign_by_sigstore_private_key") or flags.get("sign_passphrase_file"):
        return None
    if "COSIGN_PASSWORD" in os.environ or not sys.stdin.isatty():
        return None
    return str(click.prompt("Passphrase for the cosign key", hide_input=True)).encode()


@click.command(epilog="Example: lamina sign --sign-by FPR docker://127.0.0.1:5000/app:1")
@click.argument("image")
@_opt("--sign-by", default=None, metavar="FPR", help="GPG key to sign with.")
@_opt("--key", "sign_by_sigstore_private_key", default=None, help="cosign private key file.")
@_opt("--sign-passphrase-file", default=None, help="Passphrase for the key.")
@_opt("--sign-identity", default=None, metavar="REF", help="Docker reference to sign as.")
@click.pass_context
def sign(ctx: click.Context, image: str) -> None:
    """Add a signature to IMAGE: a store image, or docker://HOST/REPO:TAG (written to the
    registry's signature extension, lookaside storage or a .sig attachment)."""
    from lamina.cli.context import store_from
    from lamina.ops.trust_commands import sign as sign_op

    done = sign_op(image, lambda: store_from(ctx), trust_from(ctx))
    click.echo(
        f"Signed {done.location} ({done.digest}) as {done.identity}; "
        f"{done.signatures} signature(s) now"
    )


@click.command(epilog="Example: lamina verify --policy policy.json docker://127.0.0.1:5000/app:1")
@click.argument("image")
@click.option("--policy", default=None, metavar="FILE", help="Trust policy (policy.json).")
@click.option("--key", "key_file", default=None, help="Accept only this key (GPG or cosign.pub).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def verify(
    ctx: click.Context, image: str, policy: str | None, key_file: str | None, as_json: bool
) -> None:
    """Check IMAGE's signatures under the policy (or only --key); says which signatures
    verified and why the others did not. With --key cosign.pub and an image that has no
    registry name (dir:, oci:), checks the key and the manifest digest, as cosign verify
    --key does, and shows the identity the signature claims. Exits 0 if the image is
    accepted, 4 if it is not."""
    from lamina.cli.context import store_from
    from lamina.errors import TrustError
    from lamina.ops.trust import TrustOptions
    from lamina.ops.trust_commands import verify as verify_op

    result = verify_op(
        image, lambda: store_from(ctx), TrustOptions(policy=policy), key_file=key_file
    )
    if as_json:
        echo_json(
            {
                "image": result.location,
                "digest": str(result.digest),
                "accepted": result.accepted,
                "decision": result.decision,
                "signatures": [
                    {
                        "index": v.index,
                        "kind": v.kind,
                        "verified": v.accepted,
                        "detail": v.detail,
                        **({"identity": v.identity} if v.identity is not None else {}),
                    }
                    for v in result.signatures
                ],
            }
        )
    else:
        click.echo(f"{result.location} ({result.digest})")
        if not result.signatures:
            click.echo("  no signatures")
        for v in result.signatures:
            mark = "verified" if v.accepted else "NOT verified"
            click.echo(f"  signature {v.index} ({v.kind}): {mark}: {v.detail}")
    if not result.accepted:
        raise TrustError(f"{result.location}: {result.decision}")
    if not as_json:
        click.echo(f"Accepted: {result.decision}")


@click.command("standalone-sign")
@click.argument("manifest")
@click.argument("docker_reference")
@click.argument("fingerprint")
@click.option("-o", "--output", required=True, help="Write the signature here.")
@click.option("--passphrase-file", default=None, help="Passphrase for the key.")
def standalone_sign(
    manifest: str,
    docker_reference: str,
    fingerprint: str,
    output: str,
    passphrase_file: str | None,
) -> None:
    """Sign MANIFEST as DOCKER-REFERENCE with GPG key FINGERPRINT (as skopeo does)."""
    from lamina.ops.trust_commands import standalone_sign as op

    op(manifest, docker_reference, fingerprint, output, passphrase_file=passphrase_file)


@click.command("standalone-verify")
@click.argument("manifest")
@click.argument("docker_reference")
@click.argument("fingerprint")
@click.argument("signature")
def standalone_verify(
    manifest: str, docker_reference: str, fingerprint: str, signature: str
) -> None:
    """Verify SIGNATURE of MANIFEST as DOCKER-REFERENCE by key FINGERPRINT (as skopeo does)."""
    from lamina.ops.trust_commands import standalone_verify as op

    digest = op(manifest, docker_reference, fingerprint, signature)
    click.echo(f"Signature verified, digest {digest}")


@click.group()
def trust() -> None:
    """Show or set the trust policy (podman image trust's interface and JSON)."""


@trust.command("show")
@click.option("--policypath", default=None, help="Policy file (default: the one podman uses).")
@click.option("--registrypath", default=None, help="registries.d directory.")
@click.option("-j", "--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--raw", is_flag=True, help="Print the policy file itself.")
def trust_show(policypath: str | None, registrypath: str | None, as_json: bool, raw: bool) -> None:
    """Show the trust policy."""
    from lamina.ops.trust_commands import trust_show as op
    from lamina.trust.policy import find_policy_path

    if raw:
        click.echo(find_policy_path(policypath).read_text(), nl=False)
        return
    rows = op(policypath, registrypath)
    if as_json:
        echo_json(
            [
                {"transport": r.transport, "name": r.name, "repo_name": r.repo_name, "type": r.type}
                | ({"sigstore": r.sigstore} if r.sigstore else {})
                for r in rows
            ]
        )
        return
    table = [("TRANSPORT", "NAME", "TYPE", "ID", "STORE")]
    table += [(r.transport, r.repo_name, r.type, r.gpg_id, r.sigstore) for r in rows]  # as podman
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@trust.command("set")
@click.argument("scope")
@click.option(
    "-t",
    "--type",
    "trust_type",
    type=click.Choice(["accept", "reject", "signedBy"]),
    default="signedBy",
    show_default=True,
    help="What the scope requires.",
)
@click.option("-f", "--pubkeysfile", multiple=True, help="Public key file(s) for signedBy.")
@click.option("--policypath", default=None, help="Policy file to edit.")
def trust_set(
    scope: str, trust_type: str, pubkeysfile: tuple[str, ...], policypath: str | None
) -> None:
    """Set what SCOPE (a registry/repository, or `default`) requires."""
    from lamina.ops.trust_commands import trust_set as op

    op(scope, trust_type, list(pubkeysfile), policypath)


@click.group()
def key() -> None:
    """Signing keys."""


@key.command("generate", epilog="Example: COSIGN_PASSWORD=… lamina key generate")
@click.option("--output-dir", default=".", help="Where to write cosign.key and cosign.pub.")
@click.option("--prefix", default="cosign", help="File name prefix.")
def key_generate(output_dir: str, prefix: str) -> None:
    """Make a cosign key pair: PREFIX.pub and encrypted PREFIX.key (passphrase from
    $COSIGN_PASSWORD, else prompted)."""
    from lamina.ops.trust_commands import key_generate as op

    env = os.environ.get("COSIGN_PASSWORD")
    if env is None:
        env = click.prompt(
            "Passphrase for the private key", hide_input=True, confirmation_prompt=True
        )
    key_path, pub_path = op(output_dir, str(env).encode(), prefix)
    click.echo(f"Private key written to {key_path}")
    click.echo(f"Public key written to {pub_path}")
