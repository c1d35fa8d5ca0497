"""The pcap/pcapng reader: real Zeek traces (tests/data/pcap) and captures built here, byte by byte."""

from __future__ import annotations

import shutil
import socket
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.errors import DataError
from anyport.traffic import capture_fast
from anyport.traffic.annotate import capture_flows, is_capture
from anyport.traffic.capture import (
    CaptureStats,
    Decoded,
    Flow,
    is_capture_file,
    iter_packets,
    read_flows,
    read_flows_reference,
)
from anyport.traffic.readers import ReadStats

PCAPS = Path(__file__).resolve().parent / "data" / "pcap"
TRACES = ["ssh", "pop3", "wikipedia", "Teredo", "cisco-fabric-path", "modbus-and-non-modbus-p502"]

SYN, ACK, PSH = 0x02, 0x10, 0x08


# ---------------------------------------------------------------------------------------------------------------
# Packet and file writers


def tcp(sport: int, dport: int, flags: int = ACK, data: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 1024, 0, 0) + data


def udp(sport: int, dport: int, data: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def icmp() -> bytes:
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping"


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + len(options) + len(payload),
        ident,
        frag,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return header + options + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes) -> bytes:
    addrs = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + addrs + payload


def ext(nh: int, length8: int = 0) -> bytes:
    """An IPv6 hop-by-hop/routing/destination-options header of (length8 + 1) * 8 bytes."""
    return bytes([nh, length8]) + b"\x01\x04\x00\x00\x00\x00" + b"\x00" * (8 * length8)


def eth(payload: bytes, ethertype: int = 0x0800, vlans: tuple[tuple[int, int], ...] = ()) -> bytes:
    header = bytes.fromhex("001122334455 66778899aabb")
    for tpid, vid in vlans:
        header += struct.pack("!HH", tpid, vid)
    return header + struct.pack("!H", ethertype) + payload


def pcap(frames: list[bytes], linktype: int = 1, order: str = "<", nano: bool = False, snaplen: int = 65535) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for i, frame in enumerate(frames):
        captured = frame[:snaplen]
        out += struct.pack(order + "IIII", 1_700_000_000 + i, 500, len(captured), len(frame)) + captured
    return out


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", btype, total) + body + struct.pack(order + "I", total)


def shb(order: str = "<") -> bytes:
    return block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1), order)


def idb(linktype: int, snaplen: int = 0, tsresol: int | None = None, order: str = "<") -> bytes:
    opts = b""
    if tsresol is not None:
        opts += struct.pack(order + "HH", 9, 1) + bytes([tsresol, 0, 0, 0])
    opts += struct.pack(order + "HH", 2, 4) + b"eth0"  # if_name, ignored
    opts += struct.pack(order + "HH", 0, 0)
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts, order)


def epb(iface: int, ts: int, data: bytes, order: str = "<", origlen: int | None = None) -> bytes:
    length = len(data) if origlen is None else origlen
    return block(6, struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), length) + data, order)


def spb(data: bytes, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data)) + data, order)


def opb(iface: int, ts: int, data: bytes, order: str = "<") -> bytes:
    body = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data)) + data
    return block(2, body, order)


