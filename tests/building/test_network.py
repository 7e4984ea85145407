"""Networks for RUN and `lamina run`: "private" reaches out through slirp4netns — tested
only against an HTTP server this test starts on the host's 127.0.0.1, reached at the
namespace's gateway 10.0.2.2 that slirp4netns maps to the host's loopback only when asked
(`slirp4netns:allow_host_loopback=true`, as podman); by default the host's loopback is out
of reach; "none" has no route; /etc/hosts and /etc/resolv.conf as podman writes them;
nothing left running."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.building.isolation.choose import Isolation, choose
from lamina.building.isolation.mountpoints import write_run_files
from lamina.building.isolation.network import GATEWAY
from lamina.building.isolation.spec import Network, RunSpec
from lamina.errors import BuildError
from tests.building.trees import busybox_rootfs

pytestmark = pytest.mark.root
BODY = b"hello from the host's loopback\n"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 (a free port), for the whole module."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(params=["oci", "chroot"])
def iso(request: pytest.FixtureRequest) -> Isolation:
    return choose(str(request.param))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return busybox_rootfs(tmp_path / "root")


def _children() -> set[tuple[int, str]]:
    """(pid, command) of this process's children (slirp4netns, unshare, runc, ...)."""
    out = set()
    me = str(os.getpid())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm_end = stat.rindex(")")
        fields = stat[comm_end + 2 :].split()
        if fields[1] == me and fields[0] != "Z":
            out.add((int(entry), stat[stat.index("(") + 1 : comm_end]))
    return out


@pytest.fixture(autouse=True)
def nothing_left_running() -> Iterator[None]:
    before = _children()
    yield
    deadline = time.monotonic() + 5
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children() - before == set(), "a run left a process behind"


