"""registries.conf reading: where files are found, drop-in merging, prefixes, mirrors, v1."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import InvalidInput
from lamina.reference import Reference
from lamina.transports.registries_conf import RegistriesConfig


def test_user_file_and_drop_ins(no_user_config: Path) -> None:
    conf_dir = no_user_config / ".config" / "containers"
    (conf_dir / "registries.conf.d").mkdir(parents=True)
    (conf_dir / "registries.conf").write_text(
        'unqualified-search-registries = ["a.example"]\n[aliases]\n"x" = "a.example/x"\n'
        '[[registry]]\nprefix = "a.example/team"\nlocation = "b.example/other"\n'
    )
    (conf_dir / "registries.conf.d" / "10-more.conf").write_text(
        'unqualified-search-registries = ["c.example", "d.example"]\n'
        '[aliases]\n"y" = "c.example/y"\n'
    )
    conf = RegistriesConfig.load()
    assert conf.search == ("c.example", "d.example")
    assert conf.aliases == {"x": "a.example/x", "y": "c.example/y"}
    assert [str(r) for r in conf.resolve_short_name("tool:1")] == [
        "c.example/tool:1",
        "d.example/tool:1",
    ]
    assert [str(r) for r in conf.resolve_short_name("x:2")] == ["a.example/x:2"]
    sources = conf.pull_sources(Reference.parse("a.example/team/app:1"))
    assert [str(s.ref) for s in sources] == ["b.example/other/app:1"]
    # a prefix matches whole path elements only
    assert conf.registry_for("a.example/teamwork/app:1") is None


def test_mirrors_by_digest_or_tag_and_v1(tmp_path: Path, no_user_config: Path) -> None:
    path = tmp_path / "r.conf"
    path.write_text(
        '[[registry]]\nprefix = "q.example"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "m1.example"\npull-from-mirror = "digest-only"\n'
        '[[registry.mirror]]\nlocation = "m2.example/cache"\ninsecure = true\n'
        "[registries.block]\nregistries = ['evil.example']\n"
    )
    conf = RegistriesConfig.load(path)
    by_tag = conf.pull_sources(Reference.parse("q.example/a/b:1"))
    assert [(str(s.ref), s.mirror) for s in by_tag] == [
        ("m2.example/cache/a/b:1", True),
        ("q.example/a/b:1", False),
    ]
    digest = "sha256:" + "a" * 64
    by_digest = conf.pull_sources(Reference.parse(f"q.example/a/b@{digest}"))
    assert str(by_digest[0].ref) == f"m1.example/a/b@{digest}"
    assert conf.is_insecure(Reference.parse("q.example/x:1"))
    with pytest.raises(InvalidInput, match="blocked"):
        conf.check_allowed(Reference.parse("evil.example/x:1"))


def test_malformed_files_name_the_file(tmp_path: Path, no_user_config: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("[[registry]\n")
    with pytest.raises(InvalidInput, match=str(bad)):
        RegistriesConfig.load(bad)
    bad.write_text(
        '[[registry]]\nprefix = "x"\n[[registry.mirror]]\nlocation = "m"\n'
        'pull-from-mirror = "sometimes"\n'
    )
    with pytest.raises(InvalidInput, match="pull-from-mirror"):
        RegistriesConfig.load(bad)
    with pytest.raises(InvalidInput, match="does not exist"):
        RegistriesConfig.load(tmp_path / "missing.conf")