def write(tmp_path: Path, data: bytes, name: str = "t.cap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def consistent(flows: list[Flow], stats: CaptureStats) -> None:
    parts = stats.in_flows + stats.non_ip + stats.fragments + stats.undecodable + stats.unsupported_link
    assert stats.packets == parts
    assert sum(f.packets for f in flows) == stats.in_flows
    assert sum(stats.link_types.values()) == stats.packets
    for f in flows:
        assert f.packets >= 1
        assert f.first_seen <= f.last_seen
        assert {(f.client, f.client_port), (f.responder, f.responder_port)} >= {(f.initiator, f.initiator_port)}


def by_ports(flows: list[Flow]) -> dict[tuple[int | None, int | None], Flow]:
    return {(f.client_port, f.responder_port): f for f in flows}


# ---------------------------------------------------------------------------------------------------------------
# Real traces (facts cross-checked with dpkt; see tests/data/pcap/PROVENANCE.md)


@pytest.mark.parametrize("name", TRACES)
def test_real_traces_are_consistent(name: str) -> None:
    flows, stats = read_flows(PCAPS / f"{name}.pcap")
    assert stats.format == "pcap"
    assert stats.truncated_records == stats.skipped_blocks == stats.undecodable == 0
    assert stats.stop_reason == ""
    consistent(flows, stats)
    assert len(list(iter_packets(PCAPS / f"{name}.pcap"))) == stats.packets


def test_ssh_trace() -> None:
    flows, stats = read_flows(PCAPS / "ssh.pcap")
    assert (stats.packets, len(flows), stats.in_flows) == (1797, 25, 1797)
    assert stats.bytes == sum(f.bytes for f in flows)
    first = flows[0]
    assert (first.protocol_name, first.client, first.client_port) == ("tcp", "192.168.1.79", 51880)
    assert (first.responder, first.responder_port, first.syn_seen) == ("131.159.21.1", 22, True)
    assert (first.packets, first.bytes) == (45, 8160)
    assert sum(f.responder_port == 22 for f in flows) >= 20
    assert sum(f.protocol_name == "udp" for f in flows) == 2
    # one TCP flow starts mid-stream: no SYN, so the first packet's sender is the client
    (midstream,) = [f for f in flows if f.protocol == 6 and not f.syn_seen]
    assert (midstream.client, midstream.client_port, midstream.responder_port) == ("192.168.1.31", 51476, 8118)
    assert (midstream.initiator, midstream.initiator_port) == ("192.168.1.31", 51476)


def test_pop3_trace() -> None:
    flows, stats = read_flows(PCAPS / "pop3.pcap")
    assert (stats.packets, len(flows)) == (125, 7)
    assert {f.client for f in flows} == {"192.168.0.4"}
    assert {f.responder_port for f in flows} == {110}


def test_wikipedia_trace_has_ipv6_and_non_ip() -> None:
    flows, stats = read_flows(PCAPS / "wikipedia.pcap")
    assert (stats.packets, stats.non_ip, stats.in_flows, len(flows)) == (136, 10, 126, 34)
    mdns6 = [f for f in flows if f.responder == "ff02::fb"]
    assert mdns6
    assert mdns6[0].protocol_name == "udp"
    assert mdns6[0].responder_port == 5353
    http = [f for f in flows if f.responder_port == 80 and f.syn_seen]
    assert http
    assert all(f.client == "141.142.220.118" for f in http)


def test_teredo_trace() -> None:
    flows, stats = read_flows(PCAPS / "Teredo.pcap")
    assert (stats.packets, len(flows)) == (78, 11)
    assert any(f.protocol_name == "udp" and f.responder_port == 3544 for f in flows)


def test_cisco_fabric_path_trace() -> None:
    flows, stats = read_flows(PCAPS / "cisco-fabric-path.pcap")
    # 64 plain frames and the same 64 frames in FabricPath encapsulation, plus 2 non-IP frames.
    assert (stats.packets, stats.in_flows, stats.non_ip, len(flows)) == (130, 128, 2, 64)
    assert {f.protocol_name for f in flows} >= {"tcp", "udp", "sctp"}
    assert any(f.client_port is None and f.protocol == 99 for f in flows)


def test_modbus_trace() -> None:
    flows, stats = read_flows(PCAPS / "modbus-and-non-modbus-p502.pcap")
    assert (stats.packets, len(flows)) == (86, 7)
    assert {f.responder_port for f in flows} == {502}
    assert all(f.syn_seen for f in flows)


def test_iter_packets_fields() -> None:
    packets = iter_packets(PCAPS / "ssh.pcap")
    first = next(packets)
    assert (first.status, first.protocol, first.src, first.dst) == ("ok", 6, "192.168.1.79", "131.159.21.1")
    assert (first.sport, first.dport, first.tcp_flags) == (51880, 22, SYN)
    assert first.link_type == 1
    packets.close()


def test_iter_packets_fills_stats() -> None:
    stats = CaptureStats()
    n = sum(1 for _ in iter_packets(PCAPS / "wikipedia.pcap", stats))
    assert n == stats.packets == 136
    assert stats.link_types == {1: 136}


# ---------------------------------------------------------------------------------------------------------------
# pcap variants


A, B = "10.0.0.1", "10.0.0.2"


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    frames = [eth(ipv4(A, B, 6, tcp(40000, 443, SYN))), eth(ipv4(B, A, 6, tcp(443, 40000, SYN | ACK)))]
    flows, stats = read_flows(write(tmp_path, pcap(frames, order=order, nano=nano)))
    assert stats.packets == 2
    assert len(flows) == 1
    assert flows[0].first_seen == pytest.approx(1_700_000_000 + (500e-9 if nano else 500e-6))
    assert (flows[0].client, flows[0].client_port, flows[0].responder_port) == (A, 40000, 443)


def test_syn_decides_client_over_first_packet(tmp_path: Path) -> None:
    frames = [
        eth(ipv4(B, A, 6, tcp(443, 40000, ACK | PSH))),  # mid-stream data from the server comes first
        eth(ipv4(A, B, 6, tcp(40000, 443, SYN))),
        eth(ipv4(B, A, 6, tcp(443, 40000, SYN | ACK))),
    ]
    (flow,), _ = read_flows(write(tmp_path, pcap(frames)))
    assert (flow.initiator, flow.initiator_port) == (B, 443)
    assert (flow.client, flow.client_port, flow.responder, flow.service_port) == (A, 40000, B, 443)
    assert flow.syn_seen
    assert flow.packets == 3


def test_without_syn_first_sender_is_client(tmp_path: Path) -> None:
    frames = [eth(ipv4(B, A, 17, udp(5353, 53))), eth(ipv4(A, B, 17, udp(53, 5353)))]
    (flow,), _ = read_flows(write(tmp_path, pcap(frames)))
    assert (flow.client, flow.client_port, flow.responder, flow.responder_port) == (B, 5353, A, 53)
    assert not flow.syn_seen


def test_icmp_and_other_protocols_have_no_ports(tmp_path: Path) -> None:
    frames = [eth(ipv4(A, B, 1, icmp())), eth(ipv4(B, A, 1, icmp())), eth(ipv4(A, B, 47, b"\x00" * 8))]
    flows, _ = read_flows(write(tmp_path, pcap(frames)))
    assert [(f.protocol_name, f.client_port, f.responder_port, f.packets) for f in flows] == [
        ("icmp", None, None, 2),
        ("gre", None, None, 1),
    ]


def test_ipv4_options_and_sctp(tmp_path: Path) -> None:
    frames = [eth(ipv4(A, B, 132, struct.pack("!HHI", 5000, 3868, 0), options=b"\x01\x01\x01\x00"))]
    (flow,), _ = read_flows(write(tmp_path, pcap(frames)))
    assert (flow.protocol_name, flow.client_port, flow.responder_port) == ("sctp", 5000, 3868)


def test_ipv4_fragments(tmp_path: Path) -> None:
    payload = udp(1234, 53, b"x" * 40)
    frames = [
        eth(ipv4(A, B, 17, payload[:24], ident=7, frag=0x2000)),  # first fragment, more to come
        eth(ipv4(A, B, 17, payload[24:], ident=7, frag=3)),  # offset 24 bytes: belongs to the flow above
        eth(ipv4(A, B, 17, b"y" * 16, ident=99, frag=5)),  # its first fragment was never seen
    ]
    flows, stats = read_flows(write(tmp_path, pcap(frames)))
    assert [(f.client_port, f.responder_port, f.packets) for f in flows] == [(1234, 53, 2)]
    assert (stats.in_flows, stats.fragments) == (2, 1)
    assert [p.status for p in iter_packets(tmp_path / "t.cap")] == ["ok", "fragment", "fragment"]


def test_ipv6_extension_headers_and_fragment(tmp_path: Path) -> None:
    c, s = "2001:db8::1", "2001:db8::2"
    frag_first = bytes([6, 0]) + struct.pack("!HI", 1, 42)  # offset 0, more fragments
    frag_later = bytes([6, 0]) + struct.pack("!HI", 3 << 3, 42)
    # hop-by-hop -> destination options -> routing (16 bytes) -> fragment -> TCP
    chain = ext(60) + ext(43) + ext(44, 1) + frag_first
    frames = [
        eth(ipv6(c, s, 0, chain + tcp(50000, 22, SYN)), 0x86DD),
        eth(ipv6(c, s, 44, frag_later + b"z" * 24), 0x86DD),
        eth(ipv6(s, c, 6, tcp(22, 50000, SYN | ACK)), 0x86DD),
        eth(ipv6(c, s, 58, struct.pack("!BBH", 128, 0, 0)), 0x86DD),
    ]
    flows, stats = read_flows(write(tmp_path, pcap(frames)))
    tcp_flow, icmp6 = flows
    assert (tcp_flow.client, tcp_flow.client_port, tcp_flow.responder, tcp_flow.responder_port) == (c, 50000, s, 22)
    assert tcp_flow.packets == 3
    assert (icmp6.protocol_name, icmp6.client_port) == ("icmpv6", None)
    assert stats.fragments == 0


def test_ipv6_routing_header_is_skipped(tmp_path: Path) -> None:
    frames = [eth(ipv6("::1", "::2", 43, ext(17, 1) + udp(1000, 2000)), 0x86DD)]
    (flow,), _ = read_flows(write(tmp_path, pcap(frames)))
    assert (flow.protocol_name, flow.client_port, flow.responder_port) == ("udp", 1000, 2000)


def test_vlan_tags(tmp_path: Path) -> None:
    frames = [
        eth(ipv4(A, B, 6, tcp(1, 2, SYN)), vlans=((0x8100, 10),)),
        eth(ipv4(A, B, 6, tcp(3, 4, SYN)), vlans=((0x88A8, 10), (0x8100, 20))),
        eth(b"\x00" * 28, ethertype=0x0806),  # ARP
    ]
    flows, stats = read_flows(write(tmp_path, pcap(frames)))
    assert set(by_ports(flows)) == {(1, 2), (3, 4)}
    assert stats.non_ip == 1


def test_snaplen_zero_and_short_snaplen(tmp_path: Path) -> None:
    frames = [eth(ipv4(A, B, 6, tcp(1, 2, SYN)))] * 3
    flows, stats = read_flows(write(tmp_path, pcap(frames, snaplen=0)))
    assert (flows, stats.packets, stats.undecodable) == ([], 3, 3)
    assert stats.bytes == 3 * len(frames[0])
    flows, stats = read_flows(write(tmp_path, pcap(frames, snaplen=40)))  # IP header but not the TCP flags
    assert (flows, stats.undecodable) == ([], 3)


def test_record_claiming_4_gb(tmp_path: Path) -> None:
    good = pcap([eth(ipv4(A, B, 17, udp(1, 2)))])
    bad = good + struct.pack("<IIII", 1, 2, 0xFFFFFFFF, 0xFFFFFFFF) + b"\x00" * 64
    flows, stats = read_flows(write(tmp_path, bad))
    assert (len(flows), stats.packets, stats.truncated_records) == (1, 1, 1)
    assert "4294967295" in stats.stop_reason


def test_unsupported_link_type(tmp_path: Path) -> None:
    flows, stats = read_flows(write(tmp_path, pcap([b"\x00" * 30], linktype=147)))
    assert (flows, stats.unsupported_link, stats.link_types) == ([], 1, {147: 1})


# ---------------------------------------------------------------------------------------------------------------
# pcapng


def ip4_udp(sport: int) -> bytes:
    return ipv4(A, B, 17, udp(sport, 53))


def ip6_udp(sport: int) -> bytes:
    return ipv6("fe80::1", "fe80::2", 17, udp(sport, 53))


LINK_FRAMES: list[tuple[int, bytes]] = [
    (1, eth(ip4_udp(1001))),
    (1, eth(ip6_udp(1002), 0x86DD, vlans=((0x88A8, 1), (0x8100, 2)))),
    (113, struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + ip4_udp(1003)),
    (276, struct.pack("!HHIHBB8s", 0x86DD, 0, 1, 1, 0, 6, b"\x00" * 8) + ip6_udp(1004)),
    (101, ip4_udp(1005)),
    (101, ip6_udp(1006)),
    (12, ip4_udp(1007)),
    (228, ip4_udp(1008)),
    (229, ip6_udp(1009)),
    (0, struct.pack("<I", 2) + ip4_udp(1010)),  # DLT_NULL, little-endian host
    (0, struct.pack(">I", 30) + ip6_udp(1011)),  # DLT_NULL, big-endian host, macOS AF_INET6
    (108, struct.pack(">I", 2) + ip4_udp(1012)),  # DLT_LOOP: network byte order
    (108, struct.pack(">I", 24) + ip6_udp(1013)),
]


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_every_link_type(tmp_path: Path, order: str) -> None:
    data = shb(order)
    for linktype, _frame in LINK_FRAMES:
        data += idb(linktype, order=order)
    for i, (_linktype, frame) in enumerate(LINK_FRAMES):
        data += epb(i, 1_700_000_000_000_000 + i, frame, order)
    flows, stats = read_flows(write(tmp_path, data))
    assert stats.format == "pcapng"
    assert stats.stop_reason == ""
    assert sorted(f.client_port or 0 for f in flows) == list(range(1001, 1014))
    assert all(f.responder_port == 53 for f in flows)
    consistent(flows, stats)
    assert stats.link_types == {1: 2, 113: 1, 276: 1, 101: 2, 12: 1, 228: 1, 229: 1, 0: 2, 108: 2}


def test_pcapng_block_types_and_resolutions(tmp_path: Path) -> None:
    data = (
        shb()
        + idb(1)  # microseconds (default)
        + idb(1, tsresol=9)  # nanoseconds
        + idb(1, tsresol=0x80 | 10)  # 2^-10 seconds
        + block(4, b"\x00\x00\x00\x00")  # name resolution block: skipped
        + block(0x0BADF00D, b"custom data")  # unknown: skipped
        + epb(0, 1_500_000_000_250_000, eth(ip4_udp(1)))
        + epb(1, 1_500_000_000_000_000_001, eth(ip4_udp(2)))
        + epb(2, 1024 * 1_600_000_000 + 512, eth(ip4_udp(3)))
        + spb(eth(ip4_udp(4)))  # interface 0, no timestamp
        + opb(0, 1_500_000_001_000_000, eth(ip4_udp(5)))
        + block(5, b"\x00" * 8)  # interface statistics: skipped
        + epb(7, 0, eth(ip4_udp(6)))  # no interface 7: skipped
    )
    stats = CaptureStats()
    packets = list(iter_packets(write(tmp_path, data), stats))
    assert [p.sport for p in packets] == [1, 2, 3, 4, 5]
    assert packets[0].timestamp == pytest.approx(1_500_000_000.25)
    assert packets[1].timestamp == pytest.approx(1_500_000_000.000000001)
    assert packets[2].timestamp == pytest.approx(1_600_000_000.5)
    assert packets[3].timestamp == packets[2].timestamp  # an SPB takes the last timestamp seen
    assert packets[4].timestamp == pytest.approx(1_500_000_001.0)
    assert stats.skipped_blocks == 4
    flows, stats2 = read_flows(tmp_path / "t.cap")
    assert len(flows) == 5
    consistent(flows, stats2)


def test_pcapng_snaplen_and_new_section(tmp_path: Path) -> None:
    frame = eth(ip4_udp(7))
    data = shb() + idb(1, snaplen=20) + spb(frame)  # SPB is cut to the interface snaplen: no UDP header
    data += shb(">") + idb(101, order=">") + epb(0, 5, ip4_udp(8), ">")  # a new section, its own interfaces
    flows, stats = read_flows(write(tmp_path, data))
    assert [f.client_port for f in flows] == [8]
    assert (stats.undecodable, stats.link_types) == (1, {1: 1, 101: 1})


# ---------------------------------------------------------------------------------------------------------------
# Not a capture


def test_not_a_capture(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not a pcap or pcapng capture: it starts with 3c 21 44 4f"):
        read_flows(write(tmp_path, b"<!DOCTYPE html><html></html>"))
    with pytest.raises(DataError, match="gzip"):
        read_flows(write(tmp_path, b"\x1f\x8b\x08\x00" + b"\x00" * 40))
    with pytest.raises(DataError, match="empty"):
        read_flows(write(tmp_path, b""))
    with pytest.raises(DataError, match="directory"):
        read_flows(tmp_path)
    with pytest.raises(DataError, match="cannot read"):
        read_flows(tmp_path / "missing.pcap")
    with pytest.raises(DataError, match="truncated pcap"):
        read_flows(write(tmp_path, pcap([])[:10]))
    with pytest.raises(DataError, match="not a pcap"):
        iter_packets(write(tmp_path, b"hello world, this is text"))


def test_header_only_capture_is_empty(tmp_path: Path) -> None:
    flows, stats = read_flows(write(tmp_path, pcap([])))
    assert (flows, stats.packets, stats.first_seen) == ([], 0, None)


# ---------------------------------------------------------------------------------------------------------------
# Damage: truncation at every offset, random byte flips


def sample_pcap() -> bytes:
    return pcap(
        [
            eth(ipv4(A, B, 6, tcp(40000, 443, SYN))),
            eth(ipv4(B, A, 6, tcp(443, 40000, SYN | ACK))),
            eth(ipv4(A, B, 17, udp(1, 2, b"abc")[:6], ident=5, frag=0x2000)),
            eth(ipv4(A, B, 17, b"xyz", ident=5, frag=1)),
            eth(ipv6("::1", "::2", 0, ext(58) + icmp()), 0x86DD),
            eth(b"\x00" * 28, 0x0806),
        ]
    )


def sample_pcapng() -> bytes:
    return (
        shb()
        + idb(1, tsresol=9)
        + idb(113)
        + block(4, b"\x00" * 4)
        + epb(0, 10**18, eth(ipv4(A, B, 6, tcp(40000, 443, SYN))))
        + epb(1, 10**6, struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, 0x0800) + ip4_udp(9))
        + spb(eth(ip6_udp(10)))
        + opb(0, 10**18 + 1, eth(ipv4(B, A, 6, tcp(443, 40000, SYN | ACK))))
    )


def check_damaged(path: Path, data: bytes) -> CaptureStats | None:
    path.write_bytes(data)
    try:
        flows, stats = read_flows(path)
    except DataError:
        with pytest.raises(DataError):
            read_flows_reference(path)
        return None
    consistent(flows, stats)
    assert (flows, stats) == read_flows_reference(path)
    packets = list(iter_packets(path))
    assert len(packets) == stats.packets
    return stats


def record_boundaries(data: bytes) -> set[int]:
    """Offsets where a little-endian pcap record or pcapng block ends (and the file header, for pcap)."""
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        off, ends = 0, set()
        while off < len(data):
            off += struct.unpack_from("<I", data, off + 4)[0]
            ends.add(off)
        return ends
    off, ends = 24, {24}
    while off < len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        ends.add(off)
    return ends


@pytest.mark.parametrize("make", [sample_pcap, sample_pcapng])
def test_truncation_at_every_offset(tmp_path: Path, make: object) -> None:
    assert callable(make)
    data: bytes = make()
    full = check_damaged(tmp_path / "full", data)
    assert full is not None
    assert full.stop_reason == ""
    boundaries = record_boundaries(data)
    previous = 0
    for cut in range(len(data)):
        stats = check_damaged(tmp_path / "cut", data[:cut])
        if stats is None:
            assert cut < 28  # only a missing file header is an error
            continue
        assert previous <= stats.packets <= full.packets
        previous = stats.packets
        if cut in boundaries:
            assert (stats.truncated_records, stats.stop_reason) == (0, "")
        else:
            assert stats.truncated_records == 1
            assert stats.stop_reason


def test_real_trace_truncation(tmp_path: Path) -> None:
    data = (PCAPS / "modbus-and-non-modbus-p502.pcap").read_bytes()
    for cut in range(24, len(data), 97):
        stats = check_damaged(tmp_path / "cut", data[:cut])
        assert stats is not None
        assert stats.packets <= 86


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.sampled_from(["pcap", "pcapng"]),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
)
def test_random_byte_flips(tmp_path: Path, which: str, flips: list[tuple[int, int]]) -> None:
    data = bytearray(sample_pcap() if which == "pcap" else sample_pcapng())
    for pos, value in flips:
        data[pos % len(data)] = value
    check_damaged(tmp_path / "flipped", bytes(data))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=200), header=st.sampled_from([b"", pcap([]), shb() + idb(1)]))
