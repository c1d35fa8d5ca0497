"""pcapng records in chunks of arrays, for :mod:`anyport.traffic.capture_fast`.

A tight Python loop walks the blocks and only notes where each enhanced packet block (EPB, nearly every block of a
real capture) starts; numpy then reads and checks their fields all at once. Every other block (section and
interface headers, simple and obsolete packet blocks, anything unknown or damaged) is handled one at a time exactly
as :func:`anyport.traffic.capture._pcapng_records` handles it, so both give the same records and statistics.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from anyport.traffic.capture import _BYTE_ORDER_MAGIC, _LE_I, _PCAPNG_SHB, CaptureStats, _tsresol

__all__ = ["pcapng_chunks"]

Array = npt.NDArray[Any]
Buffer = Any  # mmap.mmap | bytes
Chunk = tuple[Array, Array, Array, Array, Array]
Record = tuple[float, int, int, int, int]


class _Walk:
    """The walk's state between chunks: position, byte order, interfaces (of this section and of all sections)."""

    def __init__(self) -> None:
        self.off = 0
        self.order = "<"
        self.ifaces: list[tuple[int, int, float, int]] = []  # this section's: link type, snaplen, units/s, offset
        self.table: list[tuple[int, float, int]] = []  # every section's interfaces: link type, units/s, offset
        self.base = 0  # index in ``table`` of this section's first interface
        self.last_ts = 0.0
        self.done = False


def pcapng_chunks(buf: Buffer, st: CaptureStats, chunk_size: int) -> Iterator[Chunk]:
    """(timestamps, link types, data offsets, caplens, original lengths) of up to ``chunk_size`` records at a time."""
    size = len(buf)
    views = {
        order: np.ndarray((size - 3,), order + "u4", buffer=buf, strides=(1,)) for order in "<>"
    }  # u32 at every byte offset, in either byte order
    walk = _Walk()
    while not walk.done:
        epbs: list[int] = []
        literals: list[tuple[int, Record]] = []  # (row, record) of packets from other block types
        epochs: list[tuple[int, int, int, bool]] = []  # (first row, section base, interfaces, big-endian)
        _walk(buf, size, st, walk, chunk_size, epbs, literals, epochs)
        if not epbs and not literals:
            break  # the walk returns early only with rows in hand
        chunk = _arrays(views, st, walk, epbs, literals, epochs)
        if len(chunk[0]):
            walk.last_ts = float(chunk[0][-1])  # the last packet's time: a following SPB's
            yield chunk


def _walk(
    buf: Buffer,
    size: int,
    st: CaptureStats,
    w: _Walk,
    chunk_size: int,
    epbs: list[int],
    literals: list[tuple[int, Record]],
    epochs: list[tuple[int, int, int, bool]],
) -> None:
    off, order = w.off, w.order
    head = struct.Struct(order + "II").unpack_from
    u32 = struct.Struct(order + "I").unpack_from
    add = epbs.append
    left = chunk_size  # rows this chunk may still take
    epochs.append((0, w.base, len(w.ifaces), order == ">"))
    try:
        while off < size:
            if off + 12 > size:
                st.truncated_records += 1
                st.stop_reason = f"block header at offset {off} cut off by the end of the file"
                w.done = True
                return
            btype, blen = head(buf, off)
            if btype == 6 and blen >= 32 and not blen & 3 and blen <= size - off:  # an EPB: numpy reads it
                add(off)
                off += blen
                left -= 1
                if not left:
                    return
                continue
            rows = len(epbs) + len(literals)
            if btype == _PCAPNG_SHB:
                bom = _LE_I(buf, off + 8)[0]
                if bom == _BYTE_ORDER_MAGIC:
                    order = "<"
                elif bom == 0x4D3C2B1A:
                    order = ">"
                else:
                    st.stop_reason = f"section header at offset {off} has no valid byte-order magic"
                    w.done = True
                    return
                head = struct.Struct(order + "II").unpack_from
                u32 = struct.Struct(order + "I").unpack_from
                w.ifaces = []
                w.base = len(w.table)
                epochs.append((rows, w.base, 0, order == ">"))
                blen = u32(buf, off + 4)[0]
            if blen < 12 or blen % 4:
                st.skipped_blocks += 1
                st.stop_reason = f"block at offset {off} has an impossible length {blen}"
                w.done = True
                return
            if blen > size - off:
                st.truncated_records += 1
                st.stop_reason = f"block at offset {off} claims {blen} bytes; only {size - off} remain"
                w.done = True
                return
            body = off + 8
            body_end = off + blen - 4
            nxt = off + blen
            if btype == 6 or btype == 2:  # an EPB too short for its fields, or an obsolete packet block
                if body_end - body < 20 or btype == 6:
                    st.skipped_blocks += 1
                    off = nxt
                    continue
                iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(order + "HHIIII", buf, body)
                data = body + 20
                if iface >= len(w.ifaces) or caplen > body_end - data:
                    st.skipped_blocks += 1
                    off = nxt
                    continue
                linktype, _snap, units, tsoff = w.ifaces[iface]
                literals.append((rows, (((hi << 32) | lo) / units + tsoff, linktype, data, caplen, origlen)))
            elif btype == 3:  # simple packet block: interface 0, the previous packet's time
                if body_end - body < 4 or not w.ifaces:
                    st.skipped_blocks += 1
                    off = nxt
                    continue
                if rows:  # the previous packet's time is known once this chunk is decoded: stop here
                    return
                origlen = u32(buf, body)[0]
                linktype, snap, _units, _tsoff = w.ifaces[0]
                caplen = min(origlen, body_end - body - 4)
                if snap:
                    caplen = min(caplen, snap)
                literals.append((rows, (w.last_ts, linktype, body + 4, caplen, origlen)))
            elif btype == 1:  # interface description block
                if body_end - body < 8:
                    st.skipped_blocks += 1
                    iface_info: tuple[int, int, float, int] = (-1, 0, 1e6, 0)  # keeps the numbering
                else:
                    linktype, _reserved, snap = struct.unpack_from(order + "HHI", buf, body)
                    iface_info = (linktype, snap, *_options(buf, order, body + 8, body_end))
                w.ifaces.append(iface_info)
                w.table.append((iface_info[0], iface_info[2], iface_info[3]))
                epochs.append((rows, w.base, len(w.ifaces), order == ">"))
            elif btype != _PCAPNG_SHB:
                st.skipped_blocks += 1  # name resolution, statistics, custom, unknown ...
            off = nxt
            left = chunk_size - len(epbs) - len(literals)
            if left <= 0:
                return
        w.done = True
    finally:
        w.off, w.order = off, order


