"""Rule set readers (nft JSON and text, iptables-save, ufw status) and ``anyport audit``.

The fixtures in tests/data/rulesets were produced by the real tools: rule sets loaded into a network namespace
with nft / iptables-restore and listed back, ufw driven in a namespace with a private --rootdir/--datadir, and
anyport's own generated rules loaded and listed. The property tests do that round trip live.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from anyport.errors import DataError
from anyport.model import PortRange
from anyport.query.kb import KnowledgeBase
from anyport.rules.audit import AuditReport, audit
from anyport.rules.options import make_options
from anyport.rules.rulesets import Ruleset, load_ruleset
from anyport.rules.selection import select
from anyport.rules.targets import get_target
from conftest import run_cli

DATA = Path(__file__).resolve().parent / "data" / "rulesets"
FIXTURES = {
    "nft": [
        "nft-rich.json",
        "nft-rich.txt",
        "nft-mixed-iptables-nft.txt",
        "nft-anyport-ssh-sip.json",
        "nft-anyport-ssh-sip.txt",
        "nft-windows-messenger.json",
        "nft-tricky.json",
        "nft-tricky.txt",
    ],
    "iptables": [
        "iptables-rich.v4",
        "ip6tables-rich.v6",
        "iptables-ufw.v4",
        "ip6tables-ufw.v6",
        "iptables-anyport-ssh-sip.v4",
        "ip6tables-anyport-ssh-sip.v6",
        "iptables-S-rich.txt",
    ],
    "ufw": ["ufw-status.txt", "ufw-status-verbose.txt", "ufw-status-numbered.txt"],
}
ALL_FIXTURES = [(kind, name) for kind, names in FIXTURES.items() for name in names]


def load(kind: str, name: str) -> Ruleset:
    return load_ruleset(kind, str(DATA / name))


def ports(text: str) -> list[PortRange]:
    out = []
    for item in text.split(","):
        low, _dash, high = item.partition("-")
        out.append(PortRange(int(low), int(high or low)))
    return out


def rule_at(ruleset: Ruleset, line: int) -> int:
    return next(r.index for r in ruleset.rules if r.line == line)


# -- every fixture ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), ALL_FIXTURES)
def test_every_fixture_audits_to_json_csv_and_text(kb: KnowledgeBase, kind: str, name: str) -> None:
    report = audit(kb, (kind, str(DATA / name)))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["summary"]["rules"] == len(data["rules"]) > 0
    assert {"ruleset", "summary", "rules"} <= set(data)
    first = data["rules"][0]
    for key in ("index", "line", "text", "chain", "direction", "action", "match", "reachable", "shadowed_by",
                "services", "findings", "opens", "explanation"):  # fmt: skip
        assert key in first
    rows = report.to_csv().splitlines()
    assert rows[0].startswith("index,line,chain")
    assert len(rows) == len(data["rules"]) + 1
    text = report.render_text()
    assert text.startswith(f"Audit of {DATA / name}")


@pytest.mark.parametrize("stem", ["nft-rich", "nft-tricky", "nft-anyport-ssh-sip"])
def test_json_and_text_listings_of_one_rule_set_agree(stem: str) -> None:
    from_json, from_text = load("nft", f"{stem}.json"), load("nft", f"{stem}.txt")
    assert from_json.reach["in"].segments == from_text.reach["in"].segments
    assert [(r.action, r.conditions) for r in from_json.rules] == [(r.action, r.conditions) for r in from_text.rules]
    assert [r.shadowed_by for r in from_json.rules] == [r.shadowed_by for r in from_text.rules]


def test_handles_in_text_listing_do_not_change_the_rules() -> None:
    mixed = load("nft", "nft-mixed-iptables-nft.txt")
    assert all(r.locator.startswith("handle ") for r in mixed.rules)
    plain = load("nft", "nft-rich.txt")
    rich_from_mixed = [r.conditions for r in mixed.rules if r.table == "inet filter"]
    assert rich_from_mixed == [r.conditions for r in plain.rules if r.table == "inet filter"]


# -- nftables -----------------------------------------------------------------------------------------------


def test_nft_rich_open_set() -> None:
    reach = load("nft", "nft-rich.json").reach["in"]
    assert reach.ranges("tcp", "anyone") == ports("22,25,53,2000-2010,2222,5060-5061,5080,9000")
    assert reach.ranges("udp", "anyone") == ports("53,161,5004-65535")
    # the ip table drops 5005/udp: open to anyone over IPv6 only
    assert reach.ranges("udp", "anyone", "ipv4") == ports("53,161,5004,5006-65535")
    assert reach.ranges("udp", "anyone", "ipv6") == ports("53,5004-65535")  # 161 is for an IPv4 address
    # only some sources or interfaces: web (eth0), postgres (10/8), the vmap's own chain (8000-8100)
    some = reach.ranges("tcp")
    for port in (80, 443, 3306, 5432, 8443, 9090, 8050):
        assert any(port in r for r in some)
    assert reach.protocols("anyone") == [1, 47, 50, 58]
    assert -1 not in reach.protocols()  # policy drop: no unnamed IP protocol gets in


def test_nft_rules_shadowed_and_explained(kb: KnowledgeBase) -> None:
    report = audit(kb, ("nft", str(DATA / "nft-rich.txt")))
    by_line = {a.rule.line: a for a in report.rules}
    shadowed = by_line[52].rule  # udp dport 5060 accept, after udp dport 5004-65535 accept
    assert not shadowed.reachable
    assert shadowed.shadowed_by == [by_line[38].rule.index]
    assert [f.kind for f in by_line[52].findings] == ["shadowed"]
    assert any(f.kind == "broad" for f in by_line[38].findings)
    assert by_line[32].services[0].id == "ssh"
    assert by_line[32].services[0].fit == "exact"
    vmap = [a for a in report.rules if a.rule.line == 45]
    assert [a.rule.action for a in vmap] == ["accept", "drop", "accept"]  # one rule per verdict map element
    assert by_line[28].rule.action == "accept"
    assert "loopback" in by_line[28].explanation
    assert by_line[26].explanation.startswith("accepts replies")


def test_nft_maps_sets_and_negations() -> None:
    rs = load("nft", "nft-tricky.json")
    reach = rs.reach["in"]
    assert [r.action for r in rs.rules if r.chain == "input"][:3] == ["drop", "accept", "accept"]  # ct state vmap
    anyone = reach.ranges("tcp", "anyone")
    assert PortRange(7001, 7001) in anyone  # the named verdict map: 7001 accept, 7002 drop, 7003 jump
    assert not any(7002 in r for r in reach.ranges("tcp", "anyone"))
    assert reach.ranges("tcp", "anyone", "ipv6")[0] == PortRange(22, 22)
    assert reach.ranges("sctp", "anyone") == [PortRange(2905, 2905)]
    assert reach.ranges("udp", "anyone") == ports("500,60000-61000")
    negated = next(r for r in rs.rules if r.conditions.sources and str(r.conditions.sources[0]) == "203.0.113.0/24")
    assert negated.conditions.dports == (PortRange(0, 0), PortRange(1024, 65535))
    blocklist = next(r for r in rs.rules if "dyn_block" in r.text)
    assert blocklist.conditions.extras[0].kind == "other"  # a set filled at run time: some sources


def test_nft_goto_and_return() -> None:
    rs = load("nft", "nft-rich.json")
    web = [r for r in rs.rules if r.chain == "web"]
    assert all(r.direction == "in" for r in web)
    assert web[0].opens_some == {"tcp": ports("8000-8100")}
    mgmt_drop = next(r for r in rs.rules if r.chain == "mgmt" and r.action == "drop")
    assert mgmt_drop.reachable  # reached through the goto from 172.16.0.0/12


def test_nft_script_with_add_rule_and_delete_table(tmp_path: Path) -> None:
    script = tmp_path / "rules.nft"
    script.write_text(
        "#!/usr/sbin/nft -f\nflush ruleset\ntable inet t\ndelete table inet t\n"
        "table inet t {\n  chain input {\n    type filter hook input priority 0; policy drop;\n  }\n}\n"
        "add rule inet t input tcp dport 22 accept\ninsert rule inet t input iif lo accept\n",
        "utf-8",
    )
    rs = load_ruleset("nft", str(script))
    assert [r.action for r in rs.rules] == ["accept", "accept"]
    assert rs.reach["in"].ranges("tcp", "anyone") == [PortRange(22, 22)]


def test_nft_script_with_sets_elements_and_bare_statements(tmp_path: Path) -> None:
    script = tmp_path / "script.nft"
    script.write_text(
        "add table inet fw\n"
        "add chain inet fw input { type filter hook input priority 0; policy drop; }\n"
        "add set inet fw web { type inet_service; flags interval; }\n"
        "add element inet fw web { 80, 443, 8000-8080 }\n"
        "add rule inet fw input tcp dport @web accept\n"
        'add rule inet fw input udp dport 53 counter accept comment "dns"\n'
        "add rule inet fw input tcp dport 25 log drop\n",
        "utf-8",
    )
    rs = load_ruleset("nft", str(script))
    assert [r.action for r in rs.rules] == ["accept", "accept", "drop"]
    assert rs.rules[1].comment == "dns"
    assert rs.reach["in"].ranges("tcp", "anyone") == ports("80,443,8000-8080")
    assert rs.reach["in"].ranges("udp", "anyone") == ports("53")


def test_nft_empty_ruleset_is_wide_open(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}', "utf-8")
    reach = load_ruleset("nft", str(path)).reach["in"]
    assert reach.unfiltered == ("ipv4", "ipv6")
    assert reach.ranges("tcp", "anyone") == [PortRange(1, 65535)]


# -- iptables -----------------------------------------------------------------------------------------------


def test_iptables_rich_follows_jumps_gotos_and_returns() -> None:
    rs = load("iptables", "iptables-rich.v4")
    reach = rs.reach["in"]
    assert rs.families == ("ipv4",)
    assert reach.ranges("tcp", "anyone") == ports("22,25,587,993,2222")
    assert reach.ranges("udp", "anyone") == ports("53,161,5004-65535")
    by_line = {r.line: r for r in rs.rules}
    assert by_line[38].shadowed_by == [by_line[25].index]  # udp 5060 inside 5004-65535
    assert by_line[46].shadowed_by == [by_line[45].index]  # accept after RETURN for the same ports
    assert not by_line[48].reachable
    assert "never jumped to" in by_line[48].why_unreachable
    assert by_line[42].reachable  # ADMIN's drop, reached by the goto
    assert by_line[41].opens_some == {"tcp": ports("8443,9090")}
    assert by_line[32].opens_some == {"tcp": ports("9000")}  # the drop before it is for !10.0.0.0/8
    assert by_line[39].direction == "forward"
    assert by_line[40].direction == "out"


def test_iptables_audit_findings(kb: KnowledgeBase) -> None:
    report = audit(kb, ("iptables", str(DATA / "iptables-rich.v4")))
    by_line = {a.rule.line: a for a in report.rules}
    kinds = {line: [f.kind for f in a.findings] for line, a in by_line.items()}
    assert kinds[38] == ["shadowed"]
    assert kinds[48] == ["unreachable"]
    assert "broad" in kinds[25]
    assert by_line[25].broad["udp"]["ports"] == 60532
    assert "source-port" in kinds[30]
    assert kinds[22] == ["partly-decided"]  # 22/tcp: every new connection was accepted by the rule before
    assert by_line[43].services[0].id in ("smtp", "submission", "imaps")
    assert by_line[28].services[0].id == "gre"
    summary = report.to_dict()["summary"]
    assert summary["shadowed"] == 2
    assert summary["unreachable"] == 1


def test_rule_for_a_port_nobody_uses_matches_nothing_known(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "odd.rules"
    path.write_text(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp --dport 48999 -j ACCEPT\n-A INPUT -p udp --dport 60000:61000 -j ACCEPT\nCOMMIT\n",
        "utf-8",
    )
    report = audit(kb, ("iptables", str(path)))
    odd, mosh = report.rules
    assert [f.kind for f in odd.findings] == ["unknown"]  # 48999/tcp: only ranges picked at run time include it
    assert odd.services == []
    assert mosh.services[0].id == "mosh"
    assert mosh.services[0].fit == "exact"  # Mosh's own range, even though it is picked at run time
    assert [f.kind for f in mosh.findings] == ["broad"]


def test_ufw_generated_iptables_agrees_with_ufw_status() -> None:
    """ufw's own iptables-save output and its status describe one firewall: same ports open to anyone."""
    status = load("ufw", "ufw-status-verbose.txt").reach["in"]
    for kind_name, family in (("iptables-ufw.v4", "ipv4"), ("ip6tables-ufw.v6", "ipv6")):
        saved = load("iptables", kind_name).reach["in"]
        for transport in ("tcp", "udp"):
            assert saved.ranges(transport, "anyone", family) == status.ranges(transport, "anyone", family), (
                kind_name,
                transport,
            )


