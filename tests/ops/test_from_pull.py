"""FROM images (a build's FROM, `lamina from`) under `--pull always`: a failing pull is
reported (a TrustError: exit 4; a registry that cannot be reached: exit 5), never answered
with the stale local image of that name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lamina.cli.errors import exit_code_for
from lamina.errors import LaminaError, TransportError, TrustError
from lamina.ops.build import BuildOptions, build_image
from lamina.ops.containers import create
from lamina.ops.copying import copy
from lamina.store import Store
from tests.ops.images import image_layout
from tests.server.servers import free_port


def _policy(home: Path, rejected_host: str | None) -> None:
    """The user's policy.json: anything goes, except images of `rejected_host`."""
    policy: dict[str, object] = {"default": [{"type": "insecureAcceptAnything"}]}
    if rejected_host is not None:
        policy["transports"] = {"docker": {rejected_host: [{"type": "reject"}]}}
    path = home / ".config" / "containers" / "policy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(policy))


def _stale(tmp_path: Path, name: str, seed: int) -> Store:
    """A store holding an image under `name` (the stale local copy)."""
    layout, _ = image_layout(tmp_path, f"stale{seed}", seed=seed)
    store = Store.open(tmp_path / "store")
    copy(f"oci:{layout}:v1", f"lamina:{name}", store)
    assert store.lookup(name)
    return store


def _context(tmp_path: Path, name: str) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(f"FROM {name}\nLABEL stale=no\n")
    return ctx


def _failures(store: Store, ctx: Path, name: str) -> list[LaminaError]:
    """What a build and `lamina from` raise under --pull always (each must raise)."""
    found: list[LaminaError] = []
    with pytest.raises(LaminaError) as built:
        build_image(store, ctx, BuildOptions(pull="always"))
    found.append(built.value)
    with pytest.raises(LaminaError) as created:
        create(store, name, pull="always")
    found.append(created.value)
    return found


def test_pull_always_reports_an_unreachable_registry(tmp_path: Path, no_user_config: Path) -> None:
    _policy(no_user_config, None)
    name = f"127.0.0.1:{free_port()}/t/base:v1"  # nothing listens there
    store = _stale(tmp_path, name, seed=61)
    for err in _failures(store, _context(tmp_path, name), name):
        assert isinstance(err, TransportError), err
        assert exit_code_for(err) == 5
        assert "127.0.0.1" in err.message


def test_pull_always_reports_a_policy_refusal(
    any_host: str, repo: str, tmp_path: Path, no_user_config: Path
) -> None:
    _policy(no_user_config, any_host)
    name = f"{any_host}/{repo}:v1"
    fresh, _ = image_layout(tmp_path, "fresh", seed=62)
    copy(f"oci:{fresh}:v1", f"docker://{name}", None)  # the registry has a newer image
    store = _stale(tmp_path, name, seed=63)
    for err in _failures(store, _context(tmp_path, name), name):
        assert isinstance(err, TrustError), err
        assert exit_code_for(err) == 4