def _options(buf: Buffer, order: str, opt: int, end: int) -> tuple[float, int]:
    """An interface's timestamp units per second and offset, from its options."""
    units, tsoff = 1e6, 0
    while opt + 4 <= end:
        code, olen = struct.unpack_from(order + "HH", buf, opt)
        if code == 0:
            break
        val = opt + 4
        if val + olen > end:
            break
        if code == 9 and olen >= 1:
            units = _tsresol(buf[val])
        elif code == 14 and olen >= 8:
            tsoff = struct.unpack_from(order + "q", buf, val)[0]
        opt = val + ((olen + 3) & ~3)
    return units, tsoff


def _arrays(
    views: dict[str, Array],
    st: CaptureStats,
    w: _Walk,
    epbs: list[int],
    literals: list[tuple[int, Record]],
    epochs: list[tuple[int, int, int, bool]],
) -> Chunk:
    n = len(epbs) + len(literals)
    is_literal = np.zeros(n, bool)
    is_literal[[row for row, _ in literals]] = True
    rows = np.flatnonzero(~is_literal)
    off = np.asarray(epbs, np.int64)
    starts = np.asarray([e[0] for e in epochs], np.int64)
    epoch = np.searchsorted(starts, rows, side="right") - 1
    base, count, big = (np.asarray([e[k] for e in epochs], np.int64)[epoch] for k in (1, 2, 3))
    mixed = bool(big.any())

    def field(k: int) -> Array:  # a u32 of every EPB, in its section's byte order
        value = views["<"][off + k].astype(np.int64)
        return np.where(big == 1, views[">"][off + k].astype(np.int64), value) if mixed else value

    blen, iface, hi, lo, caplen, origlen = (field(k) for k in (4, 8, 12, 16, 20, 24))
    valid = (iface < count) & (caplen <= blen - 32)
    st.skipped_blocks += int(len(valid) - valid.sum())
    table = w.table or [(-1, 1e6, 0)]
    index = np.where(valid, base + iface, 0)
    link_of = np.asarray([t[0] for t in table], np.int64)
    units_of = np.asarray([t[1] for t in table], np.float64)
    tsoff_of = np.asarray([t[2] for t in table], np.float64)
    stamp = ((hi.astype(np.uint64) << np.uint64(32)) | lo.astype(np.uint64)).astype(np.float64)

    ts = np.zeros(n, np.float64)
    link = np.zeros(n, np.int64)
    data = np.zeros(n, np.int64)
    cap = np.zeros(n, np.int64)
    orig = np.zeros(n, np.int64)
    ts[rows] = stamp / units_of[index] + tsoff_of[index]
    link[rows] = link_of[index]
    data[rows] = off + 28
    cap[rows] = caplen
    orig[rows] = origlen
    keep = np.ones(n, bool)
    keep[rows] = valid
    for row, (t, lt, d, c, o) in literals:
        ts[row], link[row], data[row], cap[row], orig[row] = t, lt, d, c, o
    if keep.all():
        return ts, link, data, cap, orig
    return ts[keep], link[keep], data[keep], cap[keep], orig[keep]