def test_ufw_iptables_limit_rule_shadows_the_later_ssh_rule() -> None:
    rs = load("iptables", "iptables-ufw.v4")
    ssh_from_net = next(r for r in rs.rules if "dapp_SSH" in r.text)
    limit_accept = next(r for r in rs.rules if r.chain == "ufw-user-limit-accept")
    assert ssh_from_net.shadowed_by == [limit_accept.index]
    assert limit_accept.opens == {"tcp": [PortRange(22, 22)]}
    not_local_drop = next(r for r in rs.rules if r.chain == "ufw-not-local" and r.action == "drop")
    assert not_local_drop.reachable
    assert not not_local_drop.shadowed_by


def test_iptables_dash_s_output_reads_like_the_saved_filter_table() -> None:
    listed, saved = load("iptables", "iptables-S-rich.txt"), load("iptables", "iptables-rich.v4")
    assert listed.format == "iptables -S"
    assert listed.reach["in"].ranges("tcp", "anyone") == saved.reach["in"].ranges("tcp", "anyone")
    assert listed.reach["in"].ranges("udp") == saved.reach["in"].ranges("udp")
    assert [r.conditions for r in listed.rules] == [r.conditions for r in saved.rules if r.table == "ip filter"]


def test_iptables_concatenated_families(tmp_path: Path) -> None:
    both = tmp_path / "both.rules"
    both.write_text((DATA / "iptables-rich.v4").read_text() + (DATA / "ip6tables-rich.v6").read_text(), "utf-8")
    rs = load_ruleset("iptables", str(both))
    assert rs.families == ("ipv4", "ipv6")
    reach = rs.reach["in"]
    assert reach.ranges("tcp", "anyone", "ipv6") == ports("22,80,443")
    assert reach.ranges("udp", "anyone", "ipv6") == ports("500,4500")
    assert reach.ranges("tcp", "anyone", "ipv4") == ports("22,25,587,993,2222")


