"""`login`, `logout`, `push`, `pull`, `list-tags`, `delete`: talking to registries."""

from __future__ import annotations

import sys

import click

from lamina.cli.context import store_from
from lamina.cli.copy_cmd import (
    ProgressView,
    load_registries,
    options_for,
    registries_conf_option,
    tls_option,
)
from lamina.cli.output import echo_json, is_json, render_template
from lamina.cli.trust_cmd import policy_flags, sign_flags, trust_from


@click.command(epilog="Example: echo s3cret | lamina login -u me --password-stdin 127.0.0.1:5000")
@click.argument("registry")
@click.option("-u", "--username", default=None, help="User name.")
@click.option("-p", "--password", default=None, help="Password (prefer --password-stdin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--authfile", default=None, help="Write credentials to this auth file.")
@click.option("--cert-dir", default=None, help="certs.d-style directory for the registry.")
@tls_option("tls-verify", "for the registry")
def login(
    registry: str,
    username: str | None,
    password: str | None,
    password_stdin: bool,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
) -> None:
    """Check credentials against REGISTRY and record them in the auth file podman and
    skopeo read."""
    from lamina.errors import InvalidInput
    from lamina.ops.pulling_remote import login as login_op

    if password_stdin:
        if password is not None:
            raise InvalidInput("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\r\n")
    if username is None:
        username = click.prompt("Username")
    if password is None:
        password = click.prompt("Password", hide_input=True)
    options = options_for(None, authfile, tls_verify, cert_dir)
    login_op(registry, username, password, authfile=authfile, options=options)
    click.echo("Login Succeeded!")


