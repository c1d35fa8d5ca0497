"""Generated rules loaded into a real kernel firewall (in namespaces): exactly the intended ports pass."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.query.kb import KnowledgeBase
from anyport.rules.options import make_options
from anyport.rules.selection import Selection, select
from anyport.rules.targets import get_target
from lab.netns import CLIENT4, Lab, LabUnavailable, lab


@pytest.fixture(scope="module")
def netlab() -> Iterator[Lab]:
    try:
        with lab() as created:
            yield created
    except LabUnavailable as exc:
        pytest.skip(str(exc))


def expected_open(selection: Selection) -> set[tuple[str, int]]:
    return {(t, port) for t in ("tcp", "udp") for r in selection.merged(t) for port in range(r.start, r.end + 1)}


def sample_probes(selection: Selection, families: list[str], seed: int) -> list[tuple[str, str, int]]:
    rng = random.Random(seed)
    opened = expected_open(selection)
    probes = set()
    for transport in ("tcp", "udp"):
        ranges = selection.merged(transport)
        chosen: set[int] = set()
        for r in ranges:
            chosen |= {r.start, r.end}
        ports = [p for (t, p) in opened if t == transport]
        chosen |= set(rng.sample(sorted(ports), min(6, len(ports))))
        closed: set[int] = set()
        for r in ranges:  # the neighbours of every range must stay closed
            closed |= {r.start - 1, r.end + 1}
        while len(closed) < len(chosen) + 6:
            closed.add(rng.randint(1, 65535))
        for port in chosen | {p for p in closed if 0 < p < 65536 and (transport, p) not in opened}:
            for family in families:
                probes.add((family, transport, port))
    return sorted(probes)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def check_reachability(
    netlab: Lab, selection: Selection, families: list[str], seed: int, everything: bool | None = None
) -> None:
    """Probe sampled open and closed ports; ``everything`` forces the expectation (all pass / all blocked)."""
    probes = sample_probes(selection, families, seed)
    results = netlab.probe(probes)
    opened = expected_open(selection)
    wrong = [
        (f, t, p, ok)
        for (f, t, p), ok in sorted(results.items())
        if ok != (everything if everything is not None else (t, p) in opened)
    ]
    assert not wrong, f"reachability differs from the catalog for: {wrong[:10]}"


SCENARIO = ["ssh", "sip", "bittorrent", "tcp/8443", "udp/5000-5010", "dns", "ntp"]


@pytest.mark.parametrize("target", ["nftables", "iptables"])
def test_exactly_the_catalog_ports_pass(netlab: Lab, kb: KnowledgeBase, tmp_path: Path, target: str) -> None:
    options = make_options()
    selection = select(kb, SCENARIO, options)
    output = get_target(target).generate(selection, options)
    netlab.flush()
    if target == "nftables":
        netlab.load_nft(write(tmp_path, "rules.nft", output.files[""]))
    else:
        netlab.load_iptables(
            write(tmp_path, "rules.v4", output.files[".v4"]), write(tmp_path, "rules.v6", output.files[".v6"])
        )
    check_reachability(netlab, selection, ["ipv4", "ipv6"], seed=1)
    assert netlab.outbound_works(), "the host's own outbound traffic lost its replies"
    netlab.flush()


def test_nftables_file_loads_twice_without_duplicating(netlab: Lab, kb: KnowledgeBase, tmp_path: Path) -> None:
    options = make_options()
    output = get_target("nftables").generate(select(kb, ["ssh", "ftp", "pptp"], options), options)
    path = write(tmp_path, "twice.nft", output.files[""])
    netlab.flush()
    netlab.load_nft(path)
    once = netlab.nft_ruleset()
    netlab.load_nft(path)
    assert netlab.nft_ruleset() == once
    assert 'ct helper "ftp-tcp-21"' in once or "ftp-tcp-21" in once
    netlab.flush()


def test_sources_restrict_who_gets_in(netlab: Lab, kb: KnowledgeBase, tmp_path: Path) -> None:
    for sources, blocked in (
        ([f"{CLIENT4}/32", "2001:db8::1/128"], False),
        (["198.51.100.0/24", "2001:db8:ffff::/48"], True),
    ):
        options = make_options(sources=sources)
        selection = select(kb, ["ssh", "udp/9999"], options)
        output = get_target("nftables").generate(selection, options)
        netlab.flush()
        netlab.load_nft(write(tmp_path, "src.nft", output.files[""]))
        check_reachability(netlab, selection, ["ipv4", "ipv6"], seed=2, everything=False if blocked else None)
    netlab.flush()


@pytest.mark.parametrize("target", ["nftables", "iptables"])
def test_sources_of_one_family_still_close_the_other(
    netlab: Lab, kb: KnowledgeBase, tmp_path: Path, target: str
) -> None:
    """SSH from one IPv4 client only: IPv6 must meet the drop policy too, not escape an IPv4-only rule set."""
    options = make_options()
    selection = select(kb, [f"ssh@{CLIENT4}/32"], options)
    output = get_target(target).generate(selection, options)
    netlab.flush()
    if target == "nftables":
        netlab.load_nft(write(tmp_path, "v4only.nft", output.files[""]))
    else:
        netlab.load_iptables(
            write(tmp_path, "v4only.v4", output.files[".v4"]), write(tmp_path, "v4only.v6", output.files[".v6"])
        )
    results = netlab.probe([(f, "tcp", p) for f in ("ipv4", "ipv6") for p in (22, 80)])
    netlab.flush()
    assert results[("ipv4", "tcp", 22)]
    assert not results[("ipv6", "tcp", 22)]
    assert not results[("ipv4", "tcp", 80)]
    assert not results[("ipv6", "tcp", 80)]


@pytest.mark.parametrize("target", ["nftables", "iptables"])
def test_services_with_their_own_sources(netlab: Lab, kb: KnowledgeBase, tmp_path: Path, target: str) -> None:
    """SIP and RTP from anywhere, SSH only from the admin network (the client is inside it, then outside)."""
    for admin, ssh_open in (("192.0.2.1/32,2001:db8::1/128", True), ("198.51.100.0/24,2001:db8:ffff::/48", False)):
        options = make_options()
        selection = select(kb, ["sip", "rtp", f"ssh@{admin}"], options)
        output = get_target(target).generate(selection, options)
        netlab.flush()
        if target == "nftables":
            netlab.load_nft(write(tmp_path, "own.nft", output.files[""]))
        else:
            netlab.load_iptables(
                write(tmp_path, "own.v4", output.files[".v4"]), write(tmp_path, "own.v6", output.files[".v6"])
            )
        probes = [
            (f, t, p) for f in ("ipv4", "ipv6") for t, p in (("tcp", 22), ("udp", 5060), ("udp", 5004), ("tcp", 23))
        ]
        results = netlab.probe(probes)
        for family in ("ipv4", "ipv6"):
            assert results[(family, "tcp", 22)] is ssh_open, (family, admin)
            assert results[(family, "udp", 5060)]
            assert results[(family, "udp", 5004)]
            assert not results[(family, "tcp", 23)]
    netlab.flush()


POOL = [
    "ssh",
    "http",
    "https",
    "smtp",
    "dns",
    "ntp",
    "snmp",
    "ldap",
    "mysql",
    "postgresql",
    "redis",
    "sip",
    "rdp",
    "openvpn",
    "wireguard",
    "mqtt",
    "modbus",
    "bittorrent",
    "minecraft-java",
    "syslog",
    "tftp",
    "kerberos",
]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    services=st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True),
    raw=st.lists(st.tuples(st.sampled_from(["tcp", "udp"]), st.integers(1, 65000), st.integers(0, 30)), max_size=2),
    target=st.sampled_from(["nftables", "iptables"]),
    family=st.sampled_from(["both", "ipv4", "ipv6"]),
    seed=st.integers(0, 1000),
)
def test_property_reachable_set_matches_the_catalog(
    netlab: Lab,
    kb: KnowledgeBase,
    tmp_path: Path,
    services: list[str],
    raw: list[tuple[str, int, int]],
    target: str,
    family: str,
    seed: int,
) -> None:
    items = services + [f"{t}/{p}-{min(65535, p + w)}" for t, p, w in raw]
    options = make_options(ipv4_only=family == "ipv4", ipv6_only=family == "ipv6")
    selection = select(kb, items, options)
    output = get_target(target).generate(selection, options)
    netlab.flush()
    if target == "nftables":
        netlab.load_nft(write(tmp_path, "p.nft", output.files[""]))
    else:
        v4 = write(tmp_path, "p.v4", output.files[".v4"]) if ".v4" in output.files else None
        v6 = write(tmp_path, "p.v6", output.files[".v6"]) if ".v6" in output.files else None
        netlab.load_iptables(v4, v6)
    families = ["ipv4", "ipv6"] if family == "both" else [family]
    check_reachability(netlab, selection, families, seed)
    if family != "both":  # the other family is left alone: no rules, nothing filtered
        other = "ipv6" if family == "ipv4" else "ipv4"
        check_reachability(netlab, selection, [other], seed, everything=True)
    netlab.flush()
