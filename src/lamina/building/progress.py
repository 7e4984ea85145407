"""Plain build progress, BuildKit-like: one line per step, RUN output indented below it.

    [stage 1/2] STEP 3/5: RUN make
        <the command's own output>
    [stage 1/2] STEP 3/5: DONE 1.2s
    [stage 2/2] STEP 2/4: COPY --from=build /out /app  CACHED

`Progress` is thread-safe (stages may run in parallel); with `stream=None` it prints
nothing but still counts steps and cache hits for the summary.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Progress:
    stream: TextIO | None
    summary_stream: TextIO | None = None  # where `summary` goes (None: `stream`)
    steps: int = 0
    cached: int = 0
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _write(self, text: str) -> None:
        self._write_to(self.stream, text)

    def _write_to(self, stream: TextIO | None, text: str) -> None:
        if stream is None:
            return
        with self._lock:
            stream.write(text + "\n")
            stream.flush()

    def step(self, stage: int, stages: int, k: int, n: int, text: str) -> str:
        """Announce a step; returns its prefix for `done`/`output`."""
        prefix = f"[stage {stage}/{stages}] STEP {k}/{n}:"
        one_line = " ".join(text.split())
        if len(one_line) > 200:
            one_line = one_line[:197] + "..."
        self._write(f"{prefix} {one_line}")
        return prefix

    def done(self, prefix: str, *, cached: bool, elapsed: float) -> None:
        with self._lock:
            self.steps += 1
            self.cached += int(cached)
        self._write(f"{prefix} {'CACHED' if cached else 'DONE'} {elapsed:.1f}s")

    def output(self, line: str) -> None:
        self._write("    " + line.rstrip("\n"))

    def note(self, text: str) -> None:
        self._write(text)

    def summary(self, image_id: str, size: int, names: list[str]) -> None:
        elapsed = time.monotonic() - self.started
        tags = f" as {', '.join(names)}" if names else ""
        self._write_to(
            self.summary_stream or self.stream,
            f"Built {image_id[:12]}{tags}: {self.steps} steps, {self.cached} cached, "
            f"{elapsed:.1f}s, {_human(size)}",
        )


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"
