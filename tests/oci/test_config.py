"""oci/config: image configs (OCI, and Docker's with its extra members): golden bytes that
round-trip, and malformed configs refused with the field named."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.digest import Digest
from lamina.errors import ErrorCode, InvalidInput
from lamina.oci import ContainerConfig, History, ImageConfig

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64

# As lamina writes it: created, architecture, os, config, rootfs, history, then extras.
GOLDEN = (
    b'{"created":"2024-01-02T03:04:05Z","architecture":"arm64","variant":"v8","os":"linux",'
    b'"config":{"User":"app","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/usr/bin","A=b=c"],'
    b'"Entrypoint":["/bin/sh","-c"],"Cmd":["run"],"Volumes":{"/data":{}},"WorkingDir":"/w",'
    b'"Labels":{"k":"v"},"StopSignal":"SIGTERM","Healthcheck":{"Test":["CMD","true"],'
    b'"Interval":1000000000,"Retries":3},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],'
    b'"Hostname":"h"},"rootfs":{"type":"layers","diff_ids":["' + D1.encode() + b'","'
    + D2.encode() + b'"]},"history":[{"created":"2024-01-02T03:04:05Z","created_by":"ADD x"},'
    b'{"created_by":"ENV A=b","empty_layer":true}],"docker_version":"24.0.0"}'
)  # fmt: skip


def test_golden_config_round_trips_byte_for_byte() -> None:
    cfg = ImageConfig.parse(GOLDEN)
    assert cfg.raw == GOLDEN and cfg.digest == Digest.of_bytes(GOLDEN)
    assert cfg.reserialised().raw == GOLDEN
    assert (cfg.architecture, cfg.variant, cfg.os) == ("arm64", "v8", "linux")
    c = cfg.config
    assert c.user == "app" and c.exposed_ports == ("80/tcp",) and c.volumes == ("/data",)
    assert c.entrypoint == ("/bin/sh", "-c") and c.cmd == ("run",)
    assert c.env_dict() == {"PATH": "/usr/bin", "A": "b=c"}
    assert c.healthcheck is not None and c.healthcheck.interval == 10**9
    assert c.extra == {"Hostname": "h"} and cfg.extra == {"docker_version": "24.0.0"}
    assert cfg.rootfs.diff_ids == (Digest.parse(D1), Digest.parse(D2))
    assert [h.empty_layer for h in cfg.history] == [False, True]
    assert cfg.non_empty_history == (cfg.history[0],)


def test_evolve_returns_a_new_config_with_new_bytes() -> None:
    cfg = ImageConfig.parse(GOLDEN)
    changed = cfg.evolve(config=ContainerConfig(cmd=()), history=(History(comment="x"),))
    assert cfg.raw == GOLDEN  # values are immutable
    obj = json.loads(changed.raw)
    assert obj["config"] == {"Cmd": []} and obj["history"] == [{"comment": "x"}]
    assert changed.digest != cfg.digest and obj["docker_version"] == "24.0.0"


def test_docker_order_is_kept_in_raw_and_a_missing_config_stays_missing() -> None:
    raw = (
        b'{"architecture":"amd64","os":"linux","rootfs":{"diff_ids":[],"type":"layers"},'
        b'"container_config":{"Cmd":null}}'
    )
    cfg = ImageConfig.parse(raw)
    assert cfg.raw == raw and not cfg.config_present
    out = json.loads(cfg.reserialised().raw)
    assert "config" not in out and out["container_config"] == {"Cmd": None}


def _config(**changes: Any) -> bytes:
    base: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["A=1"]},
        "rootfs": {"type": "layers", "diff_ids": [D1]},
        "history": [{"created_by": "x"}],
    }
    base.update(changes)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


def _cfg(**changes: Any) -> dict[str, Any]:
    return {"Env": ["A=1"], **changes}


BAD: list[tuple[str, bytes, str]] = [
    ("not json", b"{", "invalid JSON"),
    ("no rootfs", _config(rootfs=None), "missing required field 'rootfs'"),
    ("rootfs type", _config(rootfs={"type": "zip", "diff_ids": []}),
     "rootfs.type must be 'layers', got 'zip'"),
    ("no diff_ids", _config(rootfs={"type": "layers"}),
     "rootfs: missing required field 'diff_ids'"),
    ("diff_id not text", _config(rootfs={"type": "layers", "diff_ids": [1]}),
     "rootfs.diff_ids[0] must be a string"),
    ("diff_id not a digest", _config(rootfs={"type": "layers", "diff_ids": ["sha256:x"]}),
     "rootfs.diff_ids[0]: "),
    ("no architecture", _config(architecture=None), "missing required field 'architecture'"),
    ("os is a number", _config(os=1), "field 'os' must be a string, got int"),
    ("Env not strings", _config(config=_cfg(Env=["A=1", 2])), "config: Env[1] must be a string"),
    ("Cmd a string", _config(config=_cfg(Cmd="run")),
     "config: field 'Cmd' must be an array, got str"),
    ("Labels not strings", _config(config=_cfg(Labels={"k": 1})),
     "config: Labels['k'] must be a string"),
    ("ExposedPorts a list", _config(config=_cfg(ExposedPorts=["80/tcp"])),
     "config: field 'ExposedPorts' must be an object, got list"),
    ("ArgsEscaped text", _config(config=_cfg(ArgsEscaped="yes")),
     "config: field 'ArgsEscaped' must be a boolean, got str"),
    ("Healthcheck interval text", _config(config=_cfg(Healthcheck={"Interval": "1s"})),
     "config.Healthcheck: field 'Interval' must be an integer, got str"),
    ("history entry a string", _config(history=["ADD"]),
     "history[0]: history entry must be an object"),
    ("history empty_layer text", _config(history=[{"empty_layer": "true"}]),
     "history[0]: field 'empty_layer' must be a boolean, got str"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_configs_are_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        ImageConfig.parse(raw, "config.json")
    assert err.value.message.startswith("config.json")
    assert message in err.value.message and err.value.code == ErrorCode.MANIFEST_INVALID
