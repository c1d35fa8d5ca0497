"""``anyport learn``: least-privilege allow rules from the services seen inbound in real logs and captures."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from anyport.errors import QueryError
from anyport.query.kb import KnowledgeBase
from anyport.traffic.learn import MAX_HOSTS, _parse, learn_files, learn_rules, source_networks
from conftest import run_cli

DATA = Path(__file__).resolve().parent / "data"
ZEEK = sorted(f"zeek/{p.name}" for p in (DATA / "zeek").glob("*.log"))
PCAP = sorted(f"pcap/{p.name}" for p in (DATA / "pcap").glob("*.pcap"))


@pytest.fixture
def in_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relative input paths, so that the golden files do not depend on where the checkout lives."""
    monkeypatch.chdir(DATA)
    return DATA


def _flows_csv(path: Path, rows: list[tuple[str, str, int, int, str]]) -> str:
    lines = ["src,dst,src_port,dst_port,proto"] + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return str(path)


def _nft_port_sets(text: str) -> list[tuple[str, list[str]]]:
    """(transport, elements) of every port set in nftables output."""
    import re

    found = re.findall(r"set (tcp|udp|sctp)_ports\w* \{[^}]*?elements = \{ ([^}]*) \}", text)
    return [(transport, [e.strip() for e in elements.split(",")]) for transport, elements in found]