def test_garbage_after_header(tmp_path: Path, garbage: bytes, header: bytes) -> None:
    check_damaged(tmp_path / "garbage", header + garbage)


# ---------------------------------------------------------------------------------------------------------------
# The numpy path gives exactly what the per-packet reference decoder gives


def to_pcapng(data: bytes) -> bytes:
    """A little-endian microsecond pcap file rewritten as pcapng (one interface, EPBs), records unchanged."""
    linktype = struct.unpack_from("<I", data, 20)[0]
    out = shb() + idb(linktype, tsresol=6)
    off = 24
    while off < len(data):
        sec, usec, caplen, origlen = struct.unpack_from("<IIII", data, off)
        out += epb(0, sec * 1_000_000 + usec, data[off + 16 : off + 16 + caplen], origlen=origlen)
        off += 16 + caplen
    return out


def same_as_reference(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Flow], CaptureStats]:
    """read_flows equals read_flows_reference, also when every few records make a chunk of their own."""
    result = read_flows(path)
    assert result == read_flows_reference(path)
    with monkeypatch.context() as patch:
        patch.setattr(capture_fast, "CHUNK", 3)
        assert read_flows(path) == result
    return result


@pytest.mark.parametrize("name", TRACES)
def test_fast_path_equals_reference_on_real_traces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    path = PCAPS / f"{name}.pcap"
    flows, stats = same_as_reference(path, monkeypatch)
    assert flows
    assert stats.in_flows
    pcapng_flows, _ = same_as_reference(write(tmp_path, to_pcapng(path.read_bytes())), monkeypatch)
    assert [(f.client, f.client_port, f.responder_port, f.packets, f.bytes) for f in pcapng_flows] == [
        (f.client, f.client_port, f.responder_port, f.packets, f.bytes) for f in flows
    ]