def test_iptables_restore_file_without_header_guesses_family(tmp_path: Path) -> None:
    path = tmp_path / "hand.rules"
    path.write_text(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -s 2001:db8::/32 -p tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -j ACCEPT\n"
        "-A INPUT -p udp ! --dport 1:1023 -j ACCEPT\n"
        "COMMIT\n",
        "utf-8",
    )
    rs = load_ruleset("iptables", str(path))
    assert rs.families == ("ipv6",)
    reach = rs.reach["in"]
    assert reach.ranges("tcp", "anyone") == ports("80,443,8000-8080")
    assert reach.ranges("udp", "anyone") == ports("1024-65535")


# -- ufw ----------------------------------------------------------------------------------------------------


def test_ufw_status_forms() -> None:
    plain, verbose, numbered = (load("ufw", name) for name in FIXTURES["ufw"])
    assert verbose.format == plain.format == "ufw-status"
    assert [r.index for r in numbered.rules] == list(range(1, len(numbered.rules) + 1))
    limit = numbered.rules[1]
    assert limit.action == "accept"
    assert limit.conditions.dports == (PortRange(22, 22),)
    out = next(r for r in numbered.rules if r.index == 10)
    assert out.direction == "out"
    assert out.action == "drop"
    assert any("application rules" in n for n in plain.notes)
    assert any("Default:" in n for n in plain.notes)
    assert not any("Default:" in n for n in verbose.notes)
    app = next(r for r in verbose.rules if "WWW Full" in r.text and r.conditions.family == "ipv4")
    assert app.conditions.dports == (PortRange(80, 80), PortRange(443, 443))  # the verbose form shows the ports
    gre = next(r for r in verbose.rules if "/gre" in r.text)
    assert gre.conditions.protocols == frozenset({47})
    assert gre.opens_protocols == [47]
    sport = next(r for r in verbose.rules if r.text.startswith("Anywhere ALLOW IN 53/udp"))
    assert sport.conditions.sports == (PortRange(53, 53),)
    assert sport.conditions.dports is None
    fwd = next(r for r in verbose.rules if "FWD" in r.text)
    assert fwd.direction == "forward"
    assert fwd.conditions.iif == ("eth1",)
    assert fwd.conditions.oif == ("eth2",)