@click.command(epilog="Example: lamina logout 127.0.0.1:5000")
@click.argument("registry", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove every stored credential.")
@click.option("--authfile", default=None, help="Auth file to edit.")
def logout(registry: str | None, all_: bool, authfile: str | None) -> None:
    """Remove the stored credentials for REGISTRY (or all with --all)."""
    from lamina.errors import InvalidInput, NotFound
    from lamina.ops.pulling_remote import logout as logout_op

    if registry is None and not all_:
        raise InvalidInput("logout needs a REGISTRY or --all", hint="lamina logout HOST[:PORT]")
    if not logout_op(registry, authfile=authfile, all=all_) and not all_:
        raise NotFound(f"not logged in to {registry}", hint="nothing to remove from the auth file")
    click.echo(f"Removed login credentials for {registry or 'all registries'}")


@click.command(epilog="Example: lamina push localhost/app:1 127.0.0.1:5000/team/app:1")
@click.argument("image")
@click.argument("destination", required=False)
@click.option("--creds", default=None, metavar="USER[:PASS]", help="Registry credentials.")
@click.option("--authfile", default=None, help="Auth file to read.")
@click.option("--cert-dir", default=None, help="certs.d-style directory for the registry.")
@tls_option("tls-verify", "for the registry")
@click.option("-f", "--format", "manifest_format", type=click.Choice(["oci", "v2s2"]))
@click.option("--compression-format", type=click.Choice(["gzip", "zstd"]), default=None)
@click.option("--remove-signatures", is_flag=True, help="Do not copy signatures.")
@click.option("--retry-times", type=int, default=0, help="Retry a failed push this many times.")
@click.option("--digestfile", default=None, help="Write the manifest digest to this file.")
@registries_conf_option
@sign_flags
@click.option("-q", "--quiet", is_flag=True, help="Print nothing while pushing.")
@click.pass_context
def push(
    ctx: click.Context,
    image: str,
    destination: str | None,
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
    manifest_format: str | None,
    compression_format: str | None,
    remove_signatures: bool,
    retry_times: int,
    digestfile: str | None,
    registries_conf: str | None,
    quiet: bool,
) -> None:
    """Push IMAGE from local storage to DESTINATION (HOST/REPO:TAG or any TRANSPORT:…;
    default: the image's own name)."""
    from lamina.copy.parallel import CopyOptions
    from lamina.ops.pulling import push as push_op

    with ProgressView(quiet) as view:
        _, digest = push_op(
            store_from(ctx),
            image,
            destination,
            options=options_for(creds, authfile, tls_verify, cert_dir),
            registries=load_registries(registries_conf),
            copy_options=CopyOptions(
                multi_arch="all",
                manifest_format=manifest_format,
                compression=compression_format,
                remove_signatures=remove_signatures,
            ),
            retry_times=retry_times,
            progress=view,
            trust=trust_from(ctx),
        )
    if digestfile:
        with open(digestfile, "w", encoding="utf-8") as f:
            f.write(str(digest))


@click.command(epilog="Example: lamina pull 127.0.0.1:5000/team/app:1")
@click.argument("image")
@click.option("--platform", default=None, help="For an index: the image for OS/ARCH.")
@click.option("--all-tags", "-a", is_flag=True, help="Pull every tag of the repository.")
@click.option("--creds", default=None, metavar="USER[:PASS]", help="Registry credentials.")
@click.option("--authfile", default=None, help="Auth file to read.")
@click.option("--cert-dir", default=None, help="certs.d-style directory for the registry.")
@tls_option("tls-verify", "for the registry")
@click.option("--retry-times", type=int, default=0, help="Retry a failed pull this many times.")
@registries_conf_option
@policy_flags
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.pass_context
def pull(
    ctx: click.Context,
    image: str,
    platform: str | None,
    all_tags: bool,
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
    retry_times: int,
    registries_conf: str | None,
    quiet: bool,
) -> None:
    """Pull IMAGE into local storage (short names resolved through registries.conf).
    Prints the image ID."""
    from lamina.copy.parallel import CopyOptions
    from lamina.ops.pulling import pull as pull_op
    from lamina.platform import Platform

    with ProgressView(quiet) as view:
        pulled = pull_op(
            store_from(ctx),
            image,
            options=options_for(creds, authfile, tls_verify, cert_dir),
            registries=load_registries(registries_conf),
            copy_options=CopyOptions(platform=Platform.parse(platform) if platform else None),
            all_tags=all_tags,
            retry_times=retry_times,
            progress=view,
            trust=trust_from(ctx),
        )
    for p in pulled:
        click.echo(p.image_id)


@click.command("list-tags", epilog="Example: lamina list-tags docker://127.0.0.1:5000/team/app")
@click.argument("repository")
@click.option("--creds", default=None, metavar="USER[:PASS]", help="Registry credentials.")
@click.option("--authfile", default=None, help="Auth file to read.")
@click.option("--cert-dir", default=None, help="certs.d-style directory for the registry.")
@tls_option("tls-verify", "for the registry")
@registries_conf_option
@click.option(
    "--format",
    "fmt",
    default="json",
    show_default=True,
    metavar="json|table|TEMPLATE",
    help="json: skopeo's {Repository, Tags} object; table: one tag a line; a Go template "
    "runs once on that object (`{{range .Tags}}{{.}}\\n{{end}}`).",
)
def list_tags(
    repository: str,
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
    registries_conf: str | None,
    fmt: str,
) -> None:
    """List the tags of REPOSITORY (docker://HOST/REPO): skopeo's JSON unless --format."""
    from lamina.ops.pulling import list_tags as list_op

    tags = list_op(
        repository,
        options_for(creds, authfile, tls_verify, cert_dir),
        registries=load_registries(registries_conf),
    )
    if fmt == "table":
        for t in tags:
            click.echo(t)
        return
    name = repository.removeprefix("docker://")
    if is_json(fmt):
        echo_json({"Repository": name, "Tags": tags})
        return
    from lamina.gotemplate import Record

    # the template runs once, on skopeo's object: {{range .Tags}}{{.}}\n{{end}}
    click.echo(render_template(fmt, [Record(Repository=name, Tags=tags)]), nl=False)


@click.command(epilog="Example: lamina delete docker://127.0.0.1:5000/team/app:1")
@click.argument("image")
@click.option("--creds", default=None, metavar="USER[:PASS]", help="Registry credentials.")
@click.option("--authfile", default=None, help="Auth file to read.")
@click.option("--cert-dir", default=None, help="certs.d-style directory for the registry.")
@tls_option("tls-verify", "for the registry")
@registries_conf_option
def delete(
    image: str,
    creds: str | None,
    authfile: str | None,
    cert_dir: str | None,
    tls_verify: bool | None,
    registries_conf: str | None,
) -> None:
    """Delete the manifest IMAGE (docker://HOST/REPO:TAG or @DIGEST) names from its
    registry. Prints the deleted digest."""
    from lamina.ops.pulling_remote import delete as delete_op

    digest = delete_op(
        image,
        options_for(creds, authfile, tls_verify, cert_dir),
        registries=load_registries(registries_conf),
    )
    click.echo(str(digest))