def test_common_packets_never_reach_the_per_packet_decoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    decode = capture_fast._decode

    def counting(buf: bytes, linktype: int, start: int, end: int) -> Decoded:
        calls.append(start)
        return decode(buf, linktype, start, end)

    monkeypatch.setattr(capture_fast, "_decode", counting)
    frames = [
        eth(ipv4(A, B, 6, tcp(40000, 443, SYN))),
        eth(ipv4(B, A, 6, tcp(443, 40000, SYN | ACK)), vlans=((0x8100, 5),)),
        eth(ipv6("2001:db8::1", "2001:db8::2", 17, udp(5353, 53)), 0x86DD, vlans=((0x88A8, 1), (0x8100, 2))),
        eth(ipv4(A, B, 1, icmp(), options=b"\x01" * 4)),
        eth(b"\x00" * 28, 0x0806),
    ]
    flows, stats = read_flows(write(tmp_path, pcap(frames)))
    assert (len(flows), stats.in_flows, stats.non_ip, calls) == (3, 4, 1, [])
    frames.append(eth(ipv4(A, B, 17, b"xyz", ident=5, frag=1)))  # a later fragment: the per-packet decoder
    read_flows(write(tmp_path, pcap(frames)))
    assert len(calls) == 1


def test_ip_length_shorter_than_the_transport_header_is_undecodable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short4 = ipv4(A, B, 6, tcp(1, 2, SYN) + b"padding")
    short4 = short4[:2] + struct.pack("!H", 24) + short4[4:]  # 4 bytes of TCP by the IP length; the rest is padding
    short6 = ipv6("::1", "::2", 17, udp(3, 4))
    short6 = short6[:4] + struct.pack("!H", 3) + short6[6:]
    zero6 = ipv6("::1", "::2", 17, udp(5, 6))
    zero6 = zero6[:4] + struct.pack("!H", 0) + zero6[6:]  # 0: the capture's length decides (jumbograms)
    frames = [eth(short4), eth(short6, 0x86DD), eth(zero6, 0x86DD)]
    flows, stats = same_as_reference(write(tmp_path, pcap(frames)), monkeypatch)
    assert (stats.undecodable, [f.client_port for f in flows]) == (2, [5])


