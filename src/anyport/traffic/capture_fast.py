"""Captures to flows many packets at a time, with numpy; rare packets go through the per-packet decoder.

The record walk of a pcap file is one tight Python loop over the record lengths (each record's position depends on
the one before); everything else works on arrays of up to :data:`CHUNK` records: the record headers, the link layer
(Ethernet with up to two VLAN tags, Linux SLL and SLL2, raw IP), IPv4 without fragments and IPv6 without extension
headers, TCP/UDP/DCCP/SCTP/UDP-Lite ports, and the flow table (packets grouped by a hash of their normalised 5-tuple,
then summed per group). Big-endian fields are read through unaligned, overlapping views of the file (element *k*
starts at byte *k*), so one ``take`` reads a field of every packet.

Packets the arrays do not decode (fragments, IPv6 extension headers, FabricPath, PPPoE, deeper tag stacks,
null/loopback links, anything cut short) go, in record order, through :func:`anyport.traffic.capture._decode`, the
same code :func:`anyport.traffic.capture.read_flows_reference` uses. Flows remember the record number of their first
packet and of their first SYN, so merging both paths (and chunks) gives exactly the reference's flows: the same
order, initiator, client and responder, counts and times.
"""

from __future__ import annotations

import itertools
import mmap
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from anyport.traffic.capture import (
    _FRAGMENT_MEMORY,
    _LE_I,
    _PCAP_MAGIC,
    _RAW_LINKS,
    FRAGMENT,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    NON_IP,
    OK,
    SUPPORTED_LINK_TYPES,
    UNSUPPORTED_LINK,
    CaptureStats,
    Flow,
    _decode,
)
from anyport.traffic.capture_pcapng import pcapng_chunks

__all__ = ["CHUNK", "read_flows_fast"]

CHUNK = 1 << 18  # records decoded together: bounds memory (~60 MB of arrays) whatever the capture's size
Array = npt.NDArray[Any]
Buffer = mmap.mmap | bytes
# (protocol, plus 256 for IPv6; low side's address high 64 bits, low 64 bits, port; high side's likewise)
FlowKey = tuple[int, int, int, int, int, int, int]
# [packets, bytes, first seen, last seen, first record, first packet from the low side, first SYN record, SYN from low]
FlowRec = list[Any]
_NO_SYN = 1 << 62
_M64 = (1 << 64) - 1
_V6 = 256  # added to the protocol of IPv6 flows in flow keys
_HASH = [np.uint64(c) for c in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)]
_HASH5 = np.uint64(0xFF51AFD7ED558CCD)
# Bytes of transport header needed, by IP protocol: TCP up to its flags, UDP/DCCP/SCTP/UDP-Lite their ports.
_TRANSPORT_BYTES = np.zeros(256, np.int64)
_TRANSPORT_BYTES[[17, 33, 132, 136]] = 4
_TRANSPORT_BYTES[6] = 14
# What a packet's link layer says: not IP, IPv4, IPv6, for the per-packet decoder, a link type nobody decodes; and
# two states of Ethernet's: a VLAN tag, another encapsulation the per-packet decoder opens (FabricPath, PPPoE).
_L_NOT_IP, _L_V4, _L_V6, _L_SLOW, _L_UNSUPPORTED, _L_TAG, _L_OTHER = 0, 1, 2, 3, 4, 5, 6
_IP_KIND = np.zeros(1 << 16, np.uint8)  # by ethertype
_IP_KIND[0x0800], _IP_KIND[0x86DD] = _L_V4, _L_V6
_ETHER_KIND = _IP_KIND.copy()
_ETHER_KIND[[0x8100, 0x88A8, 0x9100, 0x9200]] = _L_TAG
_ETHER_KIND[[0x8903, 0x8864]] = _L_OTHER
_VERSION_KIND = np.zeros(16, np.uint8)  # by IP version nibble
_VERSION_KIND[4], _VERSION_KIND[6] = _L_V4, _L_V6


