"""`Locations(store, options, registries).parse(text)`: locations bound to one command's
store and credentials, and to nothing else (no process-wide table)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lamina.copy import alltransports
from lamina.errors import InvalidInput
from lamina.ops.locations import Locations, registry_options
from lamina.store import Store
from lamina.store.transport import StoreReference
from lamina.transports.registry.reference import RegistryReference

ROUNDS = 10_000


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so a race shows up in few rounds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_threads_with_different_credentials_never_see_each_others(fast_switching: None) -> None:
    start = threading.Barrier(2)

    def parse_many(user: str) -> set[str | None]:
        locations = Locations(None, registry_options(creds=f"{user}:secret-of-{user}"))
        start.wait()
        seen: set[str | None] = set()
        for i in range(ROUNDS):
            ref = locations.parse(f"docker://127.0.0.1:5000/{user}/app:{i}")
            assert isinstance(ref, RegistryReference)
            seen.add(ref.options.creds)
        return seen

    with ThreadPoolExecutor(max_workers=2) as pool:
        alice, bob = pool.map(parse_many, ["alice", "bob"])
    assert alice == {"alice:secret-of-alice"}
    assert bob == {"bob:secret-of-bob"}


def test_threads_with_different_stores_never_see_each_others(
    tmp_path: Path, fast_switching: None
) -> None:
    stores = {name: Store.open(tmp_path / name) for name in ("one", "two")}
    start = threading.Barrier(2)

    def parse_many(name: str) -> set[Path]:
        locations = Locations(stores[name])
        start.wait()
        seen: set[Path] = set()
        for i in range(ROUNDS // 3):
            ref = locations.parse(f"lamina:localhost/app:{i}")
            assert isinstance(ref, StoreReference)
            seen.add(ref.store.root)
        return seen

    with ThreadPoolExecutor(max_workers=2) as pool:
        one, two = pool.map(parse_many, ["one", "two"])
    assert one == {stores["one"].root}
    assert two == {stores["two"].root}


def test_parsing_registers_nothing_process_wide(tmp_path: Path) -> None:
    before = alltransports.transports()
    creds = registry_options(creds="carol:pw")
    Locations(Store.open(tmp_path / "s"), creds).parse("lamina:localhost/app:1")
    Locations(None, creds).parse("docker://127.0.0.1:5000/app:1")
    assert alltransports.transports() == before
    plain = alltransports.parse("docker://127.0.0.1:5000/app:1")
    assert isinstance(plain, RegistryReference) and plain.options.creds is None
    with pytest.raises(InvalidInput, match="unknown transport 'lamina'"):
        alltransports.parse("lamina:localhost/app:1")


def test_errors_list_the_bound_transports_syntax() -> None:
    with pytest.raises(InvalidInput) as err:
        Locations().parse("nonsense:/x")
    assert "lamina:NAME[:TAG]" in (err.value.hint or "")
    assert "docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]" in (err.value.hint or "")
    with pytest.raises(InvalidInput, match="no local store is available here"):
        Locations().parse("lamina:localhost/x")