def test_simple_packet_block_takes_the_previous_packets_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (
        shb()
        + idb(1)
        + epb(0, 5_000_000, eth(ip4_udp(1)))
        + opb(0, 9_000_000, eth(ip4_udp(2)))
        + epb(0, 7_000_000, eth(ip4_udp(3)))
        + epb(5, 1_000_000, eth(ip4_udp(4)))  # no interface 5: skipped, so its time is not the previous one
        + spb(eth(ip4_udp(5)))
    )
    flows, _ = same_as_reference(write(tmp_path, data), monkeypatch)
    assert [(f.client_port, f.first_seen) for f in flows] == [(1, 5.0), (2, 9.0), (3, 7.0), (5, 7.0)]


ADDRS4 = ["192.0.2.1", "192.0.2.2", "198.51.100.7"]
ADDRS6 = ["2001:db8::1", "2001:db8::2", "fe80::1"]
PORTS = [53, 443, 40000, 40001]


@st.composite
def ip_packets(draw: st.DrawFn) -> bytes:
    """An IPv4 or IPv6 packet over a few addresses and ports, with fragments, options and extension headers."""
    proto = draw(st.sampled_from([6, 17, 1, 132, 33, 136, 47, 58]))
    sport, dport = draw(st.sampled_from(PORTS)), draw(st.sampled_from(PORTS))
    if proto == 6:
        payload = tcp(sport, dport, draw(st.sampled_from([SYN, SYN | ACK, ACK, PSH | ACK, 0])))
    elif proto in (17, 132, 33, 136):
        payload = udp(sport, dport, b"data")
    else:
        payload = icmp()
    if draw(st.booleans()):
        src, dst = draw(st.sampled_from(ADDRS4)), draw(st.sampled_from(ADDRS4))
        frag = draw(st.sampled_from([0, 0, 0x4000, 0x2000, 0x2001, 0x0003]))
        options = draw(st.sampled_from([b"", b"", b"\x01" * 4, b"\x01" * 40]))
        packet = ipv4(src, dst, proto, payload, ident=draw(st.integers(1, 2)), frag=frag, options=options)
        if draw(st.integers(0, 2)) == 0:  # a total length that lies (too short, zero, too long)
            packet = packet[:2] + struct.pack("!H", draw(st.sampled_from([0, 19, 24, 30, 40, 9000]))) + packet[4:]
        return packet
    src, dst = draw(st.sampled_from(ADDRS6)), draw(st.sampled_from(ADDRS6))
    chain = draw(st.lists(st.sampled_from([0, 60, 43, 44, 51]), max_size=2))
    nh, body = proto, payload
    for header in reversed(chain):
        if header == 44:
            body = struct.pack("!BBHI", nh, 0, draw(st.sampled_from([0, 1, 8])), draw(st.integers(1, 2))) + body
        elif header == 51:
            body = bytes([nh, 1]) + b"\x00" * 6 + body
        else:
            body = ext(nh) + body
        nh = header
    packet = ipv6(src, dst, nh, body)
    if draw(st.integers(0, 3)) == 0:  # a payload length that lies
        packet = packet[:4] + struct.pack("!H", draw(st.sampled_from([0, 3, 10, 9000]))) + packet[6:]
    return packet


