"""podman's and buildah's flags people type on `build` and `from`, used for real: FROM an
image on a registry that demands a password (--creds, --authfile, --tls-verify), --env,
--unsetenv, --ignorefile, --rm/--force-rm."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.ops.conftest import PASSWORD, USER, htpasswd_file
from tests.server.servers import Server, restart, start_lamina
from tests.transports.registry.servers import make_tls


@pytest.fixture(scope="module")
def auth_reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """lamina's registry on a free 127.0.0.1 port, demanding USER/PASSWORD."""
    root = tmp_path_factory.mktemp("flags-auth-reg")
    server = start_lamina(root / "storage", "--htpasswd", str(htpasswd_file(root)))
    yield server
    server.stop()


def _context(tmp_path: Path, text: str, files: dict[str, str] | None = None) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    for name, body in (files or {}).items():
        (ctx / name).write_text(body)
    return ctx


def _config(lamina: Run, name: str) -> dict[str, object]:
    r = lamina("inspect", "--type", "image", name)
    assert r.code == 0, r.err
    cfg = r.json()[0]["Config"]
    assert isinstance(cfg, dict)
    return cfg


@pytest.fixture
def remote_base(
    lamina: Run, auth_reg: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """`lamina base` pushed to a registry that demands USER/PASSWORD; its docker:// name."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    assert lamina("base").code == 0
    where = f"{auth_reg.host}/flags/base:1"
    r = lamina("push", "--creds", f"{USER}:{PASSWORD}", "localhost/busybox:latest", where)
    assert r.code == 0, r.err
    assert lamina("rmi", "localhost/busybox:latest").code == 0
    return where


def test_build_from_a_password_registry_with_creds(
    lamina: Run, remote_base: str, tmp_path: Path
) -> None:
    ctx = _context(tmp_path, f"FROM {remote_base}\nLABEL built=yes\n")
    denied = lamina("build", "-q", "-t", "localhost/c:1", str(ctx))
    assert denied.code == 5, denied.err  # no credentials: the registry says no
    r = lamina(
        "build", "-q", "--creds", f"{USER}:{PASSWORD}", "--tls-verify=false", "-t",
        "localhost/c:1", str(ctx),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert _config(lamina, "localhost/c:1")["Labels"] == {"built": "yes"}


def test_build_and_from_read_an_authfile(lamina: Run, remote_base: str, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    host = remote_base.partition("/")[0]
    r = lamina("login", "--authfile", str(authfile), "-u", USER, "-p", PASSWORD, host)
    assert r.code == 0, r.err
    ctx = _context(tmp_path, f"FROM {remote_base}\n")
    r = lamina("build", "-q", "--authfile", str(authfile), "-t", "localhost/a:1", str(ctx))
    assert r.code == 0, r.err
    assert lamina("rmi", "-a", "-f").code == 0
    assert lamina("from", "--name", "w", remote_base).code == 5
    r = lamina("from", "--authfile", str(authfile), "--name", "w", remote_base)
    assert r.code == 0, r.err
    assert r.out.strip() == "w"


def test_env_and_unsetenv_change_the_image_env(
    lamina: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert lamina("base").code == 0
    ctx = _context(tmp_path, "FROM localhost/busybox\nENV KEEP=1 DROP=2\n")
    monkeypatch.setenv("FROM_HOST", "host-value")
    r = lamina(
        "build", "-q", "--env", "ADDED=a=b", "--env", "FROM_HOST", "--env", "KEEP=changed",
        "--unsetenv", "DROP", "-t", "localhost/e:1", str(ctx),
    )  # fmt: skip
    assert r.code == 0, r.err
    env = _config(lamina, "localhost/e:1")["Env"]
    assert isinstance(env, list)
    assert "ADDED=a=b" in env and "FROM_HOST=host-value" in env and "KEEP=changed" in env
    assert not any(e.startswith(("DROP=", "KEEP=1")) for e in env)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    bad = lamina("build", "-q", "--env", "NOT_SET_ANYWHERE", str(ctx))
    assert bad.code == 2 and "NOT_SET_ANYWHERE" in bad.err and "Traceback" not in bad.err


def test_ignorefile_replaces_containerignore(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(
        tmp_path,
        "FROM localhost/busybox\nCOPY . /ctx/\n",
        {"a.txt": "a", "b.txt": "b", ".containerignore": "a.txt\n"},
    )
    mine = tmp_path / "my.ignore"
    mine.write_text("b.txt\n")
    r = lamina("build", "-q", "--ignorefile", str(mine), "-t", "localhost/i:1", str(ctx))
    assert r.code == 0, r.err
    tar = tmp_path / "rootfs.tar"
    assert lamina("export", "localhost/i:1", "-o", str(tar)).code == 0
    with tarfile.open(tar) as t:
        names = {n.removeprefix("./") for n in t.getnames()}
    assert "ctx/a.txt" in names and "ctx/b.txt" not in names
    missing = lamina("build", "-q", "--ignorefile", str(tmp_path / "nope"), str(ctx))
    assert missing.code == 2 and str(tmp_path / "nope") in missing.err


def test_rm_and_force_rm_are_accepted(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(tmp_path, "FROM localhost/busybox\nLABEL x=1\n")
    r = lamina("build", "-q", "--rm", "--force-rm", "-t", "localhost/r:1", str(ctx))
    assert r.code == 0, r.err
    assert json.loads(lamina("containers", "--format", "json").out) == []


def test_unmount_alias_umount_all_and_containers_all(lamina: Run) -> None:
    assert lamina("base").code == 0
    try:
        for name in ("m1", "m2"):
            assert lamina("from", "--name", name, "localhost/busybox").code == 0
            assert lamina("mount", name).code == 0
        listed = lamina("containers", "-a", "--json")
        assert listed.code == 0, listed.err
        assert sorted(r["containername"] for r in listed.json()) == ["m1", "m2"]
        full = lamina("containers", "-q", "--notruncate")
        assert sorted(full.out.split()) == sorted(r["id"] for r in listed.json())
        assert all(len(i) == 64 for i in full.out.split())
        assert lamina("umount").code == 2  # nothing named and no --all
        r = lamina("unmount", "m1")
        assert r.code == 0, r.err
        assert lamina("inspect", "m1").json()[0]["MountPoint"] == ""
        r = lamina("umount", "--all")
        assert r.code == 0, r.err
        assert lamina("inspect", "m2").json()[0]["MountPoint"] == ""
    finally:
        lamina("rm", "--all")  # unmounts whatever a failure left mounted


def test_quiet_still_shows_a_failing_run_s_output(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(
        tmp_path,
        "FROM localhost/busybox\n"
        "RUN for i in $(seq 1 30); do echo line-$i; done; echo why-it-failed >&2; exit 3\n",
    )
    r = lamina("build", "-q", str(ctx))
    assert r.code == 3 and r.out == ""
    assert "why-it-failed" in r.err and "line-30" in r.err
    shown = {line.strip() for line in r.err.splitlines()}
    assert "line-10" not in shown and "line-1" not in shown  # only the last 20 of 31 lines
    assert "the last 20 lines" in r.err and "Traceback" not in r.err


def test_copy_and_sync_take_skopeo_s_username_and_password(
    lamina: Run, remote_base: str, tmp_path: Path
) -> None:
    src = f"docker://{remote_base}"
    denied = lamina("copy", "-q", src, f"oci:{tmp_path / 'denied'}:1")
    assert denied.code == 5, denied.err
    r = lamina(
        "copy", "-q", "--src-username", USER, "--src-password", PASSWORD, src,
        f"oci:{tmp_path / 'layout'}:1",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert (tmp_path / "layout" / "index.json").is_file()
    host = remote_base.partition("/")[0]
    r = lamina(
        "copy", "-q", "--dest-username", USER, "--dest-password", PASSWORD,
        f"oci:{tmp_path / 'layout'}:1", f"docker://{host}/flags/copied:1",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = lamina(
        "sync", "-q", "--src", "docker", "--dest", "dir", "--src-username", USER,
        "--src-password", PASSWORD, f"{host}/flags/copied", str(tmp_path / "mirror"),
    )  # fmt: skip
    assert r.code == 0, r.err
    assert any((tmp_path / "mirror").rglob("manifest.json"))
    half = lamina("copy", "--src-username", USER, src, f"oci:{tmp_path / 'x'}:1")
    assert half.code == 2 and "--src-password" in half.err


def test_output_writes_the_filesystem_a_tar_or_an_oci_archive(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(
        tmp_path, "FROM localhost/busybox\nCOPY hello.txt /srv/\n", {"hello.txt": "hi\n"}
    )
    local = tmp_path / "out"
    r = lamina("build", "-q", "-o", f"type=local,dest={local}", "-t", "localhost/o:1", str(ctx))
    assert r.code == 0, r.err
    assert (local / "srv" / "hello.txt").read_text() == "hi\n"
    assert (local / "bin" / "busybox").is_file()
    bare = tmp_path / "bare"
    assert lamina("build", "-q", "-o", str(bare), str(ctx)).code == 0
    assert (bare / "srv" / "hello.txt").is_file()
    tar = tmp_path / "rootfs.tar"
    assert lamina("build", "-q", "--output", f"type=tar,dest={tar}", str(ctx)).code == 0
    with tarfile.open(tar) as t:
        assert "srv/hello.txt" in {n.removeprefix("./") for n in t.getnames()}
    oci = tmp_path / "img.tar"
    r = lamina("build", "-q", "-o", f"type=oci,dest={oci}", str(ctx))
    assert r.code == 0, r.err
    image_id = r.out.strip().splitlines()[-1]
    with tarfile.open(oci) as t:
        index = json.load(t.extractfile("index.json"))  # type: ignore[arg-type]
    manifest_digest = index["manifests"][0]["digest"]
    inspected = lamina("inspect", f"oci-archive:{oci}")
    assert inspected.code == 0, inspected.err
    assert image_id in inspected.out or manifest_digest in inspected.out
    bad = lamina("build", "-q", "-o", "type=registry,dest=x", str(ctx))
    assert bad.code == 2 and "type must be one of local, tar, oci" in bad.err


def test_os_arch_variant_make_the_platform(lamina: Run, tmp_path: Path) -> None:
    from lamina.platform import Platform

    host = Platform.host()
    assert lamina("base").code == 0
    ctx = _context(tmp_path, "FROM localhost/busybox\nLABEL p=1\n")
    r = lamina("build", "-q", "--os", host.os, "--arch", host.architecture, "-t", "localhost/p:1",
               str(ctx))  # fmt: skip
    assert r.code == 0, r.err
    inspected = lamina("inspect", "--type", "image", "localhost/p:1").json()[0]
    assert (inspected["Os"], inspected["Architecture"]) == (host.os, host.architecture)
    other = "arm64" if host.architecture != "arm64" else "amd64"
    refused = lamina("build", "-q", "--arch", other, str(ctx))
    assert refused.code == 2 and f"--platform linux/{other}" in refused.err
    both = lamina("build", "-q", "--arch", other, "--platform", f"linux/{other}", str(ctx))
    assert both.code == 2 and "cannot be used with" in both.err


def test_logfile_takes_the_step_output(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(tmp_path, "FROM localhost/busybox\nRUN echo from-the-step\n")
    log = tmp_path / "build.log"
    r = lamina("build", "--logfile", str(log), "-t", "localhost/l:1", str(ctx))
    assert r.code == 0, r.err
    text = log.read_text()
    assert "STEP 2/2: RUN echo from-the-step" in text and "from-the-step\n" in text
    assert "Built " in text and "STEP" not in r.out + r.err
    (image_id,) = r.out.split()  # stdout: the image ID alone
    assert lamina("inspect", "--type", "image", image_id).code == 0
    (tmp_path / "f").mkdir()
    failing = _context(tmp_path / "f", "FROM localhost/busybox\nRUN echo boom; exit 4\n")
    r = lamina("build", "--logfile", str(log), str(failing))
    assert r.code == 4 and f"its output is in {log}" in r.err
    assert "boom" in log.read_text()


@pytest.fixture(scope="module")
def tls_reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """lamina's registry over HTTPS with a throw-away CA; the certs.d dir that trusts it."""
    root = tmp_path_factory.mktemp("flags-tls-reg")
    tls = make_tls(root / "tls")
    server = start_lamina(
        root / "storage", "--tls-cert", str(tls.cert), "--tls-key", str(tls.key), ca=tls.ca
    )
    certs = root / "certs.d"
    (certs / server.host).mkdir(parents=True)
    shutil.copy(tls.ca, certs / server.host / "ca.crt")
    yield server, certs / server.host
    server.stop()


def test_build_and_from_trust_a_cert_dir(
    lamina: Run, tls_reg: tuple[Server, Path], tmp_path: Path
) -> None:
    server, certs = tls_reg
    assert lamina("base").code == 0
    where = f"{server.host}/flags/tls-base:1"
    r = lamina("push", "--cert-dir", str(certs), "localhost/busybox:latest", where)
    assert r.code == 0, r.err
    assert lamina("rmi", "localhost/busybox:latest").code == 0
    ctx = _context(tmp_path, f"FROM {where}\nLABEL tls=yes\n")
    untrusted = lamina("build", "-q", str(ctx))
    assert untrusted.code == 5 and "certs.d" in untrusted.err
    r = lamina("build", "-q", "--cert-dir", str(certs), "-t", "localhost/tls:1", str(ctx))
    assert r.code == 0, r.err
    assert lamina("rmi", "-a", "-f").code == 0
    r = lamina("from", "--cert-dir", str(certs), "--name", "tlsc", where)
    assert r.code == 0, r.err
    assert lamina("rm", "tlsc").code == 0
    assert lamina("rmi", "-a", "-f").code == 0
    r = lamina("from", "--tls-verify=false", "--name", "tlsc", where)
    assert r.code == 0, r.err
    assert lamina("rm", "tlsc").code == 0


def test_retry_waits_for_a_registry_that_comes_back(
    lamina: Run, store_root: Path, tmp_path: Path
) -> None:
    server = start_lamina(tmp_path / "reg")
    try:
        assert lamina("base").code == 0
        where = f"{server.host}/flags/retry:1"
        assert lamina("push", "localhost/busybox:latest", where).code == 0
        assert lamina("rmi", "localhost/busybox:latest").code == 0
        server.stop()
        ctx = _context(tmp_path, f"FROM {where}\nLABEL r=1\n")
        gone = lamina("build", "-q", "--retry", "0", str(ctx))
        assert gone.code == 5, gone.err
        cmd = [sys.executable, "-m", "lamina.cli.main", "--root", str(store_root), "build",
               "-q", "--retry", "6", "--retry-delay", "300ms", str(ctx)]  # fmt: skip
        build = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        server = restart(server)
        out, err = build.communicate(timeout=120)
        assert build.returncode == 0, err
        assert len(out.split()) == 1
        bad = lamina("build", "-q", "--retry-delay", "soon", str(ctx))
        assert bad.code == 2 and "'soon'" in bad.err
    finally:
        server.stop()


def test_omit_history_leaves_the_history_out(lamina: Run, tmp_path: Path) -> None:
    assert lamina("base").code == 0
    ctx = _context(tmp_path, "FROM localhost/busybox\nCOPY a /a\n", {"a": "a"})
    r = lamina("build", "-q", "--omit-history", "-t", "localhost/h:1", str(ctx))
    assert r.code == 0, r.err
    config = lamina("inspect", "--config", "lamina:localhost/h:1")
    assert config.code == 0, config.err
    assert "history" not in config.json()
    kept = lamina("build", "-q", "-t", "localhost/h:2", str(ctx))
    assert kept.code == 0 and kept.out != r.out
    assert len(lamina("inspect", "--config", "lamina:localhost/h:2").json()["history"]) >= 2