def _nft_check(text: str, tmp_path: Path) -> None:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (scripts/install-test-deps.sh installs it)")
    path = tmp_path / "learned.nft"
    path.write_text(text, "utf-8")
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def _iptables_check(files: dict[str, str], tmp_path: Path) -> None:
    for suffix, text in files.items():
        tool = "ip6tables-restore" if suffix == ".v6" else "iptables-restore"
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-test-deps.sh installs it)")
        path = tmp_path / f"learned{suffix}"
        path.write_text(text, "utf-8")
        result = subprocess.run([tool, "--test", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, (suffix, result.stderr)


def test_zeek_proposal_json_golden(kb: KnowledgeBase, in_data: Path, golden) -> None:  # type: ignore[no-untyped-def]
    result = learn_files(ZEEK, kb=kb)
    golden("learn/zeek.json", json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    specs = [p.spec for p in result.proposals]
    assert "tcp/22" in specs
    assert "tcp/502" in specs
    assert "tcp/110" in specs
    assert specs == sorted(specs, key=lambda s: (s.split("/")[0], int(s.split("/")[1])))
    # Weak guesses are not opened by default, and say why.
    left = {entry["spec"]: entry["reason"] for entry in result.left_out}
    assert "run time" in str(left["tcp/2200"])
    assert "--include-unknown" in str(left["tcp/2200"])
    assert all(p.kind == "service" for p in result.proposals)


def test_zeek_and_captures_as_nftables_golden(kb: KnowledgeBase, in_data: Path, golden, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = learn_files([*ZEEK, *PCAP], kb=kb)
    output = learn_rules(result, "nftables", kb=kb)
    golden("learn/zeek-pcap.nft", output.text)
    _nft_check(output.text, tmp_path)
    # Only the ports seen are opened, as specs naming their service, from the clients seen.
    ssh = next(p for p in result.proposals if p.spec == "tcp/22")
    assert ssh.service == "ssh"
    assert ssh.sources
    assert not ssh.aggregated
    assert f"SSH (Secure Shell) (ssh) [tcp/22]: seen inbound in {ssh.flows} flows" in output.text
    # Only the ports seen: DNS's 53/tcp, NetBIOS's 139/tcp and HTTP's alternatives stay closed.
    opened = {(t, int(port)) for t, ports in _nft_port_sets(output.text) for port in ports}
    assert opened == {(p.transport, p.port) for p in result.proposals}
    assert ("tcp", 53) not in opened
    assert ("tcp", 139) not in opened
    # Every accept for a port names its sources: nothing is opened to the world that was seen from a few.
    accepts = [line for line in output.text.splitlines() if "dport @" in line]
    assert accepts
    assert all("saddr @sources_" in line for line in accepts)


def test_captures_as_iptables_golden(kb: KnowledgeBase, in_data: Path, golden, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = learn_files(PCAP, kb=kb, include_unknown=True)
    output = learn_rules(result, "iptables", kb=kb)
    for suffix, text in output.files.items():
        golden(f"learn/pcap-iptables.rules{suffix}", text)
    _iptables_check(output.files, tmp_path)


def test_local_networks_pick_the_inbound_flows_of_a_capture(kb: KnowledgeBase, in_data: Path) -> None:
    result = learn_files(["pcap/modbus-and-non-modbus-p502.pcap"], local=["192.168.10.0/24"], kb=kb)
    [modbus] = result.proposals
    assert (modbus.spec, modbus.service, modbus.kind) == ("tcp/502", "modbus", "service")
    assert all(server.startswith("192.168.10.") for server in modbus.servers)
    assert result.not_inbound == 1  # the flow to 10.0.0.3
    assert modbus.flows == 6
    assert modbus.first_seen
    assert modbus.last_seen
    assert modbus.first_seen <= modbus.last_seen


def test_many_clients_are_aggregated_and_any_source_drops_them(kb: KnowledgeBase, tmp_path: Path) -> None:
    rows = [(f"198.51.100.{i}", "192.0.2.10", 40000 + i, 22, "tcp") for i in range(1, 8)]
    rows += [(f"203.0.113.{i}", "192.0.2.10", 41000 + i, 22, "tcp") for i in range(1, 4)]
    rows += [(f"2001:db8:1::{i}", "2001:db8:ff::10", 42000 + i, 22, "tcp") for i in range(1, 4)]
    rows += [("198.51.100.1", "192.0.2.10", 43000, 443, "tcp"), ("198.51.100.2", "192.0.2.99", 43001, 8443, "tcp")]
    rows += [("192.0.2.10", "198.51.100.9", 50000, 25, "tcp")]  # outbound: the service is elsewhere
    path = _flows_csv(tmp_path / "flows.csv", rows)
    local = ["192.0.2.0/24", "2001:db8:ff::/48"]
    result = learn_files([path], local=local, kb=kb)
    by_spec = {p.spec: p for p in result.proposals}
    ssh = by_spec["tcp/22"]
    assert [str(n) for n in ssh.sources] == ["198.51.100.0/24", "203.0.113.0/24", "2001:db8:1::/64"]
    assert ssh.aggregated
    assert ssh.clients == 13
    assert [str(n) for n in by_spec["tcp/443"].sources] == ["198.51.100.1/32"]
    assert result.not_inbound == 1
    assert "tcp/25" not in by_spec
    assert (by_spec["tcp/8443"].kind, by_spec["tcp/8443"].item) == ("service", "tcp/8443@198.51.100.2/32")
    anywhere = learn_files([path], local=local, any_source=True, kb=kb)
    assert all(not p.sources and p.item == p.spec for p in anywhere.proposals)
    assert {p.any_source_why for p in anywhere.proposals} == {"--any-source"}


def test_helper_protocols_get_their_conntrack_helper(kb: KnowledgeBase, tmp_path: Path) -> None:
    """FTP seen on 21: open 21 and attach the ftp helper for the data connections, not a range of ports."""
    path = _flows_csv(tmp_path / "ftp.csv", [("198.51.100.7", "192.0.2.10", 40001, 21, "tcp")])
    result = learn_files([path], local=["192.0.2.0/24"], kb=kb)
    [ftp] = result.proposals
    assert (ftp.service, ftp.helper, ftp.item) == ("ftp", "ftp", "tcp/21@198.51.100.7/32")
    text = learn_rules(result, "nftables", kb=kb).text
    assert 'tcp dport 21 ct helper set "ftp-tcp-21"' in text
    assert [ports for _t, ports in _nft_port_sets(text)] == [["21"]]
    _nft_check(text, tmp_path)


def test_learned_rules_in_a_kernel_firewall_let_in_only_what_was_seen(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Loaded in a namespace: the lab client reaches SSH (it was seen), not DNS (seen from elsewhere) nor others."""
    from lab.netns import CLIENT4, CLIENT6, SERVER4, SERVER6, LabUnavailable, lab

    rows = [(CLIENT4, SERVER4, 40000 + i, 22, "tcp") for i in range(3)]  # SSH over IPv4 from the lab client
    rows += [(CLIENT6, SERVER6, 40100, 80, "tcp")]  # HTTP over IPv6 from it
    rows += [("198.51.100.7", SERVER4, 41000, 53, "udp")]  # DNS from someone else
    rows += [(CLIENT4, "198.51.100.7", 42000, 443, "tcp")]  # outbound: opens nothing here
    path = _flows_csv(tmp_path / "lab.csv", rows)
    result = learn_files([path], local=[f"{SERVER4}/32", f"{SERVER6}/128"], kb=kb)
    assert [p.item for p in result.proposals] == [
        f"tcp/22@{CLIENT4}/32",
        f"tcp/80@{CLIENT6}/128",
        "udp/53@198.51.100.7/32",
    ]
    rules = tmp_path / "learned.nft"
    rules.write_text(learn_rules(result, "nftables", kb=kb).text, "utf-8")
    expected = {("ipv4", "tcp", 22): True, ("ipv6", "tcp", 22): False, ("ipv6", "tcp", 80): True,
                ("ipv4", "tcp", 80): False, ("ipv4", "udp", 53): False, ("ipv6", "udp", 53): False,
                ("ipv4", "tcp", 443): False, ("ipv4", "tcp", 23): False}  # fmt: skip
    try:
        with lab() as netlab:
            netlab.load_nft(rules)
            passed = netlab.probe(sorted(expected))
    except LabUnavailable as exc:
        pytest.skip(str(exc))
    assert passed == expected


def test_source_networks_keep_few_hosts_exact() -> None:
    few = [f"192.0.2.{i}" for i in range(MAX_HOSTS)]
    nets, aggregated = source_networks([*few, "not an address", "::ffff:192.0.2.1"])
    assert not aggregated
    assert [str(n) for n in nets] == [f"192.0.2.{i}/32" for i in range(MAX_HOSTS)]
    nets, aggregated = source_networks([*few, "192.0.2.200", "192.0.3.1"])
    assert aggregated
    assert [str(n) for n in nets] == ["192.0.2.0/23"]


def _reference(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """What an address in a record means, by ipaddress alone (the parser's fast path must agree with it)."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0].strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


octets = st.one_of(st.integers(0, 300).map(str), st.sampled_from(["00", "01", "007", "1a", "", " 1", "٣", "²", "+1"]))


@given(text=st.one_of(st.lists(octets, min_size=1, max_size=5).map(".".join), st.ip_addresses().map(str), st.text()))
@example(text="::ffff:192.0.2.1")
@example(text="192.0.2.1%eth0")
@example(text=" 192.0.2.1 ")
def test_address_parsing_matches_ipaddress(text: str) -> None:
    assert _parse(text) == _reference(text)


@given(st.lists(st.ip_addresses(), max_size=40))
def test_source_networks_cover_each_client_s_network(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    nets, aggregated = source_networks(str(a) for a in addresses)
    distinct = {_reference(str(a)) for a in addresses}
    assert aggregated == (len(distinct) > MAX_HOSTS)
    if not aggregated:
        assert sorted(nets, key=lambda n: (n.version, n)) == list(nets)
        assert {n.network_address for n in nets} == distinct
        return
    wide = [
        ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 64}", strict=False) for a in distinct if a is not None
    ]
    v4 = ipaddress.collapse_addresses(n for n in wide if n.version == 4)
    v6 = ipaddress.collapse_addresses(n for n in wide if n.version == 6)
    assert list(nets) == [*v4, *v6]


def test_min_flows_and_include_unknown(kb: KnowledgeBase, in_data: Path) -> None:
    log = ["zeek/scripts.base.protocols.ssh.basic.conn.log"]
    strict = learn_files(log, min_flows=3, kb=kb)
    assert [p.spec for p in strict.proposals] == ["tcp/22"]
    reasons = {e["spec"]: e["reason"] for e in strict.left_out}
    assert reasons["udp/57621"] == "seen in 2 flows, fewer than --min-flows 3"
    loose = learn_files(log, include_unknown=True, kb=kb)
    unknown = {p.spec: p for p in loose.proposals if p.kind == "unknown"}
    assert set(unknown) == {"tcp/2200", "tcp/8118", "tcp/41644"}
    assert unknown["tcp/2200"].comment == "unknown service on tcp/2200 (perhaps msrpc)"
    kinds = [p.kind for p in loose.proposals]
    assert kinds == sorted(kinds, key=("service", "unknown").index)  # services first


def test_order_of_inputs_does_not_change_the_proposal(kb: KnowledgeBase, in_data: Path) -> None:
    forward = learn_files([*ZEEK, *PCAP], kb=kb)
    backward = learn_files(list(reversed([*ZEEK, *PCAP])), kb=kb)
    assert forward.proposals == backward.proposals
    assert forward.left_out == backward.left_out


def test_nothing_to_allow_is_a_query_error(kb: KnowledgeBase, in_data: Path) -> None:
    result = learn_files(["pcap/pop3.pcap"], local=["198.51.100.0/24"], kb=kb)
    assert not result.proposals
    assert result.not_inbound == result.flows
    with pytest.raises(QueryError, match="nothing to allow"):
        learn_rules(result, "nftables", kb=kb)


def test_cli_json_shape_and_rules(tmp_path: Path) -> None:
    log = str(DATA / "zeek" / "scripts.base.protocols.pop3.basic.conn.log")
    result = run_cli("learn", log)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"local", "min_flows", "include_unknown", "any_source", "flows", "inbound", "without_port",
                         "not_inbound", "responder_unknown", "proposals", "left_out", "files"}  # fmt: skip
    [pop3] = data["proposals"]
    assert set(pop3) == {"spec", "kind", "service", "title", "transport", "port", "rule", "flows", "bytes",
                         "clients", "sources", "aggregated", "any_source", "any_source_why", "servers",
                         "server_count", "first_seen", "last_seen", "why", "helper"}  # fmt: skip
    assert (pop3["spec"], pop3["service"], pop3["flows"]) == ("tcp/110", "pop3", 11)
    assert pop3["rule"] == "tcp/110@" + ",".join(pop3["sources"])
    assert "11 flows, 11 inbound; 1 ports proposed" in result.stderr

    result = run_cli("learn", log, "--target", "nftables", "--json")
    assert result.returncode == 0, result.stderr
    assert "tcp dport" in json.loads(result.stdout)["rules"][""]

    out = tmp_path / "pop3.nft"
    result = run_cli("learn", log, "--target", "nftables", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "POP3" in out.read_text("utf-8")
    _nft_check(out.read_text("utf-8"), tmp_path)


def test_cli_bad_input_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    empty.write_text("")
    log = str(DATA / "zeek" / "scripts.base.protocols.pop3.basic.conn.log")
    cases = [
        [str(tmp_path / "missing.log")],
        [str(empty)],
        [str(tmp_path)],
        [log, "--local", "not-a-network"],
        [log, "--min-flows", "0"],
        [log, "--target", "no-such-platform"],
        [log, "--local", "198.51.100.0/24", "--target", "nftables"],  # nothing inbound: nothing to allow
        [log, "--columns", "nonsense"],
    ]
    for args in cases:
        result = run_cli("learn", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("anyport: "), (args, result.stderr)
        assert result.stdout == "", args


def test_a_big_proposal_names_the_first_ports_in_the_header(kb: KnowledgeBase, tmp_path: Path) -> None:
    ports = [21, 22, 23, 25, 53, 80, 110, 143, 389, 443, 445, 465, 587, 636, 993]
    ports += [995, 1433, 3306, 3389, 5432, 5900, 6379, 8080, 9200, 27017]
    rows = [("198.51.100.7", "192.0.2.10", 40000 + i, port, "tcp") for i, port in enumerate(ports)]
    flows = _flows_csv(tmp_path / "flows.csv", rows)
    result = learn_files([flows], local=["192.0.2.0/24"], include_unknown=True, kb=kb)
    assert len(result.proposals) == len(ports)
    lines = learn_rules(result, "nftables", kb=kb).text.splitlines()
    first = next(line for line in lines if "Generated by anyport" in line)
    assert first.endswith(" and 5 more (each listed below)")
    assert first.count("tcp/") == 20
    assert all(any(f"[tcp/{port}]" in line for line in lines) for port in ports)
