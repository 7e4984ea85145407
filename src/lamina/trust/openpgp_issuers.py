"""Which keys an OpenPGP signed message claims to be signed by, read without gpg.

Only a pre-filter: `claimed_issuers(message)` gives the key IDs that the message's one-pass
signature and signature packets name (issuer key ID, issuer fingerprint), or None when it
cannot tell (a packet it does not understand, a malformed or unusual message, a wildcard
issuer). A message none of whose claimed issuers is in a keyring cannot verify against that
keyring, so gpg need not be started for it; anything else still goes to gpg, which alone
decides what is authentic (RFC 4880 sections 4.2, 5.1-5.4, 5.6).
"""

from __future__ import annotations

import zlib

_COMPRESSED = 8
_ONE_PASS = 4
_SIGNATURE = 2
_LITERAL = 11
_MARKER = 10
_MAX_PLAIN = 1 << 20  # signed payloads are small JSON documents; larger: let gpg judge
_WILDCARD = "0" * 16


class _Unknown(Exception):
    """The message is outside what this reader understands."""


def claimed_issuers(message: bytes) -> frozenset[str] | None:
    """Upper-case 16-hex-digit key IDs the signatures of `message` name, or None."""
    try:
        found: set[str] = set()
        _walk(message, found, depth=0)
    except (_Unknown, IndexError, ValueError, OSError, zlib.error):  # OSError: bz2's
        return None
    if not found or _WILDCARD in found:
        return None
    return frozenset(found)


def _walk(data: bytes, found: set[str], depth: int) -> None:
    for tag, body in _packets(data):
        if tag == _COMPRESSED:
            if depth > 0:
                raise _Unknown("nested compression")
            _walk(_inflate(body), found, depth + 1)
        elif tag == _ONE_PASS:
            if len(body) < 13 or body[0] != 3:
                raise _Unknown("one-pass signature version")
            found.add(body[4:12].hex().upper())
        elif tag == _SIGNATURE:
            found.update(_signature_issuers(body))
        elif tag not in (_LITERAL, _MARKER):
            raise _Unknown(f"packet {tag}")


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        first = data[pos]
        if not first & 0x80:
            raise _Unknown("not a packet")
        if first & 0x40:  # new format
            tag = first & 0x3F
            pos += 1
            o1 = data[pos]
            if o1 < 192:
                length, pos = o1, pos + 1
            elif o1 < 224:
                length, pos = ((o1 - 192) << 8) + data[pos + 1] + 192, pos + 2
            elif o1 == 255:
                length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
            else:
                raise _Unknown("partial body lengths")
        else:
            tag = (first >> 2) & 0x0F
            kind = first & 0x03
            pos += 1
            if kind == 3:
                length = len(data) - pos
            else:
                n = (1, 2, 4)[kind]
                length, pos = int.from_bytes(data[pos : pos + n], "big"), pos + n
        if pos + length > len(data):
            raise _Unknown("truncated packet")
        out.append((tag, data[pos : pos + length]))
        pos += length
    return out


def _inflate(body: bytes) -> bytes:
    if not body:
        raise _Unknown("empty compressed packet")
    algorithm, packed = body[0], body[1:]
    if algorithm == 0:
        return packed
    if algorithm in (1, 2):
        inflater = zlib.decompressobj(-15 if algorithm == 1 else 15)
        plain = inflater.decompress(packed, _MAX_PLAIN)
        if inflater.unconsumed_tail:
            raise _Unknown("too large")
        return plain
    if algorithm == 3:
        import bz2

        decompressor = bz2.BZ2Decompressor()
        plain = decompressor.decompress(packed, _MAX_PLAIN)
        if not decompressor.needs_input and not decompressor.eof:
            raise _Unknown("too large")
        return plain
    raise _Unknown("compression algorithm")


def _signature_issuers(body: bytes) -> set[str]:
    version = body[0]
    if version == 3:
        if body[1] != 5:
            raise _Unknown("v3 signature layout")
        return {body[7:15].hex().upper()}
    if version != 4:
        raise _Unknown("signature version")
    found: set[str] = set()
    pos = 4
    for _ in range(2):  # hashed, then unhashed subpackets
        size = int.from_bytes(body[pos : pos + 2], "big")
        area = body[pos + 2 : pos + 2 + size]
        if len(area) != size:
            raise _Unknown("truncated subpackets")
        found.update(_subpacket_issuers(area))
        pos += 2 + size
    return found


def _subpacket_issuers(area: bytes) -> set[str]:
    found: set[str] = set()
    pos = 0
    while pos < len(area):
        o1 = area[pos]
        if o1 < 192:
            length, pos = o1, pos + 1
        elif o1 < 255:
            length, pos = ((o1 - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            length, pos = int.from_bytes(area[pos + 1 : pos + 5], "big"), pos + 5
        if length < 1 or pos + length > len(area):
            raise _Unknown("bad subpacket")
        kind, value = area[pos] & 0x7F, area[pos + 1 : pos + length]
        if kind == 16:  # issuer key ID
            if len(value) != 8:
                raise _Unknown("issuer key ID size")
            found.add(value.hex().upper())
        elif kind == 33:  # issuer fingerprint: version, then the fingerprint
            if len(value) == 21 and value[0] == 4:
                found.add(value[-8:].hex().upper())
            else:
                raise _Unknown("issuer fingerprint version")
        pos += length
    return found