class _Views:
    """Byte, and unaligned big-endian 32/64-bit, views of the whole capture: ``w32[k]`` is the u32 at byte k."""

    def __init__(self, buf: Buffer) -> None:
        size = len(buf)
        self.u8 = np.frombuffer(buf, np.uint8)
        self.w32 = np.ndarray((size - 3,), ">u4", buffer=buf, strides=(1,))
        self.w64 = np.ndarray((size - 7,), ">u8", buffer=buf, strides=(1,))

    # Fancy indexing, not ``take``: take would copy a whole unaligned view first. Positions past the end are
    # clipped: such packets fail their bounds checks, so the values read for them are never used.
    def byte(self, pos: Array) -> Array:
        return self.u8[np.minimum(pos, len(self.u8) - 1)].astype(np.int64)

    def be32(self, pos: Array) -> Array:
        return self.w32[np.minimum(pos, len(self.w32) - 1)].astype(np.int64)

    def be64(self, pos: Array) -> Array:
        return self.w64[np.minimum(pos, len(self.w64) - 1)].astype(np.uint64)


class _State:
    """The flow table, open fragment trains and counters across chunks."""

    def __init__(self) -> None:
        self.flows: dict[FlowKey, FlowRec] = {}
        self.frags: dict[tuple[bytes, bytes, int, int], FlowKey] = {}
        self.counts = [0, 0, 0, 0, 0]  # by decode status
        self.nbytes = 0
        self.first_ts = float("inf")
        self.last_ts = float("-inf")
        self.links: dict[int, int] = {}


# ---------------------------------------------------------------------------------------------------------------
# Records in chunks: (timestamps, link types, data offsets, caplens, original lengths)

Chunk = tuple[Array, Array, Array, Array, Array]


def _pcap_chunks(buf: Buffer, st: CaptureStats) -> Iterator[Chunk]:
    order, divisor, hsize = _PCAP_MAGIC[_LE_I(buf)[0]]
    linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0xFFFF
    caplen_at = struct.Struct(order + "8xI").unpack_from  # a record header's caplen, from the header's offset
    size = len(buf)
    words = np.ndarray((size - 7,), order + "u8", buffer=buf, strides=(1,))  # like _Views, in the file's order
    off = 24  # the next record header
    done = False
    while not done:
        heads: list[int] = []
        add = heads.append
        try:
            for _ in itertools.repeat(None, CHUNK):
                add(off)
                off += hsize + caplen_at(buf, off)[0]
        except struct.error:  # no room for the caplen field at ``off``: the file ends there or inside a header
            heads.pop()
            done = True
        if off > size:  # the last record walked claims more bytes than remain
            last = heads.pop()
            st.truncated_records += 1
            if last + hsize > size:
                st.stop_reason = f"record header at offset {last} cut off by the end of the file"
            else:
                caplen = caplen_at(buf, last)[0]
                st.stop_reason = f"record at offset {last} claims {caplen} bytes; only {size - last - hsize} remain"
            done = True
        elif off < size and done:
            st.truncated_records += 1
            st.stop_reason = f"record header at offset {off} cut off by the end of the file"
        elif off == size:
            done = True
        if not heads:
            return
        start = np.asarray(heads, np.int64)
        # Two u64 reads a header: (seconds, fraction) and (caplen, original length), in the file's byte order.
        pairs = [words[start].astype(np.uint64), words[start + 8].astype(np.uint64)]
        (sec, frac), (caplen, origlen) = [
            ((w & 0xFFFFFFFF), (w >> 32)) if order == "<" else ((w >> 32), (w & 0xFFFFFFFF)) for w in pairs
        ]
        ts = sec.astype(np.float64) + frac.astype(np.float64) / divisor
        link = np.broadcast_to(np.int64(linktype), (len(start),))  # one link type: no array
        yield ts, link, start + hsize, caplen.astype(np.int64), origlen.astype(np.int64)


# ---------------------------------------------------------------------------------------------------------------
# Decoding arrays


