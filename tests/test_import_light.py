"""DESIGN.md: `import lamina` loads no web framework, no CLI toolkit and no crypto; the
library layers a Python user imports stay free of them too."""

from __future__ import annotations

import subprocess
import sys

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
# archive transports need it), no TOML parser (registries.conf files that go beyond the
# common subset load it), no host-platform probe, no classes of requirements the policy
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
        "print(' '.join(m for m in ('lamina.cli.containers_cmd', 'lamina.cli.images_cmd')"
        " if m in sys.modules))\n"
        "name, cmd, rest = cli.resolve_command(ctx, ['copy', 'web', './app', '/usr/bin/'])\n"
        "print(cmd.callback.__module__)"
    )
    out = _python(code).splitlines()
    assert out[0] == "lamina.cli.copy_cmd ['-q', 'docker://r/a:1', 'dir:/x']"
    assert out[1] == ""
    assert out[2] == "lamina.cli.containers_cmd"  # the container form still goes there


def test_the_entry_point_and_the_image_copy_load_no_click() -> None:
    """`lamina copy SRC DST` with common flags runs without click (`cli.copy_fast`): the
    entry point, the error reporting and the image copy's own module must not load it."""
    code = (
        "import sys\n"
        "import lamina.cli.main, lamina.cli.errors, lamina.cli.copy_fast, lamina.cli.image_copy\n"
        "print(' '.join(m for m in ('click', 'rich', 'lamina.cli.group') if m in sys.modules))"
    )
    out = _python(code).strip()
    assert out == ""


def test_the_registry_source_limits_manifests_as_the_index_model_does() -> None:
    """The source keeps its own copy of the limit, so that reading a manifest's digest
    does not load the index model."""
    from lamina.oci.index import MAX_INDEX_SIZE
    from lamina.transports.registry.source import MAX_MANIFEST

    assert MAX_MANIFEST == MAX_INDEX_SIZE