@st.composite
def frames_for(draw: st.DrawFn, linktype: int) -> bytes:
    """A frame of ``linktype`` around an IP packet (or something else), possibly cut short."""
    packet = draw(ip_packets())
    v6 = packet[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        wrap = draw(st.sampled_from(["plain", "plain", "vlan", "fabricpath", "pppoe", "arp"]))
        if wrap == "vlan":
            tags = draw(st.lists(st.sampled_from([0x8100, 0x88A8, 0x9100]), min_size=1, max_size=3))
            frame = eth(packet, ethertype, vlans=tuple((t, 7) for t in tags))
        elif wrap == "fabricpath":
            frame = eth(b"\x00" * 14 + eth(packet, ethertype), 0x8903)
        elif wrap == "pppoe":
            frame = eth(struct.pack("!BBHHH", 0x11, 0, 1, len(packet) + 2, 0x57 if v6 else 0x21) + packet, 0x8864)
        elif wrap == "arp":
            frame = eth(b"\x00" * 28, 0x0806)
        else:
            frame = eth(packet, ethertype)
    elif linktype == 113:
        frame = struct.pack("!HHH8sH", 0, 1, 6, b"\x00" * 8, draw(st.sampled_from([ethertype, 0x0806]))) + packet
    elif linktype == 276:
        frame = struct.pack("!HHIHBB8s", ethertype, 0, 1, 1, 0, 6, b"\x00" * 8) + packet
    elif linktype == 0:
        frame = struct.pack("<I", 30 if v6 else 2) + packet
    elif linktype == 108:
        frame = struct.pack(">I", 24 if v6 else 2) + packet
    else:  # raw IP, or a link type nobody decodes
        frame = packet
    if draw(st.integers(0, 4)) == 0:
        frame = frame[: draw(st.integers(0, len(frame)))]
    return frame


LINKTYPES = [1, 1, 113, 276, 101, 0, 108, 147]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    container=st.sampled_from(["pcap", "pcap", "pcapng"]),
    order=st.sampled_from("<>"),
    magic=st.sampled_from([0xA1B2C3D4, 0xA1B23C4D, 0xA1B2CD34]),  # micro-, nanosecond, modified (24-byte headers)
    linktype=st.sampled_from(LINKTYPES),
)
def test_fast_path_equals_reference_on_generated_captures(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: st.DataObject,
    container: str,
    order: str,
    magic: int,
    linktype: int,
) -> None:
    count = data.draw(st.integers(0, 12))
    times = data.draw(st.lists(st.integers(0, 5), min_size=count, max_size=count))  # not always in order
    if container == "pcap":
        frames = [data.draw(frames_for(linktype)) for _ in range(count)]
        out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
        extra = b"\x00" * 8 if magic == 0xA1B2CD34 else b""
        for ts, frame in zip(times, frames, strict=True):
            head = struct.pack(order + "IIII", 1_700_000_000 + ts, 999_999 * ts, len(frame), len(frame) + ts)
            out += head + extra + frame
        expected = count
    else:
        out, expected = pcapng_blocks(data, order, times)
    flows, stats = same_as_reference(write(tmp_path, out), monkeypatch)
    consistent(flows, stats)
    assert stats.packets == expected


