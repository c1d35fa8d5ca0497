"""A reader of pcap and pcapng captures that turns packets into flows.

Formats: pcap (either byte order, micro- and nanosecond magic, and the rare "modified" pcap), pcapng (SHB, IDB,
EPB, SPB and OPB blocks; link type and timestamp resolution per interface; unknown blocks are skipped). Link
types: Ethernet (802.1Q/802.1ad tags, Cisco FabricPath, PPPoE sessions), Linux SLL and SLL2, raw IP (DLT_RAW
12/14/101, 228, 229) and null/loopback (DLT_NULL, DLT_LOOP). Network and transport: IPv4 (options, fragments),
IPv6 (hop-by-hop, routing, fragment, destination options and AH headers are skipped), TCP, UDP, UDP-Lite, SCTP
and DCCP with ports; ICMP, ICMPv6 and every other IP protocol become flows without ports.

A flow is keyed by protocol and both (address, port) ends, normalised so both directions are one flow. The side
that sent the first packet is the *initiator*; the *client* is the side that sent a TCP SYN without ACK, or the
initiator when no such SYN was seen, and the other side is the *responder* (the service side). ``bytes`` counts
frame lengths on the wire (the records' original length), so a small snaplen does not shrink them.

Captures may be compressed (gzip, zstandard, bzip2, xz; recognised from their first bytes): they are decompressed
into an unnamed temporary file first. The file is memory-mapped; :func:`read_flows` decodes common packets many at
a time with numpy (:mod:`anyport.traffic.capture_fast`) and the rest one at a time with the pure-Python decoder
below, which :func:`read_flows_reference` and :func:`iter_packets` use for every packet. Both give identical
results (the tests check it). Memory grows with the number of flows, not packets.

Damaged files never crash the reader: anything that is not a capture at all (or an empty file, a directory, a
compressed stream with nothing readable in it) raises :class:`anyport.errors.DataError`; inside a capture, bad
records and blocks are counted in :class:`CaptureStats` and reading goes on where it safely can; a compressed
stream that is cut short or corrupt gives the packets before the damage, and ``stop_reason`` says why it stopped.

Every packet record read is counted once in ``CaptureStats.packets`` and exactly once more in one of
``in_flows``, ``non_ip``, ``fragments``, ``undecodable`` or ``unsupported_link``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import socket
import struct
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from anyport.errors import DataError
from anyport.traffic.compressed import compression_of, decompressed, decompressed_head

__all__ = ["CaptureStats", "Flow", "Packet", "is_capture_file", "iter_packets", "read_flows", "read_flows_reference"]

# Decode outcomes (Packet.status).
OK = 0
NON_IP = 1
UNDECODABLE = 2
UNSUPPORTED_LINK = 3
FRAGMENT = 4  # an IP fragment after the first one: no transport header
STATUS_NAMES = ("ok", "non-ip", "undecodable", "unsupported-link", "fragment")

PROTOCOL_NAMES = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 33: "dccp", 47: "gre", 50: "esp", 51: "ah"}
PROTOCOL_NAMES.update({58: "icmpv6", 89: "ospf", 103: "pim", 112: "vrrp", 132: "sctp", 136: "udplite"})

# Link types.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
_RAW_LINKS = frozenset({12, 14, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6})  # the IP version says which
_NULL_LINKS = frozenset({LINKTYPE_NULL, LINKTYPE_LOOP})
SUPPORTED_LINK_TYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4}
    | {LINKTYPE_IPV6}
    | _RAW_LINKS
)

_PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 136})  # TCP, UDP, DCCP, SCTP, UDP-Lite: ports first
_IPV6_EXT_8 = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100, 0x9200})
_AF_INET6 = frozenset({10, 23, 24, 28, 30})  # Linux, Windows, NetBSD/OpenBSD, FreeBSD, macOS
_FRAGMENT_MEMORY = 4096  # open IP fragment trains remembered (oldest forgotten first)

_H = struct.Struct("!H").unpack_from
_HH = struct.Struct("!HH").unpack_from
_I = struct.Struct("!I").unpack_from
_LE_I = struct.Struct("<I").unpack_from

_PCAP_MAGIC = {
    # magic as read little-endian -> (byte order, fraction divisor, record header size)
    0xA1B2C3D4: ("<", 1e6, 16),
    0xD4C3B2A1: (">", 1e6, 16),
    0xA1B23C4D: ("<", 1e9, 16),
    0x4D3CB2A1: (">", 1e9, 16),
    0xA1B2CD34: ("<", 1e6, 24),  # Kuznetzov's modified pcap
    0x34CDB2A1: (">", 1e6, 24),
}
_PCAPNG_SHB = 0x0A0D0D0A
_BYTE_ORDER_MAGIC = 0x1A2B3C4D


@dataclass(slots=True)
class Flow:
    """One bidirectional conversation; ports are None for protocols without them (ICMP, GRE, ...)."""

    protocol: int
    client: str
    client_port: int | None
    responder: str
    responder_port: int | None
    initiator: str
    initiator_port: int | None
    syn_seen: bool
    packets: int
    bytes: int
    first_seen: float
    last_seen: float

    @property
    def protocol_name(self) -> str:
        return PROTOCOL_NAMES.get(self.protocol, str(self.protocol))

    @property
    def service_port(self) -> int | None:
        """The responder's port: the service side's port."""
        return self.responder_port


@dataclass(slots=True)
class Packet:
    """One decoded packet record from :func:`iter_packets`; ``status`` is one of :data:`STATUS_NAMES`."""

    timestamp: float
    link_type: int
    caplen: int
    length: int
    status: str
    protocol: int | None = None
    src: str | None = None
    dst: str | None = None
    sport: int | None = None
    dport: int | None = None
    tcp_flags: int | None = None


@dataclass(slots=True)
class CaptureStats:
    """What was read, and what had to be skipped."""

    format: str = ""
    packets: int = 0  # packet records read
    bytes: int = 0  # their original (wire) lengths
    in_flows: int = 0  # packets counted to a flow
    non_ip: int = 0  # ARP, LLDP, STP, ...
    fragments: int = 0  # later IP fragments whose first fragment was not seen
    undecodable: int = 0  # headers cut short by the snaplen, or malformed
    unsupported_link: int = 0  # link types this reader does not decode
    truncated_records: int = 0  # records or blocks cut off by the end of the file (not in ``packets``)
    skipped_blocks: int = 0  # pcapng blocks skipped: unknown types, malformed, unknown interface
    stop_reason: str = ""  # why reading stopped before the end of the file, if it did
    first_seen: float | None = None
    last_seen: float | None = None
    link_types: dict[int, int] = field(default_factory=dict)  # link type -> packets
    compression: str = ""  # "gzip", "zstd", "bzip2" or "xz" when the file was compressed


# ---------------------------------------------------------------------------------------------------------------
# Opening


def _describe(head: bytes) -> str:
    if head[:4] in (b"PK\x03\x04", b"7z\xbc\xaf"):
        return "an archive or compressed data in a format this reader does not open; extract it first"
    text = "".join(chr(b) if 32 <= b < 127 else "." for b in head[:16])
    return f"it starts with {head[:16].hex(' ')} ({text!r})"


def _open(path: str | os.PathLike[str]) -> tuple[mmap.mmap | bytes, str, str, str]:
    """The capture's bytes, its format, its compression ("" if none) and why decompression stopped early."""
    p = Path(path)
    if p.is_dir():
        raise DataError(f"{p} is a directory, not a pcap or pcapng capture")
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise DataError(f"{p} is empty, not a pcap or pcapng capture")
            try:
                buf: mmap.mmap | bytes = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # not mappable (a pipe, a special file): read it whole
                buf = f.read()
    except OSError as exc:
        raise DataError(f"cannot read capture {p}: {exc.strerror or exc}") from exc
    head = bytes(buf[:24])
    compression = compression_of(head) or ""
    note = ""
    if compression:
        if isinstance(buf, mmap.mmap):
            buf.close()
        buf, note = decompressed(p, compression)
        head = bytes(buf[:24])
    what = f"{p} ({compression}-compressed)" if compression else str(p)
    if len(head) >= 4:
        magic = _LE_I(head)[0]
        if magic in _PCAP_MAGIC:
            if len(buf) < 24:
                _close(buf)
                raise DataError(f"{what} is a truncated pcap file: its 24-byte header is cut short")
            return buf, "pcap", compression, note
        if magic == _PCAPNG_SHB:
            if len(buf) < 28:
                _close(buf)
                raise DataError(f"{what} is a truncated pcapng file: its section header is cut short")
            return buf, "pcapng", compression, note
    _close(buf)
    damage = f"; {note}" if note else ""
    raise DataError(f"{what} is not a pcap or pcapng capture: {_describe(head)}{damage}")


