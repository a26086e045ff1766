"""Gzip members assembled from pieces compressed at different times.

A block's item member is one gzip member: a header, one deflate stream, a
trailer with the CRC-32 and length of the whole body (repeat table, records,
lines). When the writer must move the lines of an open block out of memory,
it compresses them right away as a raw deflate *segment* ended by a sync
flush (byte-aligned, not final) and keeps their CRC-32 and length. When the
block is sealed, its head (known only then) and the lines still in memory are
compressed, and the member is

    header + deflate(head, sync flush) + segments + deflate(tail, final) + trailer

A deflate stream may be made of such runs: none refers back past its own
start. So spilled lines are compressed once and never written out raw; the
reader sees an ordinary gzip member.
"""

from __future__ import annotations

import struct
import zlib

from pipeline.catalogue.layout import GZIP_LEVEL, ZLIB, crc32, gzip_member

# No file name, no modification time, OS unknown.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_TRAILER = struct.Struct("<II")


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:  # pragma: no cover - old ISA-L
    """CRC-32 of A + B from those of A and B: CRC-32 is affine in its start value,
    so shifting A's CRC over len(B) bytes is running it over as many zeros."""
    zeros = bytes(len2)
    return zlib.crc32(zeros, crc1) ^ zlib.crc32(zeros) ^ crc2


crc32_combine = getattr(ZLIB, "crc32_combine", _crc32_combine)


def deflate(data: bytes, final: bool) -> bytes:
    """Raw deflate of ``data``: the last run of a stream (``final``) or a run
    that ends byte-aligned so another may follow."""
    comp = ZLIB.compressobj(GZIP_LEVEL, ZLIB.DEFLATED, -15)
    return comp.compress(data) + comp.flush(ZLIB.Z_FINISH if final else ZLIB.Z_SYNC_FLUSH)


def member(head: bytes, segments: bytes, segments_crc: int, segments_len: int,
           tail: bytes) -> bytes:  # fmt: skip
    """The gzip member of ``head + lines + tail``, where ``segments`` are the
    lines already deflated (``deflate(..., final=False)`` runs, in order) with
    their CRC-32 and length. Without segments: ``gzip_member(head + tail)``."""
    if not segments:
        return gzip_member(head + tail)
    lines_crc = crc32(tail, segments_crc)
    lines_len = segments_len + len(tail)
    crc = crc32_combine(crc32(head), lines_crc, lines_len)
    return b"".join((GZIP_HEADER, deflate(head, False), segments, deflate(tail, True),
                     _TRAILER.pack(crc, (len(head) + lines_len) & 0xFFFFFFFF)))  # fmt: skip
