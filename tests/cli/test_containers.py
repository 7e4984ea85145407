"""Working containers through the CLI: the seed's build-image.sh flow in bash (the image
then runs under podman), and buildah's config syntaxes, listing, inspect, rm and copy."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.store import Store
from tests.cli.conftest import Run

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static"),
]

PODMAN_RUN = [
    "podman",
    "--cgroup-manager",
    "cgroupfs",
    "--runtime",
    "runc",
    "run",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
    "--rm",
]
LAMINA_ARGV = [sys.executable, "-c", "from lamina.cli.main import main; main()"]
LAMINA_FN = f"lamina() {{ {sys.executable} -c 'from lamina.cli.main import main; main()' \"$@\"; }}"


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [ln.split(" ", 5)[4] for ln in f if ln.split(" ", 5)[4].startswith(str(path))]


@pytest.fixture(autouse=True)
def no_stray_mounts(tmp_path: Path) -> Iterator[None]:
    yield
    assert mounts_under(tmp_path) == [], "a test left mounts behind"


BUILD_IMAGE_SH = """
set -euo pipefail
{lamina}
lamina base -q >/dev/null
ctr=$(lamina from localhost/busybox)
mnt=$(lamina mount "$ctr")
mkdir -p "$mnt/srv/www"
cp "$WORK/index.html" "$mnt/srv/www/index.html"
lamina umount "$ctr"
lamina config --port 8080 --entrypoint '["/bin/sh", "-c"]' --workingdir /srv/www \\
    --cmd '["echo page: $(cat index.html); echo pwd: $(pwd); ls /srv/www"]' "$ctr"
