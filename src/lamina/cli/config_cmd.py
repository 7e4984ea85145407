"""`lamina config`: edit a working container's pending image config, with buildah's flags."""

from __future__ import annotations

import click


@click.command(
    epilog='Example: lamina config --port 8080 --entrypoint \'["/bin/httpd","-f"]\' '
    "--cmd '-p 8080' --workingdir /srv --env MODE=prod --label version=1 web",
)
@click.argument("name")
@click.option("-p", "--port", multiple=True, help="Expose PORT[/PROTO]; PORT- removes; - all.")
@click.option(
    "--entrypoint", help='JSON array (exec form) or a string run by /bin/sh -c; "" clears.'
)
@click.option("--cmd", help='JSON array or shell words; "" clears.')
@click.option(
    "-e", "--env", multiple=True, help="KEY=VALUE; KEY- removes; - removes all; KEY: host value."
)
@click.option("-l", "--label", multiple=True, help="KEY=VALUE; KEY- removes; - removes all.")
@click.option(
    "-a",
    "--annotation",
    multiple=True,
    help="Manifest annotation KEY=VALUE (OCI format); KEY- removes.",
)
@click.option("--workingdir", help="Default working directory.")
@click.option("-u", "--user", help="Default USER[:GROUP].")
@click.option("-v", "--volume", multiple=True, help="Declare a volume; PATH- removes.")
@click.option("--stop-signal", help="Signal that stops the container (e.g. SIGTERM).")
@click.option(
    "--healthcheck", help='"CMD args…", "CMD-SHELL command", NONE, a JSON array; "" clears.'
)
@click.option("--healthcheck-interval", help="Time between checks (e.g. 30s).")
@click.option("--healthcheck-timeout", help="Time a check may take (e.g. 10s).")
@click.option("--healthcheck-start-period", help="Grace period after start (e.g. 1m).")
@click.option("--healthcheck-start-interval", help="Interval during the start period.")
@click.option("--healthcheck-retries", type=int, help="Failures before unhealthy.")
@click.option("--shell", help="Shell for shell-form commands (JSON array or words).")
@click.option("--onbuild", multiple=True, help="Add an ONBUILD trigger (docker format).")
@click.option("--author", help="Image author (maintainer).")
@click.option("--created-by", help="The history entry's created-by text.")
@click.option("--comment", help="The history entry's comment.")
@click.pass_context
def config(
    ctx: click.Context,
    /,
    name: str,
    port: tuple[str, ...],
    env: tuple[str, ...],
    label: tuple[str, ...],
    annotation: tuple[str, ...],
    volume: tuple[str, ...],
    onbuild: tuple[str, ...],
    **single: str | int | None,
) -> None:
    """Change the config of the image that working container NAME will commit."""
    from lamina.cli.context import store_from
    from lamina.ops.containers import ConfigFlags, configure

    flags = ConfigFlags(
        port=port,
        env=env,
        label=label,
        annotation=annotation,
        volume=volume,
        onbuild=onbuild,
        **single,  # type: ignore[arg-type]
    )
    configure(store_from(ctx), name, flags)