def _link_layer(v: _Views, linktype: int, data: Array, caplen: Array, end: Array) -> tuple[Array, Array]:
    """(network header offset, family: _L_NOT_IP, _L_V4, _L_V6 or _L_SLOW) for packets of one link type."""
    if linktype == LINKTYPE_ETHERNET:
        ok = caplen >= 14
        et = v.be32(data + 10) & 0xFFFF  # 16-bit fields are read as the low half of a u32 ending with them
        net = data + 14
        kind = _ETHER_KIND[et]
        for _ in range(2):  # 802.1Q / 802.1ad tags; deeper stacks go to the per-packet decoder
            tagged = np.flatnonzero(kind == _L_TAG)
            if not len(tagged):
                break
            fits = net[tagged] + 4 <= end[tagged]
            kind[tagged[~fits]] = _L_SLOW
            tagged = tagged[fits]
            kind[tagged] = _ETHER_KIND[v.be32(net[tagged]) & 0xFFFF]
            net[tagged] += 4
        return net, np.where(ok & (kind <= _L_V6), kind, _L_SLOW)
    if linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        sll = linktype == LINKTYPE_LINUX_SLL
        ok = caplen >= (16 if sll else 20)
        et = v.be32(data + 12) & 0xFFFF if sll else v.be32(data) >> 16
        return data + (16 if sll else 20), np.where(ok, _IP_KIND[et], _L_SLOW)
    version = v.byte(data) >> 4  # raw IP: the version nibble says which
    return data, np.where(caplen >= 1, _VERSION_KIND[version], _L_SLOW)


def _transport(v: _Views, proto: Array, l4: Array, end: Array, ok: Array) -> tuple[Array, Array, Array, Array]:
    """(ok, source port, destination port, TCP flags); -1 where a protocol has none."""
    need = _TRANSPORT_BYTES[proto]
    ok &= l4 + need <= end
    ported = need != 0
    ports = v.be32(l4)
    sport = np.where(ported, ports >> 16, -1)
    dport = np.where(ported, ports & 0xFFFF, -1)
    flags = np.where(need == 14, v.be32(l4 + 10) & 0xFF, -1)  # the flags byte ends a u32 at offset 10
    return ok, sport, dport, flags


def _ipv4(v: _Views, q: Array, end: Array) -> tuple[Array, ...]:
    """(ok, protocol, source, destination, ports, flags); the addresses as one u64: source << 32 | destination."""
    head = v.be64(q)  # version, IHL, TOS, total length, identification, flags and fragment offset
    ihl = ((head >> 54) & 0x3C).astype(np.int64)
    ok = (head >> 60 == 4) & (ihl >= 20) & (q + ihl <= end)  # so q + 20 <= end too
    total = ((head >> 32) & 0xFFFF).astype(np.int64)
    end = np.where(total >= ihl, np.minimum(end, q + total), end)  # the IP length, never beyond the capture
    ok &= (head & 0x3FFF) == 0  # fragments need the per-packet decoder's fragment table
    proto = (v.be32(q + 8) >> 16) & 0xFF
    ok, sport, dport, flags = _transport(v, proto, q + ihl, end, ok)
    return ok, proto, v.be64(q + 12), sport, dport, flags


def _ipv6(v: _Views, q: Array, end: Array) -> tuple[Array, ...]:
    """(ok, protocol, source high and low 64 bits, destination's likewise, ports, flags)."""
    head = v.be64(q)  # version, traffic class, flow label, payload length, next header, hop limit
    ok = (q + 40 <= end) & (head >> 60 == 6)
    plen = ((head >> 16) & 0xFFFF).astype(np.int64)
    end = np.where(plen != 0, np.minimum(end, q + 40 + plen), end)
    nh = ((head >> 8) & 0xFF).astype(np.int64)
    ok &= (nh != 0) & (nh != 43) & (nh != 60) & (nh != 51) & (nh != 44)  # extension headers: per packet
    ok, sport, dport, flags = _transport(v, nh, q + 40, end, ok)
    src_hi, src_lo, dst_hi, dst_lo = (v.be64(q + k) for k in (8, 16, 24, 32))
    return ok, nh | _V6, src_hi, src_lo, dst_hi, dst_lo, sport, dport, flags


# ---------------------------------------------------------------------------------------------------------------
# Flow table