def test_ufw_inactive_and_defaults(tmp_path: Path) -> None:
    inactive = tmp_path / "inactive.txt"
    inactive.write_text("Status: inactive\n", "utf-8")
    reach = load_ruleset("ufw", str(inactive)).reach["in"]
    assert reach.ranges("udp", "anyone") == [PortRange(1, 65535)]
    allow = tmp_path / "allow.txt"
    allow.write_text(
        "Status: active\nLogging: on (low)\nDefault: allow (incoming), allow (outgoing), disabled (routed)\n"
        "New profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n"
        "23/tcp                     DENY IN     Anywhere\n",
        "utf-8",
    )
    reach = load_ruleset("ufw", str(allow)).reach["in"]
    assert reach.ranges("tcp", "anyone", "ipv4") == ports("1-22,24-65535")
    assert reach.ranges("tcp", "anyone", "ipv6") == ports("1-65535")  # the rule has no (v6) twin


# -- bad files ----------------------------------------------------------------------------------------------


def bad_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "truncated-json": (DATA / "nft-rich.json").read_bytes()[:700],
        "binary": bytes(range(256)) * 4,
        "empty": b"",
        "blank": b"  \n\n",
        "not-utf8": b"table inet x {\xff\xfe}\n",
        "json-list": b"[1, 2, 3]\n",
        "json-other": b'{"rules": []}\n',
        "truncated-iptables": (DATA / "iptables-rich.v4").read_bytes()[:900],
        "truncated-nft-text": (DATA / "nft-rich.txt").read_bytes()[:600],
        "prose": b"This is a shopping list.\nEggs, milk.\n",
        "iptables-bad-option": b"*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n",
        "iptables-undeclared-chain": b"*filter\n:INPUT DROP [0:0]\n-A INPUT -j nowhere\nCOMMIT\n",
        "nft-unknown-set": b"table inet t {\n chain input {\n  type filter hook input priority 0; policy drop;\n"
        b"  tcp dport @missing accept\n }\n}\n",
        "nft-variables": b"define web = { 80, 443 }\ntable inet t {\n}\n",
        "ufw-garbage-rule": b"Status: active\n\nTo   Action   From\n--   ------   ----\nwhat is this\n",
    }
    paths = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths[name] = path
    paths["directory"] = tmp_path
    paths["missing"] = tmp_path / "does-not-exist"
    return paths


