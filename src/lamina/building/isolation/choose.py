"""Picking an isolation that works here, and saying why.

"oci": runc (rootless spec when not root). "chroot": unshare + chroot (root only).
Without a request, `$LAMINA_ISOLATION` is honoured, then runc if it answers, then chroot.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lamina.building.isolation.chroot import run_chroot
from lamina.building.isolation.oci import Stdio, run_oci
from lamina.building.isolation.spec import RunSpec
from lamina.errors import BuildError, InvalidInput

Kind = Literal["oci", "chroot"]
KINDS: tuple[Kind, ...] = ("oci", "chroot")


@dataclass(frozen=True, slots=True)
class Isolation:
    """A chosen isolation: `kind`, whether the OCI spec is rootless, and why it was picked."""

    kind: Kind
    rootless: bool
    reason: str

    def run(
        self,
        spec: RunSpec,
        bundle: Path,
        *,
        stdin: Stdio = None,
        stdout: Stdio = None,
        stderr: Stdio = None,
        timeout: float | None = None,
    ) -> int:
        """Run `spec` with this isolation in the empty dir `bundle`; the exit code."""
        if self.kind == "oci":
            return run_oci(
                spec,
                bundle,
                rootless=self.rootless,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                timeout=timeout,
            )
        return run_chroot(spec, bundle, stdin=stdin, stdout=stdout, stderr=stderr, timeout=timeout)


@functools.cache
def _runc_problem() -> str | None:
    runc = shutil.which("runc")
    if runc is None:
        return "runc is not installed"
    try:
        r = subprocess.run([runc, "--version"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"runc does not answer: {exc}"
    if r.returncode != 0:
        return f"runc --version failed: {r.stderr.decode(errors='replace').strip()}"
    return None


def choose(requested: str | None = None) -> Isolation:
    """The isolation to use: `requested` ("oci"/"runc" or "chroot"), else
    `$LAMINA_ISOLATION`, else the first that works. BuildError if none can."""
    root = os.geteuid() == 0
    want = requested or os.environ.get("LAMINA_ISOLATION") or None
    if want == "runc":
        want = "oci"
    if want is not None and want not in KINDS:
        raise InvalidInput(f"isolation {want!r}: use one of oci, chroot")
    if want == "chroot":
        if not root:
            raise BuildError("isolation chroot needs root; use oci (runc, rootless)")
        return Isolation("chroot", False, "chroot: requested")
    # Probing runc costs a process start (10-20 ms a run): only when choosing by it.
    if want == "oci":
        runc_problem = None if shutil.which("runc") else "runc is not installed"
    else:
        runc_problem = _runc_problem()
    if want == "oci" or (want is None and runc_problem is None):
        if runc_problem is not None:
            raise BuildError(f"isolation oci: {runc_problem}")
        why = "requested" if want else "runc is available"
        return Isolation("oci", not root, f"oci (runc{', rootless' if not root else ''}): {why}")
    if not root:
        raise BuildError(f"isolation chroot needs root, and oci is not usable: {runc_problem}")
    why = "requested" if want else f"{runc_problem}"
    return Isolation("chroot", False, f"chroot: {why}")
