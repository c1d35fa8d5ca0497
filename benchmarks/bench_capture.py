"""Packets per second of anyport's capture reader against ndpiReader, dpkt and tshark, in the same run.

Run: ``.venv/bin/python benchmarks/bench_capture.py [PCAP] [--runs N] [--no-tshark]`` (default
/work/shared/data/pcap/merged-test-traces.pcap). The baselines are optional and skipped when absent:

- ndpiReader (nDPI's reader, C): ``apt-get install -y libndpi-bin``. Run as ``ndpiReader -i PCAP -v 0`` (not
  ``-q``, which hides the statistics; ``-v 0`` lists no flows); its
  own "nDPI throughput" (packets over its packet-processing time, start-up excluded) is the figure to beat, and
  its whole-process wall and CPU times are shown too.
- dpkt (``pip install dpkt``): the plain loop ``for ts, buf in dpkt.pcap.Reader(f): pass`` (records only, nothing
  decoded) and the loop plus ``dpkt.ethernet.Ethernet(buf)`` and a flow dict (the like-for-like job).
- tshark fields: ``DEBIAN_FRONTEND=noninteractive apt-get install -y tshark``. Run as ``tshark -n -r PCAP -T
  fields -e ip.src -e ip.dst -e ipv6.src -e ipv6.dst -e tcp.srcport -e tcp.dstport -e udp.srcport -e udp.dstport``
  into /dev/null.

anyport rows: ``read_flows`` (the whole job: records, link layer, IPv4/IPv6, ports, flow table; numpy for common
packets), ``read_flows_reference`` (the same job one packet at a time in pure Python) and ``iter_packets`` (one
Packet object per packet, no flow table). Each case runs once per round, rounds interleaved so machine load hits
every case alike; the best of N rounds counts. Wall time and CPU time (this process, or the child process for
ndpiReader and tshark) are both shown: on a shared machine CPU time is the steadier comparison.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from anyport.traffic.capture import iter_packets, read_flows, read_flows_reference

DEFAULT = Path("/work/shared/data/pcap/merged-test-traces.pcap")
TSHARK_FIELDS = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport"]


@dataclass
class Run:
    packets: int
    wall: float
    cpu: float
    own_rate: float | None = None  # a tool's own packets/s figure, when it prints one


@dataclass
class Case:
    name: str
    fn: Callable[[Path], Run]
    runs: list[Run] = field(default_factory=list)

    def best(self, what: str) -> Run:
        return min(self.runs, key=lambda r: getattr(r, what))


def in_process(job: Callable[[Path], int]) -> Callable[[Path], Run]:
    def timed(path: Path) -> Run:
        cpu, wall = time.process_time(), time.perf_counter()
        packets = job(path)
        return Run(packets, time.perf_counter() - wall, time.process_time() - cpu)

    return timed


def child(argv: list[str]) -> tuple[str, float, float]:
    """Output, wall seconds and CPU seconds (user + system) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout + done.stderr, wall, cpu


def anyport_flows(path: Path) -> int:
    return read_flows(path)[1].packets


def anyport_reference(path: Path) -> int:
    return read_flows_reference(path)[1].packets


def anyport_packets(path: Path) -> int:
    return sum(1 for _ in iter_packets(path))


def ndpi(path: Path) -> Run:
    out, wall, cpu = child(["ndpiReader", "-i", str(path), "-v", "0"])
    total = re.search(r"of (\d+) packets total", out)
    own = re.search(r"nDPI throughput:\s+([\d.]+) ([KM]?) pps", out)
    packets = int(total.group(1)) if total else 0
    rate = float(own.group(1)) * {"": 1, "K": 1e3, "M": 1e6}[own.group(2)] if own else None
    return Run(packets, wall, cpu, rate)


def tshark(packets: int) -> Callable[[Path], Run]:
    def timed(path: Path) -> Run:
        argv = ["tshark", "-n", "-r", str(path), "-T", "fields"]
        for name in TSHARK_FIELDS:
            argv += ["-e", name]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        with open(os.devnull, "w") as sink:
            subprocess.run(argv, stdout=sink, stderr=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Run(packets, wall, cpu)  # tshark prints one line per packet: the count is the capture's

    return timed


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


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("pcap", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-tshark", action="store_true", help="skip tshark (the slowest baseline)")
    args = parser.parse_args()
    path: Path = args.pcap
    read_flows(path)  # warm the page cache and numpy's import, as the C tools have theirs loaded
    packets = read_flows(path)[1].packets

    cases = [
        Case("anyport read_flows", in_process(anyport_flows)),
        Case("anyport read_flows_reference", in_process(anyport_reference)),
        Case("anyport iter_packets", in_process(anyport_packets)),
    ]
    missing = []
    if shutil.which("ndpiReader"):
        cases.append(Case("ndpiReader", ndpi))
    else:
        missing.append("ndpiReader (apt-get install -y libndpi-bin)")
    try:
        import dpkt  # noqa: F401

        cases += [Case("dpkt plain loop", in_process(dpkt_plain)), Case("dpkt decode to flows", in_process(dpkt_flows))]
    except ImportError:
        missing.append("dpkt (pip install dpkt)")
    if args.no_tshark:
        missing.append("tshark (--no-tshark)")
    elif shutil.which("tshark"):
        cases.append(Case("tshark fields", tshark(packets)))
    else:
        missing.append("tshark (DEBIAN_FRONTEND=noninteractive apt-get install -y tshark)")

    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB, {packets:,} packets), best of {args.runs} interleaved runs")
    print(f"before: {load()}")
    for _ in range(args.runs):
        for case in cases:
            case.runs.append(case.fn(path))
    print(f"after:  {load()}")
    print(f"{'':30} {'packets':>9} {'wall s':>8} {'packets/s':>11} {'CPU s':>8} {'packets/s':>11}")
    wall_rate: dict[str, float] = {}
    cpu_rate: dict[str, float] = {}
    for case in cases:
        wall, cpu = case.best("wall"), case.best("cpu")
        wall_rate[case.name] = wall.packets / wall.wall
        cpu_rate[case.name] = cpu.packets / cpu.cpu if cpu.cpu else 0.0
        print(
            f"{case.name:30} {wall.packets:>9} {wall.wall:8.3f} {wall_rate[case.name]:>11,.0f} "
            f"{cpu.cpu:8.3f} {cpu_rate[case.name]:>11,.0f}"
        )
    ours = "anyport read_flows"
    if "ndpiReader" in wall_rate:
        own = max((r.own_rate or 0.0) for r in next(c for c in cases if c.name == "ndpiReader").runs)
        print(f"ndpiReader's own throughput (start-up excluded), best: {own:,.0f} packets/s")
        if own:
            print(f"ratio read_flows / ndpiReader own throughput (wall): {wall_rate[ours] / own:.2f}")
        print(f"ratio read_flows / ndpiReader whole process (wall):  {wall_rate[ours] / wall_rate['ndpiReader']:.2f}")
        print(f"ratio read_flows / ndpiReader whole process (CPU):   {cpu_rate[ours] / cpu_rate['ndpiReader']:.2f}")
    for baseline in ("dpkt plain loop", "dpkt decode to flows", "tshark fields", "anyport read_flows_reference"):
        if baseline in wall_rate:
            print(
                f"ratio read_flows / {baseline + ':':31} {wall_rate[ours] / wall_rate[baseline]:6.2f} wall, "
                f"{cpu_rate[ours] / cpu_rate[baseline]:6.2f} CPU"
            )
    for name in missing:
        print(f"skipped, not installed: {name}")


if __name__ == "__main__":
    main()