@pytest.mark.parametrize("kind", ["nft", "iptables", "ufw"])
def test_bad_files_raise_one_clear_data_error(tmp_path: Path, kind: str) -> None:
    for name, path in bad_files(tmp_path).items():
        with pytest.raises(DataError) as caught:
            load_ruleset(kind, str(path))
        message = str(caught.value)
        assert "\n" not in message, (name, message)
        assert str(path) in message, (name, message)
        assert "expected" in message, (name, message)


def test_wrong_format_gets_a_hint() -> None:
    with pytest.raises(DataError, match=r"looks like iptables-save output: use --iptables"):
        load_ruleset("nft", str(DATA / "iptables-rich.v4"))
    with pytest.raises(DataError, match=r"looks like nft -j JSON: use --nft"):
        load_ruleset("ufw", str(DATA / "nft-rich.json"))
    with pytest.raises(DataError, match=r"ip6tables-rich.v6:\d+: .*use --iptables"):
        load_ruleset("nft", str(DATA / "ip6tables-rich.v6"))


@pytest.mark.parametrize("option", ["--nft", "--iptables", "--ufw"])
def test_cli_bad_files_one_line_exit_2(tmp_path: Path, option: str) -> None:
    for name in ("truncated-json", "binary", "empty", "directory", "prose"):
        path = bad_files(tmp_path)[name]
        result = run_cli("audit", option, str(path))
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, (name, result.stderr)
        assert lines[0].startswith("anyport: "), (name, result.stderr)
        assert "Traceback" not in result.stderr
        assert str(path) in lines[0]


def test_cli_audit_json_and_missing_file() -> None:
    result = run_cli("audit", "--iptables", str(DATA / "iptables-rich.v4"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ruleset"]["format"] == "iptables-save"
    assert any(f["kind"] == "shadowed" for r in data["rules"] for f in r["findings"])
    result = run_cli("audit")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("audit", "--nft", "a", "--ufw", "b")
    assert result.returncode == 2
    assert "one rule set at a time" in result.stderr


def test_cli_audit_text_and_csv() -> None:
    result = run_cli("audit", "--ufw", str(DATA / "ufw-status-verbose.txt"))
    assert result.returncode == 0, result.stderr
    assert "Audit of" in result.stdout
    assert "serves: SSH" in result.stdout
    result = run_cli("audit", "--nft", str(DATA / "nft-rich.json"), "--csv")
    assert result.returncode == 0
    assert result.stdout.startswith("index,line,chain")


def test_audit_is_an_audit_report(kb: KnowledgeBase) -> None:
    report = audit(kb, ("ufw", str(DATA / "ufw-status.txt")))
    assert isinstance(report, AuditReport)
    summary = report.summary()
    # 22, 80, 443, 2222, 4000; the Kerberos profile's 88 and 749 show in the verbose form only
    assert summary["inbound"]["ports"]["tcp"]["anyone"] == 5
    verbose = audit(kb, ("ufw", str(DATA / "ufw-status-verbose.txt"))).summary()
    assert verbose["inbound"]["ports"]["tcp"]["anyone"] == 7


# -- hypothesis: parsers against themselves and against the real tools -------------------------------------

PORT_SETS = st.lists(st.tuples(st.integers(1, 65535), st.integers(0, 3000)), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(tcp=PORT_SETS, udp=PORT_SETS, policy=st.sampled_from(["ACCEPT", "DROP"]))
def test_iptables_reader_open_set_is_the_union_of_accepts(
    tmp_path_factory: pytest.TempPathFactory, tcp: list[tuple[int, int]], udp: list[tuple[int, int]], policy: str
) -> None:
    """A chain of plain accepts: the open set is their union (or everything with an ACCEPT policy)."""
    lines = ["*filter", f":INPUT {policy} [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    expected: dict[str, list[PortRange]] = {}
    for transport, items in (("tcp", tcp), ("udp", udp)):
        for start, width in items:
            end = min(65535, start + width)
            lines.append(f"-A INPUT -p {transport} --dport {start}:{end} -j ACCEPT")
            expected.setdefault(transport, []).append(PortRange(start, end))
    lines.append("COMMIT")
    path = tmp_path_factory.mktemp("ipt") / "rules.v4"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    reach = load_ruleset("iptables", str(path)).reach["in"]
    from anyport.model import merge_ranges

    for transport, ranges in expected.items():
        want = [PortRange(1, 65535)] if policy == "ACCEPT" else merge_ranges(ranges)
        assert reach.ranges(transport, "anyone") == want


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "replace", "truncate", "duplicate"]),
        st.integers(0, 10**6),
        st.sampled_from(list('{}[]",:;()|!/-@# \nxa0.')),
    ),
    min_size=1,
    max_size=4,
)


