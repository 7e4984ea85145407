"""Writing tar headers: POSIX ustar, with a PAX extended header only when an entry needs one.

What needs PAX: names or link targets longer than the ustar fields or not ASCII, sizes past
8 GiB - 1, ids past 0o7777777, and extended attributes (`SCHILY.xattr.NAME`, the key GNU tar,
Go's archive/tar and containers/storage use). Times are whole seconds in the ustar field;
PAX headers themselves carry mtime 0 so output depends only on the entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BLOCK = 512

REGTYPE = b"0"
LNKTYPE = b"1"
SYMTYPE = b"2"
CHRTYPE = b"3"
BLKTYPE = b"4"
DIRTYPE = b"5"
FIFOTYPE = b"6"
PAXTYPE = b"x"

_MAX_OCTAL_8 = 0o7777777  # 7 digits in an 8-byte field
_MAX_OCTAL_12 = 0o77777777777  # 11 digits in a 12-byte field: 8 GiB - 1
_ZERO_BLOCKS = bytes(2 * BLOCK)


@dataclass(slots=True)
class TarEntry:
    """One tar entry to write. `name` has no leading "/"; directories end with "/"."""

    name: str
    typeflag: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    mtime: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _fits(text: str, width: int) -> bytes | None:
    """`text` as ASCII if it fits in a `width`-byte field, else None (PAX needed)."""
    if not text.isascii():
        return None
    raw = text.encode("ascii")
    return raw if len(raw) <= width else None


def pax_record(key: str, value: bytes) -> bytes:
    """One PAX record `LEN key=value\\n`, LEN counting the whole record including itself."""
    body = b" " + key.encode("utf-8", "surrogateescape") + b"=" + value + b"\n"
    n = len(body)
    length = n + len(str(n))
    if len(str(length)) != len(str(n)):
        length = n + len(str(length))
    return str(length).encode("ascii") + body


def _ustar(
    name: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes,
    devmajor: int,
    devminor: int,
) -> bytes:
    head = b"".join(
        (
            name.ljust(100, b"\0"),
            _octal(mode & 0o7777, 8),
            _octal(uid, 8),
            _octal(gid, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b"        ",
            typeflag,
            linkname.ljust(100, b"\0"),
            b"ustar\x0000",
            bytes(64),  # uname, gname: empty, as ids are what extractors use
            _octal(devmajor, 8),
            _octal(devminor, 8),
            bytes(167),  # prefix (unused: long names go to PAX) + padding
        )
    )
    checksum = b"%06o\0 " % sum(head)
    return head[:148] + checksum + head[156:]


def encode_header(entry: TarEntry) -> bytes:
    """The header block(s) for `entry`: a PAX header first if needed, then ustar."""
    records: list[bytes] = []
    name = _fits(entry.name, 100)
    if name is None:
        records.append(pax_record("path", entry.name.encode("utf-8", "surrogateescape")))
        name = entry.name.encode("ascii", "replace")[:100]
    linkname = _fits(entry.linkname, 100)
    if linkname is None:
        records.append(pax_record("linkpath", entry.linkname.encode("utf-8", "surrogateescape")))
        linkname = b""
    size = entry.size
    if size > _MAX_OCTAL_12:
        records.append(pax_record("size", str(size).encode("ascii")))
        size = 0
    uid, gid = entry.uid, entry.gid
    if uid > _MAX_OCTAL_8:
        records.append(pax_record("uid", str(uid).encode("ascii")))
        uid = 0
    if gid > _MAX_OCTAL_8:
        records.append(pax_record("gid", str(gid).encode("ascii")))
        gid = 0
    mtime = min(max(entry.mtime, 0), _MAX_OCTAL_12)
    for key in sorted(entry.xattrs):
        records.append(pax_record("SCHILY.xattr." + key, entry.xattrs[key]))
    ustar = _ustar(
        name,
        entry.mode,
        uid,
        gid,
        size,
        mtime,
        entry.typeflag,
        linkname,
        entry.devmajor,
        entry.devminor,
    )
    if not records:
        return ustar
    data = b"".join(records)
    pax_name = _pax_name(entry.name)
    pax = _ustar(pax_name, 0o644, 0, 0, len(data), 0, PAXTYPE, b"", 0, 0)
    return pax + data + padding(len(data)) + ustar


def _pax_name(name: str) -> bytes:
    # Go's archive/tar names PAX headers DIR/PaxHeaders.0/BASE; any ASCII name will do.
    stripped = name.rstrip("/")
    base = stripped.rsplit("/", 1)[-1]
    ascii_base = base.encode("ascii", "replace")
    return (b"PaxHeaders.0/" + ascii_base)[:100]


def padding(size: int) -> bytes:
    """Zero bytes that pad `size` bytes of data to a whole block."""
    return bytes(-size % BLOCK)


def end_of_archive() -> bytes:
    """Two zero blocks: the end-of-archive marker."""
    return _ZERO_BLOCKS
