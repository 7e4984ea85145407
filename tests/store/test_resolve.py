from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lamina.content import BlobStore
from lamina.errors import Conflict, InvalidInput, NotFound
from lamina.image.mutate import empty_image, with_created
from lamina.store import Store
from lamina.store.names import normalize_new_name
from tests.store.builders import AMD64, make_image


def test_new_names_get_localhost_and_latest() -> None:
    assert normalize_new_name("busybox") == "localhost/busybox:latest"
    assert normalize_new_name("team/app:1") == "localhost/team/app:1"
    assert normalize_new_name("quay.io/x/y") == "quay.io/x/y:latest"
    assert normalize_new_name("docker.io/busybox:1") == "docker.io/library/busybox:1"
    assert normalize_new_name("127.0.0.1:5000/a:b") == "127.0.0.1:5000/a:b"


@pytest.mark.parametrize(
    "bad",
    ["", "Busybox", "a b", "app@sha256:" + "0" * 64, "a" * 64, "x:" + "t" * 200, "-lead"],
)
def test_malformed_names_are_refused(store: Store, src: BlobStore, bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_new_name(bad)
    s = store.put_image(make_image(src, "n"), ["n"])
    with pytest.raises(InvalidInput):
        store.tag(s.id, bad)
    with pytest.raises(InvalidInput):
        store.put_image(make_image(src, "m"), [bad])
    assert [i.id for i in store.list_images()] == [s.id]


def test_short_name_finds_localhost_or_docker_io(store: Store, src: BlobStore) -> None:
    local = store.put_image(make_image(src, "bb"), ["busybox"])
    assert store.lookup("busybox") == local
    assert store.lookup("busybox:latest") == local
    hub = store.put_image(make_image(src, "hub"), ["docker.io/library/busybox:1"])
    assert store.lookup("busybox:1") == hub
    assert store.lookup("library/busybox:1") == hub
    assert store.lookup("docker.io/busybox:1") == hub
    with pytest.raises(NotFound, match="busybox:2: image not known"):
        store.lookup("busybox:2")


def test_short_name_ambiguous_names_the_candidates(store: Store, src: BlobStore) -> None:
    store.put_image(make_image(src, "l"), ["busybox"])
    store.put_image(make_image(src, "d"), ["docker.io/library/busybox"])
    with pytest.raises(Conflict) as err:
        store.lookup("busybox")
    msg = str(err.value)
    assert "ambiguous" in msg
    assert "docker.io/library/busybox:latest" in msg and "localhost/busybox:latest" in msg
    # the full names still work
    assert store.lookup("localhost/busybox").names == ("localhost/busybox:latest",)


def test_same_image_under_two_registries_is_not_ambiguous(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "same"), ["busybox", "docker.io/library/busybox"])
    assert store.lookup("busybox") == s
    # removing by the short name takes the localhost name only
    assert store.remove("busybox") == ["Untagged: localhost/busybox:latest"]


def test_short_name_matches_path_suffix_only_on_component_boundary(
    store: Store, src: BlobStore
) -> None:
    s = store.put_image(make_image(src, "q"), ["quay.io/libpod/busybox"])
    store.put_image(make_image(src, "q2"), ["quay.io/libpod/notbusybox"])
    assert store.lookup("busybox") == s
    assert store.lookup("libpod/busybox") == s


def test_id_prefix_rules(store: Store, src: BlobStore) -> None:
    s = store.put_image(make_image(src, "p"))
    assert store.lookup(s.id[:20]) == s
    assert store.lookup(s.id[:3]) == s
    with pytest.raises(NotFound):
        store.lookup(s.id[:2])  # under 3 digits it is a (missing) name, not an ID
    # layer-less images differing only in created time: cheap, until two IDs share 3 digits
    seen: dict[str, str] = {s.id[:3]: s.id}
    second = 0
    while True:
        second += 1
        when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=second)
        i = store.put_image(with_created(empty_image(AMD64), when))
        if i.id[:3] in seen:
            break
        seen[i.id[:3]] = i.id
    with pytest.raises(Conflict, match="ambiguous"):
        store.lookup(i.id[:3])
    assert store.lookup(i.id[:12]) == i


def test_unknown_and_malformed_lookups(store: Store) -> None:
    with pytest.raises(NotFound, match="nothere: image not known"):
        store.lookup("nothere")
    with pytest.raises(InvalidInput):
        store.lookup("UPPER/Case")
    with pytest.raises(InvalidInput):
        store.lookup("a@sha256:zz")
    with pytest.raises(NotFound):
        store.remove("0" * 64)