def mutate(text: str, mutations: list[tuple[str, int, str]]) -> str:
    for op, where, char in mutations:
        lines = text.splitlines(keepends=True)
        if not text:
            break
        if op == "delete" and lines:
            del lines[where % len(lines)]
            text = "".join(lines)
        elif op == "duplicate" and lines:
            lines.insert(where % len(lines), lines[where % len(lines)])
            text = "".join(lines)
        elif op == "truncate":
            text = text[: where % len(text)]
        else:
            index = where % len(text)
            text = text[:index] + char + text[index + 1 :]
    return text


@settings(max_examples=150, deadline=None)
@given(fixture=st.sampled_from(ALL_FIXTURES), mutations=MUTATIONS)
def test_damaged_files_read_or_fail_with_one_line(
    tmp_path_factory: pytest.TempPathFactory, fixture: tuple[str, str], mutations: list[tuple[str, int, str]]
) -> None:
    """Any damage to a real file either still reads or gives one DataError line, never a traceback."""
    kind, name = fixture
    path = tmp_path_factory.mktemp("damaged") / name
    path.write_text(mutate((DATA / name).read_text("utf-8"), mutations), "utf-8")
    message = ""
    try:
        load_ruleset(kind, str(path))
    except DataError as exc:
        message = str(exc)
    if message:
        assert "\n" not in message
        assert str(path) in message


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.sampled_from(["tcp", "@admin_ports", "@nope", "10.0.0.0/8", ""]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["set", "range", "prefix", "payload", "meta", "ct", "op", "left", "right", "jump"]),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(rule=st.integers(0, 10**6), part=st.integers(0, 10**6), value=JSON_VALUES)
def test_odd_json_expressions_read_or_fail_with_one_line(
    tmp_path_factory: pytest.TempPathFactory, rule: int, part: int, value: object
) -> None:
    doc = json.loads((DATA / "nft-rich.json").read_text("utf-8"))
    rules = [item["rule"] for item in doc["nftables"] if "rule" in item]
    target = rules[rule % len(rules)]
    exprs = target["expr"]
    index = part % len(exprs)
    key = next(iter(exprs[index]))
    exprs[index] = {key: value}
    path = tmp_path_factory.mktemp("odd") / "rules.json"
    path.write_text(json.dumps(doc), "utf-8")
    message = ""
    try:
        load_ruleset("nft", str(path))
    except DataError as exc:
        message = str(exc)
    assert "\n" not in message