lamina run "$ctr" -- sh -c 'echo generated > /srv/www/generated.txt; echo ran-in-$(pwd)'
lamina commit --rm "$ctr" "$IMAGE"
lamina containers --format json
"""


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")
def test_build_image_sh_flow_runs_under_podman(tmp_path: Path) -> None:
    image = f"localhost/lamina-test-web-{secrets.token_hex(4)}:1"
    (tmp_path / "index.html").write_text("hello from lamina\n")
    env = dict(
        os.environ,
        LAMINA_ROOT=str(tmp_path / "store"),
        WORK=str(tmp_path),
        IMAGE=image,
        SOURCE_DATE_EPOCH="1700000000",
    )
    script = BUILD_IMAGE_SH.format(lamina=LAMINA_FN)
    r = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert "ran-in-/srv/www" in lines
    image_id = lines[-2]
    assert json.loads(lines[-1]) == [], "commit --rm removed the container"
    archive = tmp_path / "web.tar"
    saved = subprocess.run(
        [*LAMINA_ARGV, "save", "--format", "oci-archive", "-o", str(archive), image],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert saved.returncode == 0, saved.stderr
    loaded = subprocess.run(
        ["podman", "load", "-i", str(archive)], capture_output=True, text=True, check=False
    )
    try:
        assert loaded.returncode == 0, loaded.stderr
        ran = subprocess.run(
            [*PODMAN_RUN, image], capture_output=True, text=True, timeout=120, check=False
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == [
            "page: hello from lamina",
            "pwd: /srv/www",
            "generated.txt",
            "index.html",
        ]
        out = subprocess.run(
            ["podman", "inspect", image], capture_output=True, text=True, check=True
        ).stdout
        info = json.loads(out)[0]
        assert info["Id"] == image_id
        cfg = info["Config"]
        assert cfg["ExposedPorts"] == {"8080/tcp": {}}
        assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
        assert cfg["Cmd"] == ["echo page: $(cat index.html); echo pwd: $(pwd); ls /srv/www"]
        assert cfg["WorkingDir"] == "/srv/www"
    finally:
        subprocess.run(["podman", "rmi", "-f", image], capture_output=True, check=False)


def config_of(lamina: Run, name: str) -> dict[str, object]:
    r = lamina("inspect", name)
    assert r.code == 0, r.err
    info = r.json()[0]
    assert info["Type"] == "buildah 0.0.1"
    cfg = info["OCIv1"]["config"]
    assert isinstance(cfg, dict)
    return cfg


def test_config_syntaxes(lamina: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lamina("base").code == 0
    name = lamina("from", "--name", "cfg", "busybox").out.strip()
    assert name == "cfg"
    monkeypatch.setenv("FROM_HOST", "host-value")
    r = lamina(
        "config",
        "--port", "8080", "-p", "53/udp", "--port", "9090",
        "--entrypoint", "httpd -f",
        "--cmd", '["-p", "8080"]',
        "--env", "A=1", "-e", "B=2", "-e", "FROM_HOST",
        "--label", "version=1", "-l", "drop=me",
        "--annotation", "org.example.note=hi",
        "--workingdir", "/srv", "--user", "daemon",
        "--volume", "/data", "-v", "/cache",
        "--stop-signal", "SIGQUIT",
        "--healthcheck", "CMD wget -q -O- http://localhost:8080/",
        "--healthcheck-interval", "30s", "--healthcheck-timeout", "5s",
        "--healthcheck-start-period", "1m", "--healthcheck-start-interval", "2s",
        "--healthcheck-retries", "4",
        "--shell", '["/bin/ash", "-c"]',
        "--onbuild", "RUN echo child",
        "--author", "Ada", "--created-by", "lamina test", "--comment", "cfg test",
        "cfg",
    )  # fmt: skip
    assert r.code == 0, r.err
    cfg = config_of(lamina, "cfg")
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}, "9090/tcp": {}}
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "httpd -f"]
    assert cfg["Cmd"] == ["-p", "8080"]
    env = cfg["Env"]
    assert isinstance(env, list)
    assert env[1:] == ["A=1", "B=2", "FROM_HOST=host-value"]
    assert cfg["Labels"] == {"version": "1", "drop": "me"}
    assert (cfg["WorkingDir"], cfg["User"], cfg["StopSignal"]) == ("/srv", "daemon", "SIGQUIT")
    assert cfg["Volumes"] == {"/data": {}, "/cache": {}}
    assert cfg["Healthcheck"] == {
        "Test": ["CMD", "wget", "-q", "-O-", "http://localhost:8080/"],
        "Interval": 30 * 10**9,
        "Timeout": 5 * 10**9,
        "StartPeriod": 60 * 10**9,
        "StartInterval": 2 * 10**9,
        "Retries": 4,
    }
    assert cfg["Shell"] == ["/bin/ash", "-c"]
    assert cfg["OnBuild"] == ["RUN echo child"]
    # Removals and shell-word cmd, as buildah spells them.
    r = lamina(
        "config",
        "--port", "9090-", "--env", "B-", "--label", "drop-", "--volume", "/cache-",
        "--annotation", "org.example.other=x",
        "--cmd", "-p '80 81'", "--healthcheck", "CMD-SHELL wget -q localhost || exit 1",
        "cfg",
    )  # fmt: skip
    assert r.code == 0, r.err
    cfg = config_of(lamina, "cfg")
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Env"] == [env[0], "A=1", "FROM_HOST=host-value"]
    assert cfg["Labels"] == {"version": "1"}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["Cmd"] == ["-p", "80 81"]
    hc = cfg["Healthcheck"]
    assert isinstance(hc, dict)
    assert hc["Test"] == ["CMD-SHELL", "wget -q localhost || exit 1"]
    assert hc["Retries"] == 4
    r = lamina(
        "config", "--env", "-", "--label", "-", "--entrypoint", "", "--healthcheck", "", "cfg"
    )
    assert r.code == 0, r.err
    cfg = config_of(lamina, "cfg")
    assert "Env" not in cfg and "Labels" not in cfg and "Healthcheck" not in cfg
    assert "Entrypoint" not in cfg
    # The commit carries the config, the history entry and the annotations.
    image_id = lamina("commit", "cfg", "localhost/cfg:1").out.strip()
    info = lamina("inspect", "--type", "image", "localhost/cfg:1").json()[0]
    assert info["Id"] == image_id
    assert info["Author"] == "Ada"
    assert info["History"][-1]["created_by"] == "lamina test"
    assert info["History"][-1]["comment"] == "cfg test"
    assert info["Annotations"] == {
        "org.example.note": "hi",
        "org.example.other": "x",
    }
    assert lamina("rm", "cfg").code == 0


def test_containers_copy_add_rm(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    assert lamina("base").code == 0
    first = lamina("from", "busybox").out.strip()
    second = lamina("from", "busybox").out.strip()
    scratch = lamina("from", "scratch").out.strip()
    assert (first, second, scratch) == (
        "busybox-working-container",
        "busybox-working-container-1",
        "working-container",
    )
    listed = lamina("containers", "--format", "json").json()
    assert [c["containername"] for c in listed] == [first, second, scratch]
    assert listed[0]["imagename"] == "localhost/busybox:latest" and listed[0]["builder"]
    assert listed[2]["imagename"] == "scratch" and listed[2]["imageid"] == ""
    table = lamina("containers").out.splitlines()
    assert (
        table[0] == "CONTAINER ID  BUILDER  IMAGE ID      IMAGE NAME                CONTAINER NAME"
    )
    assert table[0].split() == [
        "CONTAINER",
        "ID",
        "BUILDER",
        "IMAGE",
        "ID",
        "IMAGE",
        "NAME",
        "CONTAINER",
        "NAME",
    ]
    assert table[1].split()[0] == listed[0]["id"][:12]
    # `copy` dispatches on the argument shape: a container and two paths is buildah's copy.
    src = tmp_path / "app.sh"
    src.write_text("#!/bin/sh\necho app\n")
    r = lamina("copy", "--chown", "daemon:daemon", "--chmod", "750", first, str(src), "/opt/")
    assert r.code == 0, r.err
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "conf").write_text("x=1\n")
    arch = tmp_path / "tree.tar.gz"
    with tarfile.open(arch, "w:gz") as tar:
        tar.add(tree, arcname=".")
    assert lamina("add", first, str(arch), "/").code == 0
    out = lamina("run", first, "--", "sh", "-c", "ls -ln /opt/app.sh; cat /etc/conf; /opt/app.sh")
    assert out.code == 0, out.err
    mnt = Path(lamina("mount", first).out.strip())
    st = os.stat(mnt / "opt" / "app.sh")
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1, 1, 0o750)
    assert (mnt / "etc" / "conf").read_text() == "x=1\n"
    assert lamina("mount").out.split() == [first, str(mnt)]
    assert lamina("umount", first).code == 0
    # Three arguments, no container: a clear NotFound; a transport prefix: skopeo's form.
    r = lamina("copy", "no-such-container", str(src), "/opt/")
    assert r.code == 3 and "working container 'no-such-container' does not exist" in r.err
    r = lamina("copy", "oci:" + str(tmp_path / "nothing"), "dir:" + str(tmp_path / "d"))
    assert r.code != 0
    help_text = lamina("copy", "--help").out
    assert "Container form" in help_text and "Example" in help_text
    # rm: one name; unknown names fail before anything is removed; --all.
    r = lamina("rm", second, "nope")
    assert r.code == 3 and "'nope' does not exist" in r.err
    assert lamina("rm", second).out.strip() == listed[1]["id"]
    assert len(lamina("rm", "--all").out.split()) == 2
    assert lamina("containers", "--format", "json").json() == []


def test_run_passes_stdio_and_exit_code(tmp_path: Path) -> None:
    env = dict(os.environ, LAMINA_ROOT=str(tmp_path / "store"), SOURCE_DATE_EPOCH="1")
    script = f"""
