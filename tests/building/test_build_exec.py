"""lamina build end to end over a real store: examples, layers, cache, secrets, errors."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import containers
from lamina.building.executor import BuildOptions, BuildResult, build
from lamina.building.executor_stage import opened_image
from lamina.content.compression import decompress_reader
from lamina.errors import LaminaError
from lamina.ops.base import make_busybox
from lamina.store import Store

pytestmark = pytest.mark.root
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "store")
    make_busybox(s, "localhost/busybox:latest")
    yield s
    assert containers(s) == [], "a build left working containers behind"
    s.close()


def run_build(store: Store, ctx: Path, **kw: object) -> tuple[BuildResult, str]:
    out = io.StringIO()
    result = build(store, ctx, BuildOptions(**kw), stream=out)  # type: ignore[arg-type]
    return result, out.getvalue()


def ctx_with(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Containerfile").write_text(text)
    for name, body in (files or {}).items():
        (ctx / name).parent.mkdir(parents=True, exist_ok=True)
        (ctx / name).write_text(body)
    return ctx


def files_of(store: Store, image_id: str, under: str = "") -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with opened_image(store, image_id) as (root, _):
        base = root / under.lstrip("/")
        for dirpath, _dirs, names in os.walk(base):
            for n in names:
                p = os.path.join(dirpath, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    out[os.path.relpath(p, base)] = Path(p).read_bytes()
    return out


def test_multistage_example(store: Store, tmp_path: Path) -> None:
    ctx = tmp_path / "ms"
    shutil.copytree(EXAMPLES / "multistage", ctx)
    result, log = run_build(store, ctx, tags=["localhost/hello:1"])
    img = store.image(result.image)
    cc = img.config().config
    assert cc.user == "app"
    assert cc.exposed_ports == ("8080/tcp",)
    assert cc.entrypoint == ("/app/bin/hello",) and cc.cmd == ("world",)
    assert cc.working_dir == "/app" and "APP_HOME=/app" in cc.env
    assert cc.labels == {
        "org.opencontainers.image.title": "hello",
        "org.opencontainers.image.version": "1.0",
    }
    assert cc.healthcheck is not None
    assert cc.healthcheck.test == ("CMD", "/app/bin/hello", "--check")
    assert cc.healthcheck.interval == 30 * 10**9 and cc.healthcheck.retries == 3
    app = files_of(store, result.image.id, "/app")
    assert set(app) == {"bin/hello"}, "only the artifact is copied from the compiler stage"
    assert b"hello 1.0" in app["bin/hello"]
    assert not files_of(store, result.image.id, "/build")
    assert "[stage 2/2] STEP 11/11" in log and "Built " in log


def test_conditional_example_follows_environment(store: Store, tmp_path: Path) -> None:
    ctx = tmp_path / "cond"
    shutil.copytree(EXAMPLES / "conditional", ctx)
    dev, _ = run_build(store, ctx, build_args=["ENVIRONMENT=development"])
    prod, _ = run_build(store, ctx)
    d, p = files_of(store, dev.image.id, "/etc"), files_of(store, prod.image.id, "/etc")
    assert d["app.conf"] == b"log_level=debug\n" and d["app-mode"] == b"debug tools installed\n"
    assert p["app.conf"] == b"log_level=warn\n" and p["app-mode"] == b"lean production image\n"
    assert "APP_ENV=development" in store.image(dev.image).config().config.env


def test_dependency_cache_does_not_rerun_install(store: Store, tmp_path: Path) -> None:
    ctx = tmp_path / "dep"
    shutil.copytree(EXAMPLES / "depcache", ctx)
    first, _ = run_build(store, ctx)
    assert "node_modules/.installed" in files_of(store, first.image.id, "/srv")
    cache_logs = list((store.root / "build-cache" / "mounts").rglob("install-log"))
    assert len(cache_logs) == 1 and len(cache_logs[0].read_text().splitlines()) == 1
    (ctx / "src" / "index.js").write_text('console.log("changed")\n')
    second, log = run_build(store, ctx)
    assert len(cache_logs[0].read_text().splitlines()) == 1, "the install RUN ran again"
    assert "STEP 4/6: CACHED" in log and "STEP 5/6: DONE" in log
    assert second.image.id != first.image.id
    assert files_of(store, second.image.id, "/srv")["src/index.js"] == b'console.log("changed")\n'


def test_layers_one_per_run(store: Store, tmp_path: Path) -> None:
    merged = ctx_with(
        tmp_path / "a", "FROM localhost/busybox\nRUN touch /1 && touch /2 && touch /3 && touch /4\n"
    )
    four = ctx_with(
        tmp_path / "b",
        "FROM localhost/busybox\nRUN touch /1\nRUN touch /2\nRUN touch /3\nRUN touch /4\n",
    )
    base = len(store.image(store.lookup("localhost/busybox")).layers())
    m, _ = run_build(store, merged)
    f, _ = run_build(store, four)
    assert len(store.image(m.image).layers()) == base + 1
    assert len(store.image(f.image).layers()) == base + 4
    flat, _ = run_build(store, four, layers=False, tags=["localhost/flat"])
    assert len(store.image(flat.image).layers()) == base + 1


def test_build_arg_change_reruns_from_first_use(store: Store, tmp_path: Path) -> None:
    ctx = ctx_with(
        tmp_path,
        "FROM localhost/busybox\nRUN echo one > /1\nARG V=a\nRUN echo two > /2\n"
        "RUN echo $V > /3\nRUN echo four > /4\n",
    )
    _, log1 = run_build(store, ctx)
    _, log2 = run_build(store, ctx, build_args=["V=b"])
    assert "STEP 2/6: CACHED" in log2
    for k in (3, 4, 5, 6):
        assert f"STEP {k}/6: DONE" in log2, log2
    _, log3 = run_build(store, ctx, build_args=["V=b"], no_cache=True)
    assert "CACHED" not in log3
    assert "CACHED" not in log1


def test_two_clean_builds_have_the_same_digest(store: Store, tmp_path: Path) -> None:
    ctx = ctx_with(
        tmp_path, "FROM localhost/busybox\nCOPY f /f\nRUN echo x > /x\nENV A=1\n", {"f": "data\n"}
    )
    a, _ = run_build(store, ctx, timestamp=1_700_000_000)
    b, _ = run_build(store, ctx, timestamp=1_700_000_000, no_cache=True)
    assert a.image.manifest_digest == b.image.manifest_digest


def test_secret_never_lands_anywhere(store: Store, tmp_path: Path) -> None:
    secret = b"s3cr3t-Value-7f1c"
    (tmp_path / "secret.txt").write_bytes(secret)
    digest = hashlib.sha256(secret).hexdigest()
    ctx = ctx_with(
        tmp_path,
        "FROM localhost/busybox\n"
        f'RUN --mount=type=secret,id=tok test "$(sha256sum < /run/secrets/tok)" = "{digest}  -" '
        "&& wc -c < /run/secrets/tok > /len\n"
        "RUN --mount=type=secret,id=tok,env=TOKEN "
        f'test "$(printf %s "$TOKEN" | sha256sum)" = "{digest}  -" && echo ok > /ok\n',
    )
    result, log = run_build(
        store, ctx, secrets=[f"id=tok,src={tmp_path / 'secret.txt'}"], tags=["localhost/sec"]
    )
    assert secret not in log.encode()
    img = store.image(result.image)
    assert secret not in img.raw_config() and secret not in img.raw_manifest()
    for layer in img.layers():
        with layer.open() as raw:
            plain, _ = decompress_reader(raw)
            assert secret not in plain.read()
    files = files_of(store, result.image.id)
    assert files["ok"] == b"ok\n" and files["len"].strip() == b"17"
    assert not any(secret in v for v in files.values())
    for rec in (store.root / "build-cache").rglob("*"):
        if rec.is_file():
            assert secret not in rec.read_bytes()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("FROM localhost/busybox\nFROBNICATE x\n", "Containerfile:2"),
        ("FROM localhost/nothere:1\nRUN true\n", "Containerfile:1"),
        ("FROM localhost/busybox\nCOPY missing.txt /x\n", "Containerfile:2"),
        ("FROM localhost/busybox\nCOPY ../outside /x\n", "Containerfile:2"),
        ("FROM localhost/busybox AS a\nCOPY --from=b /x /x\nFROM a AS b\n", "cycle"),
        ("FROM localhost/busybox\nRUN true\nRUN exit 3\n", "Containerfile:3"),
    ],
)
def test_bad_input_fails_cleanly(store: Store, tmp_path: Path, text: str, want: str) -> None:
    ctx = ctx_with(tmp_path, text)
    before = {i.id for i in store.list_images(all=True)}
    with pytest.raises(LaminaError) as err:
        run_build(store, ctx, tags=["localhost/half:1"])
    assert want in str(err.value)
    if "exit 3" in text:
        assert "code 3" in str(err.value)
    with pytest.raises(LaminaError):
        store.lookup("localhost/half:1")
    assert {i.id for i in store.list_images(all=True) if i.names} == {
        i.id for i in store.list_images(all=True) if i.names and i.id in before
    }


def test_unknown_target(store: Store, tmp_path: Path) -> None:
    ctx = ctx_with(tmp_path, "FROM localhost/busybox AS a\nRUN true\n")
    with pytest.raises(LaminaError, match="target stage 'nope'"):
        run_build(store, ctx, target="nope")


def test_target_skips_unneeded_stages_and_args_scope(store: Store, tmp_path: Path) -> None:
    ctx = ctx_with(
        tmp_path,
        "ARG G=global\nFROM localhost/busybox AS base\nARG G\nARG L=local\n"
        'RUN echo "$G $L" > /args\n'
        'FROM base AS child\nRUN echo "$G $L" > /inherited\n'
        "FROM localhost/busybox AS other\nRUN exit 9\n"
        'FROM localhost/busybox AS last\nRUN echo "[$G]" > /g\n',
    )
    result, log = run_build(store, ctx, target="child", build_args=["UNUSED=1"])
    files = files_of(store, result.image.id)
    assert files["args"] == b"global local\n" and files["inherited"] == b"global local\n"
    assert "UNUSED" in log and "not consumed" in log
    last, _ = run_build(
        store,
        ctx_with(tmp_path / "x", 'ARG G=global\nFROM localhost/busybox\nRUN echo "[$G]" > /g\n'),
    )
    assert files_of(store, last.image.id)["g"] == b"[]\n"


def test_env_wins_over_arg_and_history_strings(store: Store, tmp_path: Path) -> None:
    ctx = ctx_with(
        tmp_path,
        "FROM localhost/busybox\nARG A=fromarg\nARG B=b\nENV A=fromenv\nRUN echo $A > /a\n",
    )
    result, _ = run_build(store, ctx, format="docker")
    assert files_of(store, result.image.id)["a"] == b"fromenv\n"
    hist = [h.created_by for h in store.image(result.image).config().history]
    assert hist[-5:] == [
        "/bin/sh -c #(nop) ARG A",
        "/bin/sh -c #(nop) ARG A B",
        "/bin/sh -c #(nop) ENV A=fromenv",
        "|1 B=b /bin/sh -c echo $A > /a",
    ][-4:] or hist[-4:] == [
        "/bin/sh -c #(nop) ARG A",
        "/bin/sh -c #(nop) ARG A B",
        "/bin/sh -c #(nop) ENV A=fromenv",
        "|1 B=b /bin/sh -c echo $A > /a",
    ]
