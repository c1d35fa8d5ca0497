"""Packets per second of anyport's capture reader against dpkt, in the same run.

Run: ``.venv/bin/python benchmarks/bench_capture.py [PCAP] [--runs N]`` (default
/work/shared/data/pcap/merged-test-traces.pcap). dpkt is optional (``pip install dpkt``); without it only
anyport's rates are printed.

Timed, best of N runs each, interleaved so machine load affects both alike:

- anyport ``read_flows``: the whole job: records, Ethernet/VLAN/SLL/..., IPv4/IPv6, ports, flow table.
- anyport ``iter_packets``: the same decode, one Packet object per packet, no flow table.
- dpkt plain loop: ``for ts, buf in dpkt.pcap.Reader(f): pass``: records only, no decoding at all.
- dpkt decode to flows: the plain loop plus ``dpkt.ethernet.Ethernet(buf)`` and a flow dict, the like-for-like job.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from anyport.traffic.capture import iter_packets, read_flows

DEFAULT = Path("/work/shared/data/pcap/merged-test-traces.pcap")


def anyport_flows(path: Path) -> int:
    _flows, stats = read_flows(path)
    return stats.packets


def anyport_packets(path: Path) -> int:
    n = 0
    for _ in iter_packets(path):
        n += 1
    return n


def dpkt_plain(path: Path) -> int:
    import dpkt

    n = 0
    with path.open("rb") as f:
        for _ts, _buf in dpkt.pcap.Reader(f):
            n += 1
    return n


def dpkt_flows(path: Path) -> int:
    import dpkt

    n = 0
    flows: dict[tuple[object, ...], int] = {}
    with path.open("rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            n += 1
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except Exception:  # dpkt raises many kinds on damaged frames
                continue
            ip = eth.data
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            l4 = ip.data
            sport = getattr(l4, "sport", -1)
            dport = getattr(l4, "dport", -1)
            a, b = (bytes(ip.src), sport), (bytes(ip.dst), dport)
            proto = ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt
            key = (proto, a, b) if a <= b else (proto, b, a)
            flows[key] = flows.get(key, 0) + 1
    return n


def best(fn: Callable[[Path], int], path: Path, runs: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        count = fn(path)
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pcap", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    try:
        import dpkt  # noqa: F401

        have_dpkt = True
    except ImportError:
        have_dpkt = False
    cases: list[tuple[str, Callable[[Path], int]]] = [
        ("anyport read_flows", anyport_flows),
        ("anyport iter_packets", anyport_packets),
    ]
    if have_dpkt:
        cases += [("dpkt plain loop", dpkt_plain), ("dpkt decode to flows", dpkt_flows)]
    size = args.pcap.stat().st_size
    print(f"{args.pcap} ({size / 1e6:.1f} MB), best of {args.runs} runs")
    rates: dict[str, float] = {}
    for name, fn in cases:
        seconds, count = best(fn, args.pcap, args.runs)
        rates[name] = count / seconds
        print(f"{name:24} {count:>9} packets in {seconds:6.3f} s = {rates[name]:>11,.0f} packets/s")
    if have_dpkt:
        ours = rates["anyport read_flows"]
        print(f"ratio read_flows / dpkt plain loop:      {ours / rates['dpkt plain loop']:.2f}")
        print(f"ratio read_flows / dpkt decode to flows: {ours / rates['dpkt decode to flows']:.2f}")
    else:
        print("dpkt is not installed: no comparison (pip install dpkt)")


if __name__ == "__main__":
    main()
