"""DESIGN.md: `import lamina` loads no web framework, no CLI toolkit and no crypto; the
library layers a Python user imports stay free of them too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _python(code: str) -> str:
    """What a fresh interpreter running `code` prints."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


HEAVY = ("click", "rich", "aiohttp", "cryptography", "nacl", "jwt", "bcrypt", "urllib3")


@pytest.mark.parametrize(
    "module",
    ["lamina", "lamina.oci", "lamina.content", "lamina.image", "lamina.store", "lamina.copy"],
)
def test_import_loads_nothing_heavy(module: str) -> None:
    code = f"import sys, {module}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = _python(code).strip()
    assert out == "", f"importing {module} loaded: {out}"


# What an image copy loads before it touches a transport: no HTTP stack (urllib3 loads with
# the first registry source or destination), no YAML, no crypto, no gpg driver, no store,
# no progress-event or image-config classes (built only when used), no tar reader (only
# archive transports need it), no TOML parser (tomllib loads when a registries.conf is
# read), no host-platform probe, no classes of requirements the policy
# does not name.
COPY_PATH_UNUSED = (
    "urllib3",
    "yaml",
    "cryptography",
    "subprocess",
    "click",
    "tarfile",
    "tomllib",
    "platform",
    "lamina.oci.config",
    "lamina.copy.progress",
    "lamina.store",
    "lamina.trust.cosign",
    "lamina.trust.gpg",
    "lamina.trust.requirements_other",
    "lamina.trust.requirements_sigstore",
    "lamina.transports.directory",
)


@pytest.mark.parametrize(
    "module",
    [
        "lamina.copy.parallel",
        "lamina.ops.copying",
        "lamina.transports.registry",
        "lamina.trust.evaluate",
        "lamina.trust.signed_refs",
        "lamina.ops.trust",
        "lamina.transports.registries_conf",
    ],
)
def test_copy_path_modules_load_only_what_they_use(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"print(' '.join(m for m in {COPY_PATH_UNUSED!r} if m in sys.modules))"
    )
    out = _python(code).strip()
    assert out == "", f"importing {module} loaded: {out}"


def test_image_copy_command_skips_the_container_commands() -> None:
    """`lamina copy SRC DST` goes straight to the image copy: the container commands (and
    the image listing they share) are not imported to decide that."""
    code = (
        "import sys, click\n"
        "from lamina.cli.main import cli\n"
        "ctx = click.Context(cli)\n"
        "name, cmd, rest = cli.resolve_command(ctx, ['copy', '-q', 'docker://r/a:1', 'dir:/x'])\n"
        "print(cmd.callback.__module__, rest)\n"
        "print(' '.join(m for m in ('lamina.cli.copyin_cmd', 'lamina.cli.containers_cmd',"
        " 'lamina.cli.images_cmd') if m in sys.modules))\n"
        "name, cmd, rest = cli.resolve_command(ctx, ['copy', 'web', './app', '/usr/bin/'])\n"
        "print(cmd.callback.__module__)"
    )
    out = _python(code).splitlines()
    assert out[0] == "lamina.cli.copy_cmd ['-q', 'docker://r/a:1', 'dir:/x']"
    assert out[1] == ""
    assert out[2] == "lamina.cli.copyin_cmd"  # the two-form `copy` (container form first)


# The CLI's start-up: `lamina --help` lists the commands without importing any, and a
# command imports its own module only; commands that never reach a registry, sign, read
# YAML or draw progress bars leave those stacks out.
CLI_HEAVY = ("rich", "aiohttp", "cryptography", "urllib3", "nacl", "jwt", "bcrypt", "yaml")
COMMAND_MODULES = (
    "lamina.cli.images_cmd",
    "lamina.cli.containers_cmd",
    "lamina.cli.copyin_cmd",
    "lamina.cli.copy_cmd",
    "lamina.cli.registry_client_cmd",
    "lamina.cli.trust_cmd",
    "lamina.cli.archive_cmd",
)


@pytest.mark.parametrize(
    ("argv", "shows", "unused"),
    [
        (["--help"], "Commands:", (*CLI_HEAVY, *COMMAND_MODULES, "lamina.store")),
        (["images"], "REPOSITORY", (*CLI_HEAVY, *COMMAND_MODULES[1:])),
        (["sync", "--help"], "--src", CLI_HEAVY),
        (["push", "--help"], "DESTINATION", CLI_HEAVY),
    ],
)
def test_a_command_line_imports_only_what_it_uses(
    argv: list[str], shows: str, unused: tuple[str, ...], tmp_path: Path
) -> None:
    """Run as `python -X importtime -m lamina.cli.main ARGS` (the profiling command): the
    modules imported are the ones importtime names on stderr."""
    env = dict(os.environ, LAMINA_ROOT=str(tmp_path / "store"))
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lamina.cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert shows in done.stdout
    imported = {
        line.rpartition("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "click" in imported  # the sanity of the reading: the one CLI parser is there
    assert sorted(imported & set(unused)) == []


def test_the_registry_source_loads_no_manifest_model() -> None:
    """It reads the manifest size limit from oci.limits, so that reading a manifest's
    digest loads neither the manifest nor the index model."""
    code = (
        "import sys, lamina.transports.registry.source; "
        "print(sorted(m for m in sys.modules if m.startswith('lamina.oci.')))"
    )
    loaded = _python(code).strip()
    assert "lamina.oci.index" not in loaded and "lamina.oci.manifest" not in loaded, loaded
