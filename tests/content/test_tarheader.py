"""The tar header writer, checked against Python's tarfile reader."""

from __future__ import annotations

import io
import tarfile

from lamina.content.layers import tarheader as th


def _read_one(header: bytes, data: bytes = b"") -> tarfile.TarInfo:
    raw = header + data + th.padding(len(data)) + th.end_of_archive()
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r|") as tar:
        member = tar.next()
        assert member is not None
        return member


def test_plain_entry_matches_tarfile_ustar() -> None:
    entry = th.TarEntry(
        name="etc/hostname",
        typeflag=th.REGTYPE,
        mode=0o644,
        uid=1,
        gid=2,
        size=4,
        mtime=1_600_000_000,
    )
    ours = th.encode_header(entry)
    info = tarfile.TarInfo("etc/hostname")
    info.mode, info.uid, info.gid, info.size, info.mtime = 0o644, 1, 2, 4, 1_600_000_000
    theirs = info.tobuf(format=tarfile.USTAR_FORMAT)
    # Same bytes except device numbers (written as zeros, as Go's archive/tar does; tarfile
    # leaves them empty for non-devices) and so the checksum.
    assert ours[:148] == theirs[:148]
    assert ours[156:329] == theirs[156:329]
    assert ours[329:345] == b"0000000\x00" * 2
    assert ours[345:] == theirs[345:]


def test_size_past_8gib_goes_to_pax() -> None:
    size = 10 << 30
    header = th.encode_header(th.TarEntry(name="huge", typeflag=th.REGTYPE, size=size))
    assert b"size=10737418240\n" in header
    # Stream mode reads the header without needing the data.
    with tarfile.open(fileobj=io.BytesIO(header), mode="r|") as tar:
        member = tar.next()
        assert member is not None
        assert member.size == size
        assert member.name == "huge"


def test_largest_octal_size_stays_ustar() -> None:
    header = th.encode_header(th.TarEntry(name="f", typeflag=th.REGTYPE, size=(8 << 30) - 1))
    assert len(header) == th.BLOCK
    assert header[124:136] == b"77777777777\0"


def test_long_names_and_targets_use_pax() -> None:
    for length in (99, 100, 101, 255, 256, 1000):
        name = "/".join(["x" * 50] * (length // 51 + 1))[:length].rstrip("/") or "x"
        target = "t" * length
        header = th.encode_header(th.TarEntry(name=name, typeflag=th.SYMTYPE, linkname=target))
        member = _read_one(header)
        assert member.name == name
        assert member.linkname == target
        assert member.issym()
        assert (len(header) > th.BLOCK) == (len(name) > 100 or length > 100)


def test_non_ascii_name_uses_pax() -> None:
    name = "dïr/名前.txt"
    header = th.encode_header(th.TarEntry(name=name, typeflag=th.REGTYPE, size=3))
    assert len(header) > th.BLOCK
    assert _read_one(header, b"abc").name == name


def test_big_ids_and_xattrs() -> None:
    entry = th.TarEntry(
        name="f",
        typeflag=th.REGTYPE,
        uid=3_000_000,
        gid=4_000_000,
        xattrs={"user.k": b"\x00\xffbin", "security.capability": b"\x01\x02"},
    )
    member = _read_one(th.encode_header(entry))
    assert (member.uid, member.gid) == (3_000_000, 4_000_000)
    assert member.pax_headers["SCHILY.xattr.user.k"].encode("utf-8", "surrogateescape") == (
        b"\x00\xffbin"
    )
    assert "SCHILY.xattr.security.capability" in member.pax_headers


def test_pax_record_length_counts_itself() -> None:
    for n in range(1, 300):
        record = th.pax_record("k", b"v" * n)
        length = int(record.split(b" ", 1)[0])
        assert length == len(record)


def test_devices_and_checksum() -> None:
    entry = th.TarEntry(name="dev/null", typeflag=th.CHRTYPE, mode=0o666, devmajor=1, devminor=3)
    header = th.encode_header(entry)
    member = _read_one(header)  # tarfile verifies the checksum
    assert member.ischr()
    assert (member.devmajor, member.devminor) == (1, 3)
    assert member.mode == 0o666