# pptp and irc are in: their conntrack helpers exist for IPv4 only, and the targets must leave them out of the
# IPv6 rules (ip6tables-restore refuses them), which this round trip proves.
POOL = ["ssh", "http", "https", "smtp", "dns", "ntp", "snmp", "ldap", "mysql", "sip", "rdp", "openvpn",
        "wireguard", "mqtt", "bittorrent", "syslog", "tftp", "kerberos", "ftp", "ipsec", "gre", "pptp", "irc"]  # fmt: skip


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    """One network namespace of our own for loading and listing rule sets; deleted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("loading rule sets into a network namespace needs root")
    for tool in ("ip", "nft", "iptables-restore", "iptables-save", "ip6tables-restore", "ip6tables-save"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    name = f"anyport-rs-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if made.returncode:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def in_ns(ns: str, *args: str) -> str:
    result = subprocess.run(["ip", "netns", "exec", ns, *args], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
    return result.stdout


def check_round_trip(
    ruleset: Ruleset, expected: dict[str, list[PortRange]], protocols: set[int], families: list[str]
) -> None:
    reach = ruleset.reach["in"]
    for family in ("ipv4", "ipv6"):
        for transport in ("tcp", "udp", "sctp", "dccp"):
            got = reach.ranges(transport, "anyone", family)
            if family in families:
                assert got == expected.get(transport, []), (family, transport, got)
            elif ruleset.kind == "nft":  # no table of that family: nothing filters it
                assert got == [PortRange(1, 65535)]
        if family in families:
            opened = set(reach.protocols("anyone", family))
            assert protocols <= opened <= protocols | {1, 58}, (family, opened)
    assert not [r.index for r in ruleset.rules if r.shadowed_by], "generated rules shadow each other"


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    services=st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True),
    raw=st.lists(
        st.tuples(st.sampled_from(["tcp", "udp", "sctp"]), st.integers(1, 65000), st.integers(0, 3000)), max_size=3
    ),
    family=st.sampled_from(["both", "ipv4", "ipv6"]),
    target=st.sampled_from(["nftables", "iptables"]),
)
# gre asked for and used by pptp: once gave the same iptables rule twice
@example(services=["ssh", "gre", "pptp"], raw=[], family="both", target="iptables")
def test_round_trip_through_the_real_tools(
    netns: str,
    kb: KnowledgeBase,
    tmp_path: Path,
    services: list[str],
    raw: list[tuple[str, int, int]],
    family: str,
    target: str,
) -> None:
    """anyport's rules for random services, loaded and listed by nft / iptables-save, read back: same open set."""
    items = services + [f"{t}/{p}-{min(65535, p + w)}" for t, p, w in raw]
    options = make_options(ipv4_only=family == "ipv4", ipv6_only=family == "ipv6")
    selection = select(kb, items, options)
    output = get_target(target).generate(selection, options)
    expected = {t: selection.merged(t) for t in ("tcp", "udp", "sctp", "dccp") if selection.merged(t)}
    protocols = set(selection.protocol_numbers())
    families = ["ipv4", "ipv6"] if family == "both" else [family]
    in_ns(netns, "nft", "flush", "ruleset")
    if target == "nftables":
        script = tmp_path / "rules.nft"
        script.write_text(output.files[""], "utf-8")
        in_ns(netns, "nft", "-f", str(script))
        for name, text in (
            ("listed.json", in_ns(netns, "nft", "-j", "list", "ruleset")),
            ("listed.nft", in_ns(netns, "nft", "list", "ruleset")),
        ):
            listed = tmp_path / name
            listed.write_text(text, "utf-8")
            check_round_trip(load_ruleset("nft", str(listed)), expected, protocols, families)
    else:
        saved = ""
        for suffix, restore, save in (
            (".v4", "iptables-restore", "iptables-save"),
            (".v6", "ip6tables-restore", "ip6tables-save"),
        ):
            if suffix not in output.files:
                continue
            path = tmp_path / f"rules{suffix}"
            path.write_text(output.files[suffix], "utf-8")
            in_ns(netns, restore, str(path))
            saved += in_ns(netns, save)
        listed = tmp_path / "listed.rules"
        listed.write_text(saved, "utf-8")
        ruleset = load_ruleset("iptables", str(listed))
        assert set(ruleset.families) == set(families)
        check_round_trip(ruleset, expected, protocols, families)
    in_ns(netns, "nft", "flush", "ruleset")


