"""lamina build vs buildah bud --layers (chroot isolation), same run: a context of 50,000
small files of which the ignore file excludes 90% (a vendored `node_modules/` and build
output), and a Containerfile whose first step copies the context. Reported: the time until
that first step is done (the whole build: FROM, then `COPY . /src`; target lamina/buildah
<= 0.5x), and when the first step's line appeared (shown, no target).

    python -m bench.build_context              # 50,000 files
    python -m bench.build_context --scale 0.1  # 5,000 files
    python -m bench.build_context --rounds 5   # medians of 5 (fresh stores each)
"""

from __future__ import annotations

from pathlib import Path

from bench.build_harness import Timed, alternate, args, load_average, median, row, setup, teardown

CONTAINERFILE = "FROM localhost/busybox:latest\nCOPY . /src\n"
IGNORE = "node_modules\nbuild/\n**/*.tmp\n"


def make_context(ctx: Path, files: int) -> int:
    """`files` files in all; 90% ignored. Returns how many are kept."""
    kept = files // 10
    ignored = files - kept
    per_dir = 100
    for n in range(ignored):
        top = ("node_modules", "build")[n % 2] if n % 10 else "src"
        d = ctx / top / f"pkg{n // per_dir}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{n}.tmp" if top == "src" else d / f"f{n}.js").write_text(f"ignored {n}\n")
    for n in range(kept):
        d = ctx / "src" / f"mod{n // per_dir}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"m{n}.py").write_text(f"kept = {n}\n")
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / ".containerignore").write_text(IGNORE)
    return kept


def main() -> None:
    opts = args(__doc__)
    files = max(10, int(50_000 * opts.scale))
    ours: list[Timed] = []
    theirs: list[Timed] = []
    for n in range(opts.rounds):
        tools = setup()
        try:
            ctx = tools.work / "ctx"
            kept = make_context(ctx, files)
            if n == 0:
                print(
                    f"context: {files} files, {kept} kept by .containerignore; {opts.rounds} rounds"
                )
            a, b = alternate(n, tools, ctx, "localhost/bench-ctx:latest", r"STEP 2/2")
            ours.append(a)
            theirs.append(b)
            print(
                f"  round {n + 1}: lamina {a.seconds:.2f}s buildah {b.seconds:.2f}s; "
                f"{load_average()}"
            )
        finally:
            if not opts.keep:
                teardown(tools)
    a, b = median(ours), median(theirs)
    # The target is on the time until the first step is done: the context read, ignored
    # paths skipped, the kept files copied and committed. When its STEP line appears is
    # shown too (buildah prints it before reading the context; lamina's line comes after
    # Python's start-up and imports, about 0.1-0.2 s here).
    print(row("first step done (FROM + COPY .)", a, b, "0.5x"))
    print(row("first step line shown", a, b, "", first=True))
    print(load_average())


if __name__ == "__main__":
    main()