def _key(proto: int, a: bytes, ap: int, b: bytes, bp: int) -> FlowKey:
    ai = int.from_bytes(a, "big")
    bi = int.from_bytes(b, "big")
    if len(a) == 4:
        return (proto, 0, ai, ap, 0, bi, bp)
    return (proto | _V6, ai >> 64, ai & _M64, ap, bi >> 64, bi & _M64, bp)


def _slow(state: _State, buf: Buffer, chunk: Chunk, positions: Array, base: int) -> None:
    """Packets decoded one at a time, in record order: the reference's loop, on record numbers."""
    flows, frags, counts = state.flows, state.frags, state.counts
    columns = (c[positions].tolist() for c in chunk)
    for i, ts, linktype, off, caplen, origlen in zip(positions.tolist(), *columns, strict=True):
        status, proto, src, dst, sport, dport, flags, fkey, first_frag = _decode(buf, linktype, off, off + caplen)
        if status == FRAGMENT:
            fkey_flow = frags.get(fkey)  # type: ignore[arg-type]
            if fkey_flow is None:
                counts[FRAGMENT] += 1
                continue
            rec = flows[fkey_flow]
            rec[0] += 1
            rec[1] += origlen
            if ts > rec[3]:
                rec[3] = ts
            counts[OK] += 1
            continue
        if status:
            counts[status] += 1
            continue
        counts[OK] += 1
        number = base + i
        low = src < dst or (src == dst and sport <= dport)
        key = _key(proto, src, sport, dst, dport) if low else _key(proto, dst, dport, src, sport)
        found = flows.get(key)
        if found is None:
            flows[key] = rec = [1, origlen, ts, ts, number, low, _NO_SYN, False]
        else:
            rec = found
            rec[0] += 1
            rec[1] += origlen
            if ts < rec[2]:
                rec[2] = ts
            if ts > rec[3]:
                rec[3] = ts
            if number < rec[4]:
                rec[4], rec[5] = number, low
        if flags >= 0 and flags & 0x12 == 0x02 and number < rec[6]:
            rec[6], rec[7] = number, low
        if first_frag and fkey is not None:
            if len(frags) >= _FRAGMENT_MEMORY:
                del frags[next(iter(frags))]
            frags[fkey] = key


def _aggregate_ipv4(state: _State, cols: tuple[Array, ...], numbers: Array, ts: Array, origlen: Array) -> None:
    proto, addrs, sport, dport, flags = cols
    src, dst = addrs >> 32, addrs & 0xFFFFFFFF
    low = (src < dst) | ((src == dst) & (sport <= dport))
    ab = np.where(low, addrs, (dst << 32) | src)
    ap = np.where(low, sport, dport)
    bp = np.where(low, dport, sport)
    tail = ((proto << 34) | ((ap + 1) << 17) | (bp + 1)).astype(np.uint64)

    def keys(rep: Array) -> Iterator[FlowKey]:
        a, b = (ab[rep] >> 32).tolist(), (ab[rep] & 0xFFFFFFFF).tolist()
        zero = itertools.repeat(0)
        return zip(proto[rep].tolist(), zero, a, ap[rep].tolist(), zero, b, bp[rep].tolist(), strict=False)

    _merge(state, (ab, tail), ab ^ (tail * _HASH5), keys, low, flags, numbers, ts, origlen)


def _aggregate_ipv6(state: _State, cols: tuple[Array, ...], numbers: Array, ts: Array, origlen: Array) -> None:
    proto, s_hi, s_lo, d_hi, d_lo, sport, dport, flags = cols
    low = (s_hi < d_hi) | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (sport <= dport))))
    a_hi, a_lo, b_hi, b_lo = (np.where(low, x, y) for x, y in ((s_hi, d_hi), (s_lo, d_lo), (d_hi, s_hi), (d_lo, s_lo)))
    ap = np.where(low, sport, dport)
    bp = np.where(low, dport, sport)
    tail = ((proto << 34) | ((ap + 1) << 17) | (bp + 1)).astype(np.uint64)
    columns = (a_hi, a_lo, b_hi, b_lo, tail)
    h = tail * _HASH5
    for col, mult in zip(columns[:4], _HASH, strict=True):
        h ^= col * mult

    def keys(rep: Array) -> Iterator[FlowKey]:
        cols = (proto, a_hi, a_lo, ap, b_hi, b_lo, bp)
        return zip(*(c[rep].tolist() for c in cols), strict=True)

    _merge(state, columns, h, keys, low, flags, numbers, ts, origlen)