def run(
    iso: Isolation,
    root: Path,
    script: str,
    tmp_path: Path,
    network: Network,
    *,
    timeout: float = 60,
    host_loopback: bool = False,
    **files: Any,
) -> tuple[int, str]:
    bundle = tmp_path / f"bundle-{time.monotonic_ns()}"
    bundle.mkdir()
    hosts, resolv = write_run_files(
        bundle, "box", network=network, host_loopback=host_loopback, **files
    )
    spec = RunSpec(
        argv=("sh", "-c", script),
        rootfs=root,
        env=("PATH=/bin",),
        network=network,
        host_loopback=host_loopback,
        hosts=hosts,
        resolv=resolv,
    )
    out = tmp_path / "out.txt"
    with open(out, "wb") as f:
        code = iso.run(spec, bundle, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    return code, out.read_text()


# busybox 1.35's `wget -T` crashes; the run's timeout bounds the fetch instead.
def _fetch(port: int) -> str:
    return f"wget -q -O- http://{GATEWAY}:{port}/"


def test_private_reaches_the_host_loopback_when_allowed(
    iso: Isolation, root: Path, tmp_path: Path, port: int
) -> None:
    script = f"ip route; {_fetch(port)}"
    code, out = run(iso, root, script, tmp_path, "private", host_loopback=True)
    assert code == 0, out
    assert f"default via {GATEWAY} dev tap0" in out
    assert out.endswith(BODY.decode())


def test_private_cannot_reach_the_host_loopback_by_default(
    iso: Isolation, root: Path, tmp_path: Path, port: int
) -> None:
    """As podman starts slirp4netns (--disable-host-loopback): the route is there, the
    host's 127.0.0.1 is not, and /etc/hosts names no host."""
    script = f"ip route; cat /etc/hosts; {_fetch(port)}"
    code, out = run(iso, root, script, tmp_path, "private")
    assert f"default via {GATEWAY} dev tap0" in out
    assert code != 0, out
    assert BODY.decode() not in out
    assert "host.containers.internal" not in out


def test_none_has_no_route_and_the_fetch_fails(
    iso: Isolation, root: Path, tmp_path: Path, port: int
) -> None:
    code, out = run(
        iso,
        root,
        f"ip route; tail -n +3 /proc/net/dev | cut -d: -f1; {_fetch(port)}",
        tmp_path,
        "none",
    )
    assert code != 0
    assert "default via" not in out
    assert out.splitlines()[0].strip() == "lo"
    assert BODY.decode() not in out


def test_private_files_as_podman_writes_them(iso: Isolation, root: Path, tmp_path: Path) -> None:
    code, out = run(iso, root, "cat /etc/resolv.conf; echo --; cat /etc/hosts", tmp_path, "private")
    assert code == 0, out
    resolv, hosts = out.split("--\n")
    assert resolv.splitlines()[0] == "nameserver 10.0.2.3"
    assert "10.0.2.100\tbox" in hosts.splitlines()
    assert "host.containers.internal" not in hosts  # the host is not reachable
    code, out = run(iso, root, "cat /etc/hosts", tmp_path, "private", host_loopback=True)
    assert "10.0.2.2\thost.containers.internal host.docker.internal" in out.splitlines()


def test_a_timed_out_private_run_leaves_nothing_running(
    iso: Isolation, root: Path, tmp_path: Path
) -> None:
    with pytest.raises(BuildError, match="timed out"):
        run(iso, root, "sleep 60", tmp_path, "private", timeout=1)


# -- through the CLI: build, from, run ---------------------------------------------------------


def lamina(store: Path, *argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMINA_ROOT": str(store), "SOURCE_DATE_EPOCH": "1700000000"}
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", *argv],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if ok:
        assert proc.returncode == 0, f"lamina {' '.join(argv)}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("netstore") / "store"
    lamina(path, "base")
    return path


def _ctx(tmp_path: Path, text: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(text)
    return ctx


ALLOW = "slirp4netns:allow_host_loopback=true"


def test_build_run_fetches_when_allowed_and_writes_podman_files(
    store: Path, tmp_path: Path, port: int
) -> None:
    ctx = _ctx(
        tmp_path,
        "FROM localhost/busybox\n"
        f"RUN {_fetch(port)} > /fetched && cat /etc/resolv.conf /etc/hosts > /seen\n",
    )
    image = lamina(
        store,
        "build",
        "-q",
        "--network",
        ALLOW,
        "--dns",
        "192.0.2.53",
        "--add-host",
        "db:192.0.2.7",
        str(ctx),
    ).stdout.split()[-1]
    c = lamina(store, "from", image).stdout.strip()
    try:
        out = lamina(store, "run", "--network", "none", c, "--", "cat", "/fetched", "/seen").stdout
    finally:
        lamina(store, "rm", c)
    assert out.startswith(BODY.decode())
    lines = out.splitlines()
    assert "nameserver 192.0.2.53" in lines
    assert "nameserver 10.0.2.3" not in lines
    assert "192.0.2.7\tdb" in lines


def test_build_network_none_and_run_flag_override(store: Path, tmp_path: Path, port: int) -> None:
    ctx = _ctx(tmp_path, f"FROM localhost/busybox\nRUN {_fetch(port)}\n")
    proc = lamina(store, "build", "--network", "none", str(ctx), ok=False)
    assert proc.returncode != 0
    assert "RUN wget" in proc.stderr and "Network is unreachable" in proc.stdout + proc.stderr
    (ctx / "Containerfile").write_text(
        f"FROM localhost/busybox\nRUN --network=none {_fetch(port)}\n"
    )
    assert lamina(store, "build", str(ctx), ok=False).returncode != 0
    (ctx / "Containerfile").write_text(
        f"FROM localhost/busybox\nRUN --network=default {_fetch(port)}\n"
    )
    lamina(store, "build", "--no-cache", "--network", ALLOW, str(ctx))
    (ctx / "Containerfile").write_text(
        f"FROM localhost/busybox\nRUN --network={ALLOW} {_fetch(port)}\n"
    )
    lamina(store, "build", "--no-cache", str(ctx))


def test_build_default_network_cannot_reach_the_host_loopback(
    store: Path, tmp_path: Path, port: int
) -> None:
    nets: list[list[str]] = [[], ["--network", "private"], ["--network", "slirp4netns"]]
    for n, net in enumerate(nets):
        (tmp_path / str(n)).mkdir()
        ctx = _ctx(tmp_path / str(n), f"FROM localhost/busybox\nRUN {_fetch(port)}\n")
        proc = lamina(store, "build", "--no-cache", *net, str(ctx), ok=False)
        assert proc.returncode != 0, proc.stdout
        assert BODY.decode() not in proc.stdout


def test_from_network_is_the_default_of_run(store: Path, port: int) -> None:
    c = lamina(store, "from", "--network", "none", "localhost/busybox").stdout.strip()
    try:
        assert lamina(store, "run", c, "--", *_fetch(port).split(), ok=False).returncode != 0
        assert (
            lamina(
                store, "run", "--network", "private", c, "--", *_fetch(port).split(), ok=False
            ).returncode
            != 0
        )
        out = lamina(store, "run", "--network", ALLOW, c, "--", *_fetch(port).split())
        assert out.stdout == BODY.decode()
    finally:
        lamina(store, "rm", c)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dns", "not-an-ip"], "--dns 'not-an-ip': not an IP address"),
        (["--add-host", "justaname"], "--add-host 'justaname': expected NAME:IP"),
        (["--add-host", "db:999.1.1.1"], "'999.1.1.1' is not an IP address"),
        (["--network", "none", "--dns", "192.0.2.1"], "--dns with --network none"),
        (
            ["--network", "bridge"],
            "--network 'bridge': use none, host or private (slirp4netns[:allow",
        ),
        (
            ["--network", "slirp4netns:mtu=1500"],
            "--network 'slirp4netns:mtu=1500': unknown option 'mtu=1500'",
        ),
        (
            ["--network", "slirp4netns:allow_host_loopback=yes"],
            "unknown option 'allow_host_loopback=yes'",
        ),
        (["--add-host", "h:host-gateway"], "the host is not reachable"),
    ],
)
def test_bad_network_flags_are_refused_before_anything_runs(
    store: Path, tmp_path: Path, argv: list[str], message: str
) -> None:
    ctx = _ctx(tmp_path, "FROM localhost/busybox\nRUN touch /x\n")
    proc = lamina(store, "build", *argv, str(ctx), ok=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "STEP" not in proc.stdout


def test_a_bad_run_network_flag_is_a_usage_error(store: Path, tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "FROM localhost/busybox\nRUN --network=slirp4netns:mtu=9 touch /x\n")
    proc = lamina(store, "build", str(ctx), ok=False)
    assert proc.returncode == 2, proc.stderr
    assert "RUN --network 'slirp4netns:mtu=9': unknown option 'mtu=9'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_hook_left_waiting_is_released(tmp_path: Path) -> None:
    """runc killed while its hook waits (an error, ^C): closing the hook ends the hook."""
    from lamina.building.isolation.slirp import NetnsHook

    hook = NetnsHook(tmp_path)
    spec = hook.hooks()["createRuntime"][0]
    proc = subprocess.Popen(spec["args"], executable=spec["path"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b'{"pid": 1}')
    proc.stdin.close()
    time.sleep(0.3)  # the hook has sent the state and waits for the go
    assert proc.poll() is None
    hook.close()
    assert proc.wait(timeout=5) == 0
    assert not (tmp_path / "net-go").exists() and not (tmp_path / "net-state").exists()