def pcapng_blocks(data: st.DataObject, order: str, times: list[int]) -> tuple[bytes, int]:
    """A pcapng file of mostly EPBs and every other kind of block between them; and its number of packets."""
    links = data.draw(st.lists(st.sampled_from(LINKTYPES), min_size=1, max_size=3))

    def interface(linktype: int) -> bytes:
        snaplen = data.draw(st.sampled_from([0, 0, 30, 65535]))
        return idb(linktype, snaplen, data.draw(st.sampled_from([None, 9, 0x80 | 10])), order)

    out = shb(order) + b"".join(interface(lt) for lt in links)
    packets = 0
    for ts in times:
        kind = data.draw(st.sampled_from(["epb"] * 6 + ["spb", "opb", "no-iface", "short", "nrb", "section", "idb"]))
        iface = data.draw(st.integers(0, len(links) - 1))
        frame = data.draw(frames_for(links[iface]))
        stamp = 1_700_000_000_000_000 + ts
        if kind == "epb":
            out += epb(iface, stamp, frame, order, origlen=len(frame) + ts)
        elif kind == "spb":
            out += spb(data.draw(frames_for(links[0])), order)
        elif kind == "opb":
            out += opb(iface, stamp, frame, order)
        elif kind == "no-iface":  # an interface that does not exist: skipped
            out += epb(len(links) + 1, stamp, frame, order)
        elif kind == "short":  # an EPB too short for its fields: skipped
            out += block(6, b"\x00" * 12, order)
        elif kind == "nrb":
            out += block(4, b"\x00" * 4, order)
        elif kind == "section":  # a new section, maybe in the other byte order, with its own interfaces
            order = data.draw(st.sampled_from("<>"))
            links = data.draw(st.lists(st.sampled_from(LINKTYPES), min_size=1, max_size=2))
            out += shb(order) + b"".join(interface(lt) for lt in links)
            continue
        else:
            links.append(data.draw(st.sampled_from(LINKTYPES)))
            out += interface(links[-1])
            continue
        packets += kind in ("epb", "spb", "opb")
    return out, packets


