"""registries.d precedence and file:// lookaside storage."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.digest import Digest
from lamina.errors import InvalidInput
from lamina.reference import Reference
from lamina.trust.lookaside import read_signatures, signature_url, write_signatures
from lamina.trust.registries_d import RegistriesD

CONFIG = """
default-docker:
  lookaside: file:///default
  use-sigstore-attachments: false
docker:
  example.com:
    lookaside: https://example.com/sigs
    use-sigstore-attachments: true
  example.com/ns:
    sigstore-staging: file:///staging
  example.com/ns/app:1:
    use-sigstore-attachments: false
"""


def test_registries_d_field_by_field_precedence(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(CONFIG)
    (tmp_path / "b.yaml").write_text("docker:\n  quay.io:\n    sigstore: file:///quay\n")
    conf = RegistriesD.load(tmp_path)
    app1 = Reference.parse("example.com/ns/app:1")
    assert conf.lookaside_url(app1) == "https://example.com/sigs"
    assert conf.lookaside_url(app1, write=True) == "file:///staging"
    assert conf.use_sigstore_attachments(app1) is False
    assert conf.use_sigstore_attachments(Reference.parse("example.com/ns/app:2")) is True
    assert conf.lookaside_url(Reference.parse("quay.io/x:1")) == "file:///quay"
    assert conf.lookaside_url(Reference.parse("other.io/x:1")) == "file:///default"


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"a.yaml": "docker:\n  x.io: {}\n", "b.yaml": "docker:\n  x.io: {}\n"}, "also defined"),
        ({"a.yaml": "default-docker: {}\n", "b.yaml": "default-docker: {}\n"}, "also defined"),
        ({"a.yaml": "docker:\n  x.io:\n    lookasid: file:///x\n"}, "'lookasid'"),
        ({"a.yaml": "docker:\n  x.io:\n    lookaside: a\n    sigstore: b\n"}, "legacy name"),
        ({"a.yaml": "dokcer: {}\n"}, "'dokcer'"),
    ],
)
def test_registries_d_rejects_bad_files(tmp_path: Path, files: dict[str, str], needle: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(InvalidInput, match=needle):
        RegistriesD.load(tmp_path)


def test_file_lookaside_round_trip(tmp_path: Path) -> None:
    base = f"file://{tmp_path}"
    ref = Reference.parse("example.com/ns/app:1")
    digest = Digest.parse("sha256:" + "d" * 64)
    assert signature_url(base, ref, digest, 2) == f"{base}/ns/app@sha256={'d' * 64}/signature-2"
    assert read_signatures(base, ref, digest) == []
    write_signatures(base, ref, digest, [b"one", b"two", b"three"])
    assert read_signatures(base, ref, digest) == [b"one", b"two", b"three"]
    write_signatures(base, ref, digest, [b"only"])
    assert read_signatures(base, ref, digest) == [b"only"]
    with pytest.raises(InvalidInput, match="only file://"):
        write_signatures("https://x", ref, digest, [b"a"])