def _close(buf: mmap.mmap | bytes) -> None:
    if isinstance(buf, mmap.mmap):
        # A view may still be alive (an exception's traceback holds it); the mmap then closes with it.
        with contextlib.suppress(BufferError):
            buf.close()


def is_capture_file(path: str | os.PathLike[str]) -> bool:
    """True for a pcap or pcapng file, plain or compressed (by its first bytes, not its name)."""
    try:
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    compression = compression_of(head)
    if compression:
        head = decompressed_head(path, compression, 8)
    return is_capture_head(head)


def is_capture_head(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes, decompressed) starts a pcap or pcapng capture."""
    if len(head) < 4:
        return False
    magic = _LE_I(head)[0]
    return magic in _PCAP_MAGIC or magic == _PCAPNG_SHB


# ---------------------------------------------------------------------------------------------------------------
# Records: (timestamp, link type, offset, caplen, original length)

Record = tuple[float, int, int, int, int]


def _pcap_records(buf: mmap.mmap | bytes, stats: CaptureStats) -> Iterator[Record]:
    order, divisor, hsize = _PCAP_MAGIC[_LE_I(buf)[0]]
    header = struct.Struct(order + "IIII").unpack_from
    linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0xFFFF
    size = len(buf)
    off = 24
    while off < size:
        if off + hsize > size:
            stats.truncated_records += 1
            stats.stop_reason = f"record header at offset {off} cut off by the end of the file"
            return
        sec, frac, caplen, origlen = header(buf, off)
        off += hsize
        if caplen > size - off:
            stats.truncated_records += 1
            stats.stop_reason = f"record at offset {off - hsize} claims {caplen} bytes; only {size - off} remain"
            return
        yield sec + frac / divisor, linktype, off, caplen, origlen
        off += caplen


def _tsresol(value: int) -> float:
    if value & 0x80:
        return float(2 ** (value & 0x7F))
    return 10.0 ** min(value, 30)


def _pcapng_records(buf: mmap.mmap | bytes, stats: CaptureStats) -> Iterator[Record]:
    size = len(buf)
    off = 0
    order = "<"
    u32 = struct.Struct("<I").unpack_from
    # Interfaces of the current section: (link type, snaplen, units per second, offset seconds)
    ifaces: list[tuple[int, int, float, int]] = []
    last_ts = 0.0
    while off < size:
        if off + 12 > size:
            stats.truncated_records += 1
            stats.stop_reason = f"block header at offset {off} cut off by the end of the file"
            return
        btype = u32(buf, off)[0]
        if btype == _PCAPNG_SHB:
            bom = _LE_I(buf, off + 8)[0]
            if bom == _BYTE_ORDER_MAGIC:
                order = "<"
            elif bom == 0x4D3C2B1A:
                order = ">"
            else:
                stats.stop_reason = f"section header at offset {off} has no valid byte-order magic"
                return
            u32 = struct.Struct(order + "I").unpack_from
            ifaces = []
        blen = u32(buf, off + 4)[0]
        if blen < 12 or blen % 4:
            stats.skipped_blocks += 1
            stats.stop_reason = f"block at offset {off} has an impossible length {blen}"
            return
        if blen > size - off:
            stats.truncated_records += 1
            stats.stop_reason = f"block at offset {off} claims {blen} bytes; only {size - off} remain"
            return
        body = off + 8
        body_end = off + blen - 4
        nxt = off + blen
        if btype == 6 or btype == 2:  # enhanced / obsolete packet block
            if body_end - body < 20:
                stats.skipped_blocks += 1
                off = nxt
                continue
            if btype == 6:
                iface, hi, lo, caplen, origlen = struct.unpack_from(order + "IIIII", buf, body)
            else:
                iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(order + "HHIIII", buf, body)
            data = body + 20
            if iface >= len(ifaces) or caplen > body_end - data:
                stats.skipped_blocks += 1
                off = nxt
                continue
            linktype, _snap, units, tsoff = ifaces[iface]
            last_ts = ((hi << 32) | lo) / units + tsoff
            yield last_ts, linktype, data, caplen, origlen
        elif btype == 3:  # simple packet block: interface 0, no timestamp
            if body_end - body < 4 or not ifaces:
                stats.skipped_blocks += 1
                off = nxt
                continue
            origlen = u32(buf, body)[0]
            linktype, snap, _units, _tsoff = ifaces[0]
            caplen = min(origlen, body_end - body - 4)
            if snap:
                caplen = min(caplen, snap)
            yield last_ts, linktype, body + 4, caplen, origlen
        elif btype == 1:  # interface description block
            if body_end - body < 8:
                stats.skipped_blocks += 1
                ifaces.append((-1, 0, 1e6, 0))  # keep interface numbering; its packets go to unsupported_link
                off = nxt
                continue
            linktype, _reserved, snap = struct.unpack_from(order + "HHI", buf, body)
            units, tsoff = 1e6, 0
            opt = body + 8
            while opt + 4 <= body_end:
                code, olen = struct.unpack_from(order + "HH", buf, opt)
                if code == 0:
                    break
                val = opt + 4
                if val + olen > body_end:
                    break
                if code == 9 and olen >= 1:
                    units = _tsresol(buf[val])
                elif code == 14 and olen >= 8:
                    tsoff = struct.unpack_from(order + "q", buf, val)[0]
                opt = val + ((olen + 3) & ~3)
            ifaces.append((linktype, snap, units, tsoff))
        elif btype != _PCAPNG_SHB:
            stats.skipped_blocks += 1  # name resolution, statistics, custom, unknown ...
        off = nxt


def _records(buf: mmap.mmap | bytes, fmt: str, stats: CaptureStats) -> Iterator[Record]:
    return _pcap_records(buf, stats) if fmt == "pcap" else _pcapng_records(buf, stats)


# ---------------------------------------------------------------------------------------------------------------
# Decoding: returns (status, protocol, src, dst, sport, dport, tcp flags, fragment key, first fragment)

Decoded = tuple[int, int, bytes, bytes, int, int, int, tuple[bytes, bytes, int, int] | None, bool]
_NONIP: Decoded = (NON_IP, 0, b"", b"", -1, -1, -1, None, False)
_BAD: Decoded = (UNDECODABLE, 0, b"", b"", -1, -1, -1, None, False)
_UNSUP: Decoded = (UNSUPPORTED_LINK, 0, b"", b"", -1, -1, -1, None, False)


def _decode(buf: mmap.mmap | bytes, linktype: int, p: int, end: int) -> Decoded:
    # Link layer: find the ethertype (or IP version) and the network header's offset.
    if linktype == LINKTYPE_ETHERNET:
        if p + 14 > end:
            return _BAD
        et = _H(buf, p + 12)[0]
        p += 14
        while True:
            if et in _VLAN_TYPES:
                if p + 4 > end:
                    return _BAD
                et = _H(buf, p + 2)[0]
                p += 4
            elif et == 0x8903:  # Cisco FabricPath: 2 more bytes of tag, then the inner Ethernet header
                if p + 16 > end:
                    return _BAD
                et = _H(buf, p + 14)[0]
                p += 16
            elif et == 0x8864:  # PPPoE session: 6-byte header, then the PPP protocol
                if p + 8 > end:
                    return _BAD
                ppp = _H(buf, p + 6)[0]
                p += 8
                et = 0x0800 if ppp == 0x21 else 0x86DD if ppp == 0x57 else 0
            else:
                break
    elif linktype == LINKTYPE_LINUX_SLL:
        if p + 16 > end:
            return _BAD
        et = _H(buf, p + 14)[0]
        p += 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if p + 20 > end:
            return _BAD
        et = _H(buf, p)[0]
        p += 20
    elif linktype in _RAW_LINKS:
        if p >= end:
            return _BAD
        v = buf[p] >> 4
        et = 0x0800 if v == 4 else 0x86DD if v == 6 else 0
    elif linktype in _NULL_LINKS:
        if p + 4 > end:
            return _BAD
        af = _I(buf, p)[0] if linktype == LINKTYPE_LOOP else _LE_I(buf, p)[0]
        if af > 0xFFFF:  # written in the other byte order
            af = int.from_bytes(af.to_bytes(4, "little"), "big")
        p += 4
        et = 0x0800 if af == 2 else 0x86DD if af in _AF_INET6 else 0
    else:
        return _UNSUP

    frag_key: tuple[bytes, bytes, int, int] | None = None
    first_frag = False
    if et == 0x0800:
        if p + 20 > end:
            return _BAD
        vihl = buf[p]
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or p + ihl > end:
            return _BAD
        total = _H(buf, p + 2)[0]
        if total >= ihl:  # trust the IP length over trailing padding, but never beyond the capture
            end = min(end, p + total)
        proto = buf[p + 9]
        src = buf[p + 12 : p + 16]
        dst = buf[p + 16 : p + 20]
        frag = _H(buf, p + 6)[0]
        if frag & 0x3FFF:
            frag_key = (src, dst, _H(buf, p + 4)[0], proto)
            if frag & 0x1FFF:
                return (FRAGMENT, proto, src, dst, -1, -1, -1, frag_key, False)
            first_frag = True
        p += ihl
    elif et == 0x86DD:
        if p + 40 > end:
            return _BAD
        if buf[p] >> 4 != 6:
            return _BAD
        plen = _H(buf, p + 4)[0]
        if plen:
            end = min(end, p + 40 + plen)
        proto = buf[p + 6]
        src = buf[p + 8 : p + 24]
        dst = buf[p + 24 : p + 40]
        p += 40
        while True:
            if proto in _IPV6_EXT_8:
                if p + 8 > end:
                    return _BAD
                proto = buf[p]
                p += (buf[p + 1] + 1) * 8
            elif proto == 51:  # AH
                if p + 8 > end:
                    return _BAD
                proto = buf[p]
                p += (buf[p + 1] + 2) * 4
            elif proto == 44:  # fragment
                if p + 8 > end:
                    return _BAD
                nxt = buf[p]
                offm = _H(buf, p + 2)[0]
                frag_key = (src, dst, _I(buf, p + 4)[0], nxt)
                if offm & 0xFFF8:
                    return (FRAGMENT, nxt, src, dst, -1, -1, -1, frag_key, False)
                first_frag = bool(offm & 1)
                if not first_frag:
                    frag_key = None  # an atomic fragment: the whole packet
                proto = nxt
                p += 8
            else:
                break
    else:
        return _NONIP

    if proto in _PORT_PROTOCOLS:
        if proto == 6:
            if p + 14 > end:
                return _BAD
            sport, dport = _HH(buf, p)
            return (OK, 6, src, dst, sport, dport, buf[p + 13], frag_key, first_frag)
        if p + 4 > end:
            return _BAD
        sport, dport = _HH(buf, p)
        return (OK, proto, src, dst, sport, dport, -1, frag_key, first_frag)
    return (OK, proto, src, dst, -1, -1, -1, frag_key, first_frag)


# ---------------------------------------------------------------------------------------------------------------
# Public API


def _ntop(addr: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


def _port(port: int) -> int | None:
    return None if port < 0 else port


def iter_packets(path: str | os.PathLike[str], stats: CaptureStats | None = None) -> Generator[Packet, None, None]:
    """Yield every packet record of a capture, decoded; pass ``stats`` to have it filled in as you go.

    Raises :class:`DataError` at once (not at the first ``next``) when the file is not a capture.
    """
    buf, fmt, compression, note = _open(path)
    st = stats if stats is not None else CaptureStats()
    st.format = fmt
    st.compression = compression
    return _iter_packets(buf, fmt, st, note)


def _iter_packets(buf: mmap.mmap | bytes, fmt: str, st: CaptureStats, note: str) -> Generator[Packet, None, None]:
    try:
        for ts, linktype, off, caplen, origlen in _records(buf, fmt, st):
            _count(st, ts, linktype, origlen)
            d = _decode(buf, linktype, off, off + caplen)
            status = d[0]
            if status == OK:
                yield Packet(
                    ts,
                    linktype,
                    caplen,
                    origlen,
                    STATUS_NAMES[OK],
                    d[1],
                    _ntop(d[2]),
                    _ntop(d[3]),
                    _port(d[4]),
                    _port(d[5]),
                    None if d[6] < 0 else d[6],
                )
            elif status == FRAGMENT:
                yield Packet(ts, linktype, caplen, origlen, STATUS_NAMES[FRAGMENT], d[1], _ntop(d[2]), _ntop(d[3]))
            else:
                yield Packet(ts, linktype, caplen, origlen, STATUS_NAMES[status])
        _note(st, note)
    finally:
        _close(buf)


def _count(st: CaptureStats, ts: float, linktype: int, origlen: int) -> None:
    st.packets += 1
    st.bytes += origlen
    st.link_types[linktype] = st.link_types.get(linktype, 0) + 1
    if st.first_seen is None or ts < st.first_seen:
        st.first_seen = ts
    if st.last_seen is None or ts > st.last_seen:
        st.last_seen = ts


def _note(st: CaptureStats, note: str) -> None:
    if note:  # a damaged compressed stream: what came before the damage was read
        st.stop_reason = f"{note}; {st.stop_reason}" if st.stop_reason else note


def read_flows(path: str | os.PathLike[str]) -> tuple[list[Flow], CaptureStats]:
    """Read a whole capture into flows, in order of their first packet.

    Common packets (Ethernet, VLAN, Linux SLL, raw IP; IPv4 and IPv6 without fragments or extension headers) are
    decoded many at a time with numpy; every other packet goes through the per-packet decoder that
    :func:`read_flows_reference` uses, so both give identical flows and statistics.
    """
    from anyport.traffic.capture_fast import read_flows_fast

    buf, fmt, compression, note = _open(path)
    st = CaptureStats(format=fmt, compression=compression)
    try:
        flows = read_flows_fast(buf, fmt, st)
    finally:
        _close(buf)
    _note(st, note)
    return flows, st


def read_flows_reference(path: str | os.PathLike[str]) -> tuple[list[Flow], CaptureStats]:
    """:func:`read_flows` decoding one packet at a time in pure Python: the reference the fast path is checked against."""
    buf, fmt, compression, note = _open(path)
    st = CaptureStats(format=fmt, compression=compression)
    # key -> [packets, bytes, first, last, initiator is the low side, SYN side (0 none, 1 low, 2 high)]
    flows: dict[tuple[int, bytes, int, bytes, int], list[float]] = {}
    frags: dict[tuple[bytes, bytes, int, int], tuple[int, bytes, int, bytes, int]] = {}
    decode: Callable[[mmap.mmap | bytes, int, int, int], Decoded] = _decode
    links: dict[int, int] = {}
    counts = [0, 0, 0, 0, 0]
    nbytes = 0
    first_ts = float("inf")
    last_ts = float("-inf")
    try:
        for ts, linktype, off, caplen, origlen in _records(buf, fmt, st):
            nbytes += origlen
            if ts < first_ts:
                first_ts = ts
            if ts > last_ts:
                last_ts = ts
            links[linktype] = links.get(linktype, 0) + 1
            status, proto, src, dst, sport, dport, flags, fkey, first_frag = decode(buf, linktype, off, off + caplen)
            if status == FRAGMENT:
                key = frags.get(fkey)  # type: ignore[arg-type]
                if key is None:
                    counts[FRAGMENT] += 1
                    continue
                rec = flows[key]
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
            low = src < dst or (src == dst and sport <= dport)
            key = (proto, src, sport, dst, dport) if low else (proto, dst, dport, src, sport)
            rec = flows.get(key)  # type: ignore[assignment]
            if rec is None:
                flows[key] = rec = [1, origlen, ts, ts, low, 0]
            else:
                rec[0] += 1
                rec[1] += origlen
                if ts < rec[2]:
                    rec[2] = ts
                if ts > rec[3]:
                    rec[3] = ts
            if flags >= 0 and flags & 0x12 == 0x02 and not rec[5]:
                rec[5] = 1 if low else 2
            if first_frag and fkey is not None:
                if len(frags) >= _FRAGMENT_MEMORY:
                    del frags[next(iter(frags))]
                frags[fkey] = key
    finally:
        _close(buf)
    _note(st, note)
    st.packets = sum(counts)
    st.bytes = nbytes
    st.in_flows, st.non_ip, st.undecodable, st.unsupported_link, st.fragments = counts
    st.link_types = links
    if st.packets:
        st.first_seen, st.last_seen = first_ts, last_ts
    return [_flow(key, rec) for key, rec in flows.items()], st


def _flow(key: tuple[int, bytes, int, bytes, int], rec: list[float]) -> Flow:
    proto, a, ap, b, bp = key
    low_side = (_ntop(a), _port(ap))
    high_side = (_ntop(b), _port(bp))
    initiator = low_side if rec[4] else high_side
    syn = int(rec[5])
    if syn:
        client, responder = (low_side, high_side) if syn == 1 else (high_side, low_side)
    else:
        client = initiator
        responder = high_side if rec[4] else low_side
    return Flow(
        protocol=proto,
        client=client[0],
        client_port=client[1],
        responder=responder[0],
        responder_port=responder[1],
        initiator=initiator[0],
        initiator_port=initiator[1],
        syn_seen=bool(syn),
        packets=int(rec[0]),
        bytes=int(rec[1]),
        first_seen=rec[2],
        last_seen=rec[3],
    )
