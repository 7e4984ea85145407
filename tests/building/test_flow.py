"""The seed's build-image.sh flow with the Builder API: the image runs under podman, and the
same flow as an ordinary user inside `lamina unshare` gives the same image, byte for byte."""

from __future__ import annotations

import io
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.building.builder import Builder
from lamina.ops.base import make_busybox
from lamina.store import Store

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="busybox-static"),
]
EPOCH = 1_700_000_000
LAMINA = [sys.executable, "-c", "from lamina.cli.main import main; main()"]
PODMAN_RUN = [
    *("podman", "--cgroup-manager", "cgroupfs", "--runtime", "runc", "run", "--rm"),
    *("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"),
]


def build(store: Store, site: Path, isolation: str | None = None) -> str:
    """from busybox → mount → cp → umount → config → run → commit; the image's name."""
    b = Builder.from_image(store, "localhost/busybox")
    try:
        root = b.mount()
        (root / "srv" / "www").mkdir(parents=True)
        shutil.copy(site / "index.html", root / "srv" / "www" / "index.html")
        os.chown(root / "srv" / "www" / "index.html", 1001, 1001)
        b.umount()
        b.set_config(
            port=["8080"],
            entrypoint=["/bin/httpd", "-f", "-v"],
            workingdir="/srv/www",
            cmd=["-p", "8080", "-h", "/srv/www"],
        )
        code = b.run(["sh", "-c", "echo generated > /srv/www/generated.txt"], isolation=isolation)
        assert code == 0
        name = f"localhost/lamina-flow-{secrets.token_hex(4)}:1"
        b.commit(name, timestamp=EPOCH)
        return name
    finally:
        b.remove()


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("podman") is None, reason="podman not installed")
@pytest.mark.parametrize("isolation", ["chroot", "oci"])
def test_builder_flow_runs_under_podman(tmp_path: Path, isolation: str) -> None:
    (tmp_path / "index.html").write_text("hello from the builder\n")
    with Store.open(tmp_path / "store") as store:
        make_busybox(store, source_date_epoch=EPOCH)
        name = build(store, tmp_path, isolation)
        top = store.image(store.lookup(name)).layers()[-1]
        with top.open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            members = {m.name: m for m in tar.getmembers()}
    assert (members["srv/www/index.html"].uid, members["srv/www/index.html"].gid) == (1001, 1001)
    assert "srv/www/generated.txt" in members
    archive = tmp_path / "img.tar"
    env = dict(os.environ, LAMINA_ROOT=str(tmp_path / "store"))
    subprocess.run(
        [*LAMINA, "save", "--format", "oci-archive", "-o", str(archive), name], env=env, check=True
    )
    subprocess.run(["podman", "load", "-q", "-i", str(archive)], capture_output=True, check=True)
    try:
        ran = subprocess.run(
            [*PODMAN_RUN, "--entrypoint", "sh", name, "-c", "cat index.html generated.txt; pwd"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.splitlines() == ["hello from the builder", "generated", "/srv/www"]
        info = json.loads(
            subprocess.run(["podman", "inspect", name], capture_output=True, check=True).stdout
        )[0]["Config"]
        assert info["ExposedPorts"] == {"8080/tcp": {}}
        assert info["Entrypoint"] == ["/bin/httpd", "-f", "-v"]
        assert info["Cmd"] == ["-p", "8080", "-h", "/srv/www"]
        assert info["WorkingDir"] == "/srv/www"
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False)


# -- rootless ----------------------------------------------------------------------------------

USER = "laminatest"
FLOW_SH = """
set -euo pipefail
lamina() {{ {python} -c 'from lamina.cli.main import main; main()' "$@"; }}
lamina base -q >/dev/null
c=$(lamina from localhost/busybox)
mnt=$(lamina mount "$c")
mkdir -p "$mnt/srv/www"
cp "$WORK/index.html" "$mnt/srv/www/index.html"
chown 1001:1001 "$mnt/srv/www/index.html"
lamina umount "$c"
lamina config --port 8080 --entrypoint '["/bin/httpd", "-f", "-v"]' --workingdir /srv/www \\
    --cmd '-p 8080' "$c"
lamina run --isolation {isolation} "$c" -- sh -c 'echo generated > /srv/www/generated.txt'
lamina commit --rm "$c" localhost/rootless:1 >/dev/null
lamina build -q --isolation {isolation} -t localhost/rootless-built:1 "$WORK/ctx" >/dev/null
lamina inspect --type image localhost/rootless:1 localhost/rootless-built:1
"""


@pytest.fixture
def unprivileged() -> Iterator[tuple[pwd.struct_passwd, Path]]:
    """An ordinary user (created if absent) and a work dir it owns; the interpreter's prefix
    is bind-mounted there if the user could not reach it (e.g. under /root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create the user")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", USER], check=True, capture_output=True)
        pw = pwd.getpwnam(USER)
    for kind in ("uid", "gid"):
        path = Path(f"/etc/sub{kind}")
        text = path.read_text() if path.exists() else ""
        if not any(line.startswith(f"{USER}:") for line in text.splitlines()):
            with path.open("a") as f:
                f.write(f"{USER}:{300000}:65536\n")
    work = Path(tempfile.mkdtemp(prefix="lamina-rootless-", dir="/tmp"))
    os.chmod(work, 0o755)
    for d in ("py", "home"):
        (work / d).mkdir()
    os.chown(work / "home", pw.pw_uid, pw.pw_gid)
    # RUN's private network (slirp4netns) opens /dev/net/tun: Debian makes it 0666; a
    # container may ship it 0600.
    tun_mode = os.stat("/dev/net/tun").st_mode & 0o777
    os.chmod("/dev/net/tun", 0o666)
    try:
        yield pw, work
    finally:
        os.chmod("/dev/net/tun", tun_mode)
        subprocess.run(["rm", "-rf", str(work / "home")], check=False)
        shutil.rmtree(work, ignore_errors=True)


def as_user(pw: pwd.struct_passwd, work: Path, script: Path, isolation: str) -> str:
    prefix = sys.base_prefix
    body = FLOW_SH.format(python=f"{work}/py/bin/python3", isolation=isolation)
    script.write_text(body)
    script.chmod(0o644)
    inner = (
        f"mount --bind {prefix} {work}/py && exec setpriv --reuid={pw.pw_uid} "
        f"--regid={pw.pw_gid} --init-groups env -i HOME={work}/home "
        f"XDG_DATA_HOME={work}/home/data LD_LIBRARY_PATH={work}/py/lib WORK={work} "
        f"SOURCE_DATE_EPOCH={EPOCH} PATH=/usr/sbin:/usr/bin:/sbin:/bin "
        f"{work}/py/bin/python3 -c 'from lamina.cli.main import main; main()' "
        f"unshare bash {script}"
    )
    r = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.interop
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) missing")
@pytest.mark.parametrize("isolation", ["oci", "chroot"])
def test_rootless_flow_gives_the_same_image(
    unprivileged: tuple[pwd.struct_passwd, Path], tmp_path: Path, isolation: str
) -> None:
    pw, work = unprivileged
    (work / "index.html").write_text("hello rootless\n")
    os.chmod(work / "index.html", 0o644)
    # A build on top: a COPY into a new directory (written straight into the upper dir,
    # build.rootfs.fresh), a RUN over it, and a last COPY (on a tmpfs upper dir).
    (work / "ctx").mkdir()
    (work / "ctx" / "page.html").write_text("built rootless\n")
    os.chmod(work / "ctx", 0o755)
    os.chmod(work / "ctx" / "page.html", 0o644)
    (work / "ctx" / "Containerfile").write_text(
        "FROM localhost/rootless:1\nCOPY page.html /srv/new/\n"
        "RUN cat /srv/new/page.html > /srv/new/seen\nCOPY page.html /srv/last/\n"
    )
    os.chmod(work / "ctx" / "Containerfile", 0o644)
    rootless, rootless_built = json.loads(as_user(pw, work, work / "flow.sh", isolation))
    # The user's store is where `lamina` finds it outside the namespace too.
    user_store = work / "home" / "data" / "lamina"
    assert (user_store / "store.db").exists()
    assert os.stat(user_store / "store.db").st_uid == pw.pw_uid
    # Files chowned to 1001 inside are stored by the user's subordinate IDs on disk …
    env = dict(os.environ, LAMINA_ROOT=str(tmp_path / "store"), WORK=str(work))
    env["SOURCE_DATE_EPOCH"] = str(EPOCH)
    body = FLOW_SH.format(python=sys.executable, isolation=isolation)
    r = subprocess.run(
        ["bash", "-c", body], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert r.returncode == 0, r.stderr
    rootful, rootful_built = json.loads(r.stdout)
    # … and the same steps as root give the same bytes: same config, same manifest.
    assert rootless["Id"] == rootful["Id"]
    assert rootless["Digest"] == rootful["Digest"]
    # The build on top gives the same layers (its COPY history names the context's hash,
    # which covers the files' owners: root's files read as nobody inside the namespace).
    assert rootless_built["RootFS"] == rootful_built["RootFS"]
    with Store.open(tmp_path / "store") as store:
        built = store.image(store.lookup("localhost/rootless-built:1")).layers()
        with built[-1].open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            assert "srv/last/page.html" in tar.getnames()
        with built[-2].open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            assert tar.extractfile("srv/new/seen").read() == b"built rootless\n"  # type: ignore[union-attr]
        top = store.image(store.lookup("localhost/rootless:1")).layers()[-1]
        with top.open() as f, tarfile.open(fileobj=io.BytesIO(f.read())) as tar:
            index = tar.getmember("srv/www/index.html")
            assert (index.uid, index.gid) == (1001, 1001)
            assert "srv/www/generated.txt" in tar.getnames()
