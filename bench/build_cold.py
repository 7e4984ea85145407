"""lamina build vs buildah bud --layers (chroot isolation), same run, fresh stores: a cold
build of a 4-stage Containerfile (COPY of a 200 MB context, a RUN creating 10,000 files,
COPY --from between stages), then a rebuild with nothing changed, then a rebuild after
editing one source file. Targets (lamina/buildah): cold <= 1.0x, no-change <= 0.5x,
one-file <= 1.0x.

    python -m bench.build_cold              # full size
    python -m bench.build_cold --scale 0.1  # 20 MB, 1,000 files
    python -m bench.build_cold --rounds 3   # medians of 3 (fresh stores each)
"""

from __future__ import annotations

from pathlib import Path

from bench.build_harness import (
    Timed,
    alternate,
    args,
    load_average,
    median,
    row,
    setup,
    teardown,
    write_random,
)

CONTAINERFILE = """\
FROM localhost/busybox:latest AS data
COPY data /data

FROM localhost/busybox:latest AS gen
RUN mkdir /files && cd /files && i=0 && \\
    while [ $i -lt {files} ]; do echo "$i" > f$i; i=$((i+1)); done

FROM localhost/busybox:latest AS combine
COPY --from=data /data /data
COPY --from=gen /files /files

FROM localhost/busybox:latest
COPY --from=combine /files /files
COPY --from=combine /data/part-0.bin /data/
COPY app /app
RUN ls /app | wc -l > /app-count
"""


def make_context(ctx: Path, scale: float) -> Path:
    total = int(200 * (1 << 20) * scale)
    parts = 20
    (ctx / "data").mkdir(parents=True)
    for i in range(parts):
        write_random(ctx / "data" / f"part-{i}.bin", total // parts)
    (ctx / "app").mkdir()
    for i in range(50):
        (ctx / "app" / f"mod{i}.py").write_text(f"# module {i}\nVALUE = {i}\n")
    files = max(1, int(10_000 * scale))
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(files=files))
    return ctx / "app" / "mod7.py"


def main() -> None:
    opts = args(__doc__)
    cases = (
        ("cold build (4 stages)", "1.0x"),
        ("rebuild, nothing changed", "0.5x"),
        ("rebuild, one source edited", "1.0x"),
    )
    ours: list[list[Timed]] = [[] for _ in cases]
    theirs: list[list[Timed]] = [[] for _ in cases]
    for n in range(opts.rounds):
        tools = setup()
        try:
            ctx = tools.work / "ctx"
            source = make_context(ctx, opts.scale)
            if n == 0:
                print(
                    f"context: {opts.scale * 200:.0f} MB in 20 files + 50 sources; "
                    f"RUN makes {max(1, int(10_000 * opts.scale))} files; {opts.rounds} rounds"
                )
            for i, (label, target) in enumerate(cases):
                if i == 2:
                    with source.open("a") as f:
                        f.write("# edited\n")
                a, b = alternate(n, tools, ctx, "localhost/bench-cold:latest")
                ours[i].append(a)
                theirs[i].append(b)
                if opts.rounds == 1:
                    print(row(label, a, b, target), flush=True)
            print(
                f"  round {n + 1}: "
                + ", ".join(
                    f"{ours[i][-1].seconds:.2f}/{theirs[i][-1].seconds:.2f}s" for i in range(3)
                )
                + f" (lamina/buildah); {load_average()}",
                flush=True,
            )
        finally:
            if not opts.keep:
                teardown(tools)
    if opts.rounds > 1:
        print("medians:")
        for i, (label, target) in enumerate(cases):
            print(row(label, median(ours[i]), median(theirs[i]), target))
    print(load_average())


if __name__ == "__main__":
    main()