def _merge(
    state: _State,
    columns: tuple[Array, ...],
    h: Array,
    keys: Callable[[Array], Iterator[FlowKey]],
    low: Array,
    flags: Array,
    numbers: Array,
    ts: Array,
    origlen: Array,
) -> None:
    """Group packets by flow (``columns`` are the normalised key, ``h`` its hash), sum them, merge into the table."""
    m = len(h)
    if not m:
        return
    order = np.argsort(h, kind="stable")  # stable: within a flow, packets stay in record order
    # A group is a run of equal keys; a rare hash collision only splits a flow in two runs, merged below.
    change = np.empty(m, bool)
    change[0] = True
    sorted_cols = [col[order] for col in columns]
    np.not_equal(sorted_cols[0][1:], sorted_cols[0][:-1], out=change[1:])
    for s in sorted_cols[1:]:
        change[1:] |= s[1:] != s[:-1]
    starts = np.flatnonzero(change)
    first_pos = order[starts]  # the stable sort puts each run's earliest packet first
    sizes = np.diff(np.append(starts, m))
    nbytes = np.add.reduceat(origlen[order], starts)
    ts_sorted = ts[order]
    first = np.minimum.reduceat(ts_sorted, starts)
    last = np.maximum.reduceat(ts_sorted, starts)
    syn = (flags & 0x12) == 0x02  # flags are -1 (no SYN) when not TCP
    syn_rank = np.minimum.reduceat(np.where(syn[order], np.arange(m), m), starts)  # earliest SYN of each run
    has_syn = syn_rank < m
    syn_pos = order[np.minimum(syn_rank, m - 1)]
    syn_number = np.where(has_syn, numbers[syn_pos], _NO_SYN)
    flows = state.flows
    for key, n, nb, f, la, fn, fl, sn, sl in zip(
        keys(first_pos),
        sizes.tolist(),
        nbytes.tolist(),
        first.tolist(),
        last.tolist(),
        numbers[first_pos].tolist(),
        low[first_pos].tolist(),
        syn_number.tolist(),
        (low[syn_pos] & has_syn).tolist(),
        strict=True,
    ):
        rec = flows.get(key)
        if rec is None:
            flows[key] = [n, nb, f, la, fn, fl, sn, sl]
            continue
        rec[0] += n
        rec[1] += nb
        if f < rec[2]:
            rec[2] = f
        if la > rec[3]:
            rec[3] = la
        if fn < rec[4]:
            rec[4], rec[5] = fn, fl
        if sn < rec[6]:
            rec[6], rec[7] = sn, sl


def _chunk(state: _State, buf: Buffer, v: _Views, chunk: Chunk, base: int) -> None:
    ts, link, data, caplen, origlen = chunk
    n = len(ts)
    state.nbytes += int(origlen.sum())
    state.first_ts = min(state.first_ts, float(ts.min()))
    state.last_ts = max(state.last_ts, float(ts.max()))
    if link.strides[0] == 0 or (link == link[0]).all():  # always so in pcap files
        kinds = link[:1]
        state.links[int(link[0])] = state.links.get(int(link[0]), 0) + n
    else:
        kinds, first_at, per_kind = np.unique(link, return_index=True, return_counts=True)
        for i in np.argsort(first_at).tolist():  # in order of first appearance, as the reference counts them
            state.links[int(kinds[i])] = state.links.get(int(kinds[i]), 0) + int(per_kind[i])

    end = data + caplen
    if len(kinds) == 1 and _fast_link(int(kinds[0])):  # one link type (every pcap file): no copies
        net, family = _link_layer(v, int(kinds[0]), data, caplen, end)
    else:
        net = np.zeros(n, np.int64)
        family = np.full(n, _L_SLOW, np.uint8)
        for lt in kinds.tolist():
            sel = np.flatnonzero(link == lt)
            if lt not in SUPPORTED_LINK_TYPES:
                family[sel] = _L_UNSUPPORTED
            elif _fast_link(lt):
                net[sel], family[sel] = _link_layer(v, lt, data[sel], caplen[sel], end[sel])
    state.counts[NON_IP] += int(np.count_nonzero(family == _L_NOT_IP))
    state.counts[UNSUPPORTED_LINK] += int(np.count_nonzero(family == _L_UNSUPPORTED))

    slow = family == _L_SLOW  # null/loopback links, and what the link layer could not settle
    decoded = []
    for kind, decode, aggregate in ((_L_V4, _ipv4, _aggregate_ipv4), (_L_V6, _ipv6, _aggregate_ipv6)):
        pos = np.flatnonzero(family == kind)
        if len(pos):
            ok, *fields = decode(v, net[pos], end[pos])
            slow[pos[~ok]] = True
            decoded.append((aggregate, pos[ok], tuple(c[ok] for c in fields)))

    _slow(state, buf, chunk, np.flatnonzero(slow), base)  # first, in record order, as fragments need
    for aggregate, fast, cols in decoded:
        state.counts[OK] += len(fast)
        aggregate(state, cols, fast + base, ts[fast], origlen[fast])


