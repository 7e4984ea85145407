"""What a shell-form RUN with heredocs hands to its shell, as BuildKit does it.

- The command is one marker only (`RUN <<EOF`, `RUN << "EOF"`): the body is the script
  (`SHELL` runs it, e.g. `/bin/sh -c BODY`); a body starting with `#!` is instead written
  as an executable file `/dev/pipes/NAME` (read-only) and the shell runs that path, so its
  interpreter line picks the program (`#!/usr/bin/env python3`).
- Anything else (`RUN cat <<EOF > /out`, `RUN <<EOF cat`, two heredocs): the whole line
  with each body and its delimiter appended (`line\\nBODY NAME` per heredoc) is the script,
  and the shell itself feeds each body to its command, expands it unless the delimiter
  was quoted, and strips tabs for `<<-`.

Bodies are never expanded by lamina (BuildKit ignores the expand flag of RUN heredocs).
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.building.containerfile import Run
from lamina.building.containerfile.heredocs import whole_command

PIPES = "/dev/pipes"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunScript:
    script: str  # the shell's last argument
    pipe: tuple[str, str] | None = None  # (file name under /dev/pipes, content): 0755


def run_script(ins: Run) -> RunScript:
    """The script of the shell-form RUN `ins` (its heredocs, if any, included)."""
    line = ins.args[0] if ins.args else ""
    if not ins.heredocs:
        return RunScript(script=line)
    first = ins.heredocs[0]
    if whole_command(line):
        if first.content.startswith("#!"):
            return RunScript(script=f"{PIPES}/{first.name}", pipe=(first.name, first.content))
        return RunScript(script=first.content)
    full = line + "".join(f"\n{doc.content}{doc.name}" for doc in ins.heredocs)
    return RunScript(script=full)