set -u
{LAMINA_FN}
lamina base -q >/dev/null
c=$(lamina from --name io busybox)
echo "from stdin" | lamina run io -- sh -c 'read line; echo "out: $line"; echo err >&2; exit 42'
echo "rc=$?"
lamina run --isolation chroot --env X=y --workingdir /tmp io sh -c 'echo $X $(pwd)'
lamina run io -- no-such-binary
echo "rc=$?"
lamina rm io >/dev/null
"""
    r = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["out: from stdin", "rc=42", "y /tmp", "rc=1"]
    assert "err" in r.stderr.splitlines()
    assert "error[" in r.stderr and "no-such-binary" in r.stderr


def test_help_shows_examples(lamina: Run) -> None:
    for cmd in ("from", "containers", "rm", "mount", "umount", "unshare", "run"):
        r = lamina(cmd, "--help")
        assert r.code == 0 and "Example" in r.out, cmd
    for cmd in ("add", "config", "inspect", "commit"):
        r = lamina(cmd, "--help")
        assert r.code == 0 and "Example" in r.out, cmd


def test_layer_of_commit_holds_copied_file(lamina: Run, tmp_path: Path, store_root: Path) -> None:
    assert lamina("base").code == 0
    c = lamina("from", "busybox").out.strip()
    f = tmp_path / "f.txt"
    f.write_text("data\n")
    assert lamina("copy", c, str(f), "/f.txt").code == 0
    assert lamina("commit", "--squash", c, "localhost/sq:1").code == 0
    with Store.open(store_root) as store:
        img = store.image(store.lookup("localhost/sq:1"))
        assert len(img.layers()) == 1
        with img.layers()[0].open() as fh, tarfile.open(fileobj=io.BytesIO(fh.read())) as tar:
            names = tar.getnames()
    assert "f.txt" in names and "bin/busybox" in names
    assert lamina("rm", c).code == 0