def _fast_link(linktype: int) -> bool:
    return linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2) or linktype in _RAW_LINKS


# ---------------------------------------------------------------------------------------------------------------
# Result


def read_flows_fast(buf: Buffer, fmt: str, st: CaptureStats) -> list[Flow]:
    """Flows of an opened capture, in order of their first packet; fills ``st`` like the reference decoder."""
    state = _State()
    views = _Views(buf)
    chunks = _pcap_chunks(buf, st) if fmt == "pcap" else pcapng_chunks(buf, st, CHUNK)
    base = 0
    for chunk in chunks:
        _chunk(state, buf, views, chunk, base)
        base += len(chunk[0])
    del views  # release the views of the buffer before it is closed
    st.packets = sum(state.counts)
    st.bytes = state.nbytes
    st.in_flows, st.non_ip, st.undecodable, st.unsupported_link, st.fragments = state.counts
    st.link_types = state.links
    if st.packets:
        st.first_seen, st.last_seen = state.first_ts, state.last_ts
    names: tuple[dict[int, str], dict[int, str]] = ({}, {})  # IPv4 and IPv6 address -> text, as addresses repeat
    flows = sorted(state.flows.items(), key=lambda item: int(item[1][4]))
    return [_flow(key, rec, names) for key, rec in flows]


def _name(v6: int, hi: int, lo: int, names: tuple[dict[int, str], dict[int, str]]) -> str:
    if v6:
        addr = (hi << 64) | lo
        name = names[1].get(addr)
        if name is None:
            names[1][addr] = name = socket.inet_ntop(socket.AF_INET6, addr.to_bytes(16, "big"))
        return name
    name = names[0].get(lo)
    if name is None:
        names[0][lo] = name = socket.inet_ntop(socket.AF_INET, lo.to_bytes(4, "big"))
    return name


def _flow(key: FlowKey, rec: FlowRec, names: tuple[dict[int, str], dict[int, str]]) -> Flow:
    proto, a_hi, a_lo, ap, b_hi, b_lo, bp = key
    v6 = proto & _V6
    low = (_name(v6, a_hi, a_lo, names), None if ap < 0 else ap)
    high = (_name(v6, b_hi, b_lo, names), None if bp < 0 else bp)
    initiator = low if rec[5] else high
    syn_seen = rec[6] != _NO_SYN
    if syn_seen:
        client, responder = (low, high) if rec[7] else (high, low)
    else:
        client, responder = (low, high) if rec[5] else (high, low)
    # Positional: protocol, client, client port, responder, responder port, initiator, its port, syn_seen,
    # packets, bytes, first seen, last seen.
    return Flow(
        proto & 0xFF,
        client[0],
        client[1],
        responder[0],
        responder[1],
        initiator[0],
        initiator[1],
        syn_seen,
        rec[0],
        rec[1],
        rec[2],
        rec[3],
    )