MATCHES = [
    "tcp dport {port}",
    "udp dport {port}-{high}",
    "tcp dport {{ {port}, {high} }}",
    "meta l4proto {{ tcp, udp }} th dport {port}",
    "tcp dport != {port}",
    "udp sport 53",
    "ip saddr 10.{octet}.0.0/16",
    "ip6 saddr 2001:db8:{octet}::/48",
    'iifname "eth{octet}"',
    "ct state new",
    "ct state established,related",
    "ip protocol gre",
    "meta l4proto esp",
    "icmp type echo-request",
    "tcp flags syn",
    "limit rate 10/second",
    "ip daddr 192.0.2.{octet}",
    "meta pkttype multicast",
    "fib daddr type local",
]
STATEMENTS = ["", "counter", 'log prefix "x "', "counter packets 1 bytes 2"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    rules=st.lists(
        st.tuples(
            st.lists(st.sampled_from(MATCHES), max_size=3, unique=True),
            st.sampled_from(STATEMENTS),
            st.sampled_from(["accept", "drop", "reject", "jump sub"]),
            st.integers(1, 65000),
            st.integers(0, 5000),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=12,
    ),
    policy=st.sampled_from(["accept", "drop"]),
)
def test_nft_text_and_json_listings_agree_on_random_rule_sets(
    netns: str, tmp_path: Path, rules: list[tuple[list[str], str, str, int, int, int]], policy: str
) -> None:
    """Random rules loaded into nft and listed both ways read back as the same rules and the same open set."""
    lines = [
        "flush ruleset",
        "table inet t {",
        "  chain sub {",
        "    ip saddr 192.0.2.0/24 accept",
        "    return",
        "  }",
    ]
    lines += ["  chain input {", f"    type filter hook input priority 0; policy {policy};"]
    for matches, statement, verdict, port, width, octet in rules:
        transports = [m for m in matches if m.startswith(("tcp", "udp", "meta l4proto", "icmp", "ip protocol"))]
        if len(transports) > 1:
            matches = [m for m in matches if m not in transports[1:]]
        text = " ".join(m.format(port=port, high=min(65535, port + width), octet=octet) for m in matches)
        lines.append(f"    {text} {statement} {verdict}".replace("  ", " "))
    lines += ["  }", "}"]
    script = tmp_path / "random.nft"
    script.write_text("\n".join(lines) + "\n", "utf-8")
    loaded = subprocess.run(
        ["ip", "netns", "exec", netns, "nft", "-f", str(script)], capture_output=True, text=True, check=False
    )
    if loaded.returncode:
        event("nft refused")
        return  # a combination nft itself refuses
    event("loaded")
    json_path, text_path = tmp_path / "listed.json", tmp_path / "listed.nft"
    json_path.write_text(in_ns(netns, "nft", "-j", "list", "ruleset"), "utf-8")
    text_path.write_text(in_ns(netns, "nft", "list", "ruleset"), "utf-8")
    in_ns(netns, "nft", "flush", "ruleset")
    from_json, from_text = load_ruleset("nft", str(json_path)), load_ruleset("nft", str(text_path))
    assert [(r.action, r.conditions) for r in from_json.rules] == [(r.action, r.conditions) for r in from_text.rules]
    assert from_json.reach["in"].segments == from_text.reach["in"].segments
    assert [r.shadowed_by for r in from_json.rules] == [r.shadowed_by for r in from_text.rules]


IPT_MATCHES = [
    "-p tcp --dport {port}",
    "-p udp -m multiport --dports {port},{high}",
    "-p tcp -m multiport --dports {port}:{high}",
    "-p tcp ! --dport {port}",
    "-p udp --sport 53",
    "-s 10.{octet}.0.0/16",
    "! -s 10.{octet}.0.0/16",
    "-i eth{octet}",
    "-i lo",
    "-d 192.0.2.{octet}",
    "-m conntrack --ctstate NEW",
    "-m state --state ESTABLISHED,RELATED",
    "-m limit --limit 10/second",
    "-p gre",
    "-p icmp --icmp-type echo-request",
    "-p tcp --syn",
    "-m addrtype --dst-type LOCAL",
]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    rules=st.lists(
        st.tuples(
            st.lists(st.sampled_from(IPT_MATCHES), max_size=3, unique=True),
            st.sampled_from(["ACCEPT", "DROP", "REJECT", "SUB", "LOG --log-prefix x"]),
            st.integers(1, 65000),
            st.integers(0, 5000),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=12,
    ),
    policy=st.sampled_from(["ACCEPT", "DROP"]),
)
def test_iptables_file_and_its_iptables_save_listing_agree(
    netns: str, tmp_path: Path, rules: list[tuple[list[str], str, int, int, int]], policy: str
) -> None:
    """A hand-written restore file and what iptables-save prints after loading it give the same open set."""
    lines = ["*filter", f":INPUT {policy} [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":SUB - [0:0]"]
    lines += ["-A SUB -s 192.0.2.0/24 -j ACCEPT", "-A SUB -p tcp -j RETURN", "-A SUB -j DROP"]
    for matches, target, port, width, octet in rules:
        protocol = [m for m in matches if m.startswith(("-p", "! -p"))]
        if len(protocol) > 1:
            matches = [m for m in matches if m not in protocol[1:]]
        text = " ".join(m.format(port=port, high=min(65535, port + width), octet=octet) for m in matches)
        lines.append(f"-A INPUT {text} -j {target}".replace("  ", " "))
    lines.append("COMMIT")
    written = tmp_path / "written.rules"
    written.write_text("\n".join(lines) + "\n", "utf-8")
    loaded = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-restore", str(written)], capture_output=True, text=True, check=False
    )
    if loaded.returncode:
        event("iptables-restore refused")
        return
    event("loaded")
    saved = tmp_path / "saved.rules"
    saved.write_text(in_ns(netns, "iptables-save"), "utf-8")
    in_ns(netns, "nft", "flush", "ruleset")
    mine, theirs = load_ruleset("iptables", str(written)), load_ruleset("iptables", str(saved))
    for family in ("ipv4",):
        for transport in ("tcp", "udp"):
            for level in ("anyone", "some"):
                assert mine.reach["in"].ranges(transport, level, family) == theirs.reach["in"].ranges(
                    transport, level, family
                ), (transport, level)
    assert canonical(mine) == canonical(theirs)


def canonical(ruleset: Ruleset) -> dict[tuple[str, int], tuple[str, list[tuple[str, int]]]]:
    """Each rule by chain and position: its action and the rules that shadow it (file order aside)."""
    where = {}
    for chain in ruleset.chains.values():
        for position, rule in enumerate(chain.rules):
            where[rule.index] = (chain.name, position)
    return {where[r.index]: (r.action, sorted(where[i] for i in r.shadowed_by)) for r in ruleset.rules}