# ---------------------------------------------------------------------------------------------------------------
# Compressed captures


def compress(kind: str, data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma

    import zstandard

    if kind == "gzip":
        return gzip.compress(data)
    if kind == "zstd":  # two frames, as a multi-threaded or appending writer makes
        half = len(data) // 2
        zstd = zstandard.ZstdCompressor(write_checksum=True)
        return zstd.compress(data[:half]) + zstd.compress(data[half:])
    if kind == "bzip2":
        return bz2.compress(data)
    return lzma.compress(data)


@pytest.mark.parametrize("kind", ["gzip", "zstd", "bzip2", "xz"])
def test_compressed_capture_reads_like_the_plain_one(tmp_path: Path, kind: str) -> None:
    plain = PCAPS / "ssh.pcap"
    path = write(tmp_path, compress(kind, plain.read_bytes()), "capture")  # no telling suffix: content decides
    flows, stats = read_flows(path)
    plain_flows, plain_stats = read_flows(plain)
    assert flows == plain_flows
    assert stats.compression == kind
    stats.compression = ""
    assert stats == plain_stats
    assert is_capture_file(path)
    assert is_capture(str(path))
    assert sum(1 for _ in iter_packets(path)) == plain_stats.packets
    pcapng = write(tmp_path, compress(kind, to_pcapng(plain.read_bytes())), "capture-ng")
    assert read_flows(pcapng)[1].packets == plain_stats.packets


def test_annotate_reads_a_compressed_capture(tmp_path: Path) -> None:
    path = write(tmp_path, compress("zstd", (PCAPS / "pop3.pcap").read_bytes()), "pop3.pcap.zst")
    stats = ReadStats(str(path))
    records = list(capture_flows(str(path), stats))
    assert len(records) == len(read_flows(PCAPS / "pop3.pcap")[0]) == stats.records
    assert {r.resp_p for r in records} >= {110}


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz"])
def test_truncated_compressed_capture_keeps_what_came_before(tmp_path: Path, kind: str) -> None:
    packed = compress(kind, (PCAPS / "ssh.pcap").read_bytes())
    path = write(tmp_path, packed[: len(packed) * 3 // 4], "cut")
    flows, stats = read_flows(path)
    consistent(flows, stats)
    assert 0 < stats.packets < 1797
    assert stats.stop_reason.startswith(f"the {kind} stream is truncated or corrupt")
    assert (flows, stats) == read_flows_reference(path)


def test_corrupt_compressed_capture_is_a_skip_or_one_clear_error(tmp_path: Path) -> None:
    packed = bytearray(compress("gzip", (PCAPS / "pop3.pcap").read_bytes()))
    for pos in range(10, len(packed), max(1, len(packed) // 40)):
        damaged = bytearray(packed)
        damaged[pos] ^= 0x55
        stats = check_damaged(tmp_path / "damaged", bytes(damaged))
        if stats is not None:
            assert stats.packets <= 125


def test_compressed_data_that_is_not_a_capture(tmp_path: Path) -> None:
    import gzip

    with pytest.raises(DataError, match=r"\(gzip-compressed\) is not a pcap or pcapng capture: it starts with 23 66"):
        read_flows(write(tmp_path, gzip.compress(b"#fields ts uid\n")))
    with pytest.raises(DataError, match="the zstd stream holds no data"):
        read_flows(write(tmp_path, compress("zstd", b"")))
    with pytest.raises(DataError, match="gzip stream is truncated or corrupt after 0 decompressed bytes"):
        read_flows(write(tmp_path, gzip.compress(b"x" * 1000)[:10]))
    with pytest.raises(DataError, match=r"not a pcap or pcapng capture: .*; the gzip stream is truncated"):
        read_flows(write(tmp_path, gzip.compress(b"x" * 1000)[:12]))
    assert not is_capture_file(write(tmp_path, gzip.compress(b"not a capture")))
    assert not is_capture_file(tmp_path)
    assert not is_capture_file(tmp_path / "missing")


def test_decompression_stops_before_it_fills_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bomb (or a capture too big for the temporary directory) keeps what fits and says why it stopped."""
    from anyport.traffic import compressed

    plain = (PCAPS / "ssh.pcap").read_bytes()
    bomb = plain + plain[24:] * 7  # the same packets again and again: 9 MB that compresses to little
    path = write(tmp_path, compress("gzip", bomb), "bomb")
    monkeypatch.setattr(compressed, "_CHECK_EVERY", 1 << 20)
    free_mb = shutil.disk_usage(tempfile.gettempdir()).free >> 20
    monkeypatch.setenv("ANYPORT_TMP_RESERVE_MB", str(free_mb + 1024))  # more than there is: stop at the first check
    _flows, stats = read_flows(path)
    assert stats.stop_reason.startswith("stopped after")
    assert "less than" in stats.stop_reason
    assert 0 < stats.packets < 1797 * 8
    monkeypatch.setenv("ANYPORT_TMP_RESERVE_MB", "0")
    assert read_flows(path)[1].packets == 1797 * 8
