"""``anyport exposure``: what open ports and rule sets expose, checked against plain queries of the index."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anyport.errors import DataError, NotFoundError, QueryError
from anyport.model import PortRange
from anyport.query.kb import KnowledgeBase
from anyport.rules.exposure import ExposureReport, exposure
from conftest import run_cli

DATA = Path(__file__).resolve().parent / "data" / "rulesets"
KEYS = {"items", "ruleset", "open", "protocols", "summary", "services", "iana", "trojans", "risks", "notes"}


def naive_services(kb: KnowledgeBase, transport: str, start: int, end: int) -> set[str]:
    """Services with a fixed (or family, or narrow chosen) inbound port in start-end, straight from SQL."""
    rows = kb.rows(
        "SELECT DISTINCT service FROM ranges WHERE transport = ? AND start <= ? AND end >= ? "
        "AND direction != 'outbound' AND (allocation IN ('fixed', 'family') "
        "OR (allocation = 'selected' AND end - start < 10))",
        (transport, end, start),
    )
    return {r[0] for r in rows}


def naive_trojans(kb: KnowledgeBase, transport: str, start: int, end: int) -> list[int]:
    rows = kb.rows(
        "SELECT port FROM trojans WHERE transport = ? AND port BETWEEN ? AND ? ORDER BY port", (transport, start, end)
    )
    return [r[0] for r in rows]


def naive_iana_names(kb: KnowledgeBase, transport: str, start: int, end: int) -> int:
    rows = kb.rows(
        "SELECT COUNT(DISTINCT name) FROM iana WHERE transport = ? AND start <= ? AND end >= ? AND name != ''",
        (transport, end, start),
    )
    return int(rows[0][0])


# -- the seed's warning: udp/5004-65535 ---------------------------------------------------------------------


def test_udp_5004_65535_exposes_everything_known_there(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["udp/5004-65535"], None)
    summary = report.summary()
    assert summary["ports"] == {"udp": {"ports": 60532, "percent": 92.37, "anyone": 60532, "some": 0}}
    assert {s.id for s in report.services} == naive_services(kb, "udp", 5004, 65535)
    assert len(report.services) > 100
    assert [t["port"] for t in report.trojans] == naive_trojans(kb, "udp", 5004, 65535)
    assert report.iana["udp"]["names"] == naive_iana_names(kb, "udp", 5004, 65535)
    assert report.iana["udp"]["shown"] == []  # too many to list: counts only
    assert all(s.transport == "udp" and not s.requested for s in report.services)
    # biggest risks first: everything with a risk note comes before everything without
    with_risks = [bool(s.risks) for s in report.services]
    assert with_risks == sorted(with_risks, reverse=True)


def test_udp_5004_65535_twice_gives_the_same_report(kb: KnowledgeBase) -> None:
    first = exposure(kb, ["udp/5004-65535"], None)  # the second run answers from warm caches
    report = exposure(kb, ["udp/5004-65535"], None)
    assert report.to_dict() == first.to_dict()
    assert report.render_text() == first.render_text()


def test_windows_messenger_by_name(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["windows-messenger"], None)
    assert "windows-messenger" in report.open.requested
    assert report.count("udp") == 60532
    risks = [r for r in report.risks if r["service"] == "windows-messenger"]
    assert risks
    assert risks[0]["requested"]
    assert "5004" in risks[0]["risk"]
    # what it opens on purpose (SIP, RTP...) is marked, the rest is exposure on top
    requested = {s.id for s in report.services if s.requested}
    assert "sip" in requested
    others = {s.id for s in report.services if not s.requested}
    assert "sip" not in others
    assert len(others) > 100
    text = report.render_text()
    assert "Opened on purpose: Windows Messenger" in text
    assert "more (use --json)" in text
    assert "Opening all UDP ports from 5004 to 65535" in text


def test_small_spec_and_bare_port(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["tcp/22"], None)
    ssh = next(s for s in report.services if s.id == "ssh")
    assert ssh.coverage == "all"
    assert ssh.exposed == [PortRange(22, 22)]
    assert ssh.level == "anyone"
    assert [t["port"] for t in report.trojans] == [22]
    assert report.iana["tcp"]["shown"] == ["ssh"]
    both = exposure(kb, ["53"], None)
    assert both.open.transports() == ["tcp", "udp"]
    assert any("has no transport" in n for n in both.notes)


def test_partial_coverage_and_ip_protocols(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["tcp/6000-6010", "ip:47"], None)
    x11 = next(s for s in report.services if s.id == "x11")
    assert x11.coverage == "part"
    assert x11.exposed == [PortRange(6000, 6010)]
    assert [(p.protocol, p.name) for p in report.open.protocols] == [(47, "gre")]
    assert "pptp" in report.open.protocols[0].services


def test_bad_items(kb: KnowledgeBase) -> None:
    with pytest.raises(QueryError):
        exposure(kb, [], None)
    with pytest.raises(QueryError):
        exposure(kb, ["udp/70000"], None)
    with pytest.raises(NotFoundError):
        exposure(kb, ["no-such-service-anywhere"], None)


# -- outputs ------------------------------------------------------------------------------------------------


def test_to_dict_keys_and_json(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["windows-messenger", "tcp/22"], None)
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == KEYS
    assert data["ruleset"] is None
    assert data["items"] == ["windows-messenger", "tcp/22"]
    assert {"transport", "ports", "count", "level", "families", "by"} == set(data["open"][0])
    service = data["services"][0]
    assert {"id", "title", "transport", "exposed", "ports", "coverage", "level", "requested", "status",
            "categories", "risks"} == set(service)  # fmt: skip
    assert set(data["summary"]) >= {"ports", "services", "iana_names", "iana_ports", "trojan_ports", "anyone"}
    assert "records" not in data["iana"]["udp"]


def test_csv_rows(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["udp/5004-65535"], None)
    rows = list(csv.reader(io.StringIO(report.to_csv())))
    assert rows[0] == ["kind", "transport", "ports", "id", "title", "level", "coverage", "requested", "detail"]
    kinds = [r[0] for r in rows[1:]]
    assert kinds.count("service") == len(report.services)
    assert kinds.count("trojan") == len(report.trojans)
    assert kinds.count("iana") == report.iana["udp"]["names"]
    assert kinds.count("open") == 1


def test_text_report_shape(kb: KnowledgeBase) -> None:
    text = exposure(kb, ["udp/5004-65535"], None).render_text()
    lines = text.splitlines()
    assert lines[0] == "Exposure of udp/5004-65535"
    assert "60532 ports (92.37% of 65535) open to anyone" in lines[1]
    assert lines[2].strip().startswith("inside:")
    assert text.index("Biggest risks") < text.index("Trojan-history ports")
    assert sum("more (use --json)" in line for line in lines) >= 2


# -- rule sets ----------------------------------------------------------------------------------------------


def test_exposure_of_a_ruleset(kb: KnowledgeBase) -> None:
    report = exposure(kb, [], ("nft", str(DATA / "nft-rich.json")))
    anyone = report.open.ranges("tcp", "anyone")
    assert PortRange(22, 22) in anyone
    some_only = [s for s in report.open.stretches if s.transport == "tcp" and s.level == "some"]
    assert any(5432 in s.ports for s in some_only)
    postgres = next(s for s in report.services if s.id == "postgresql")
    assert postgres.level == "some"
    assert report.open.ranges("udp", "anyone")[-1] == PortRange(5004, 65535)
    by = next(s.by for s in report.open.stretches if s.transport == "tcp" and 22 in s.ports)
    assert by
    assert all(b.startswith("rule ") for b in by)
    data = report.to_dict()
    assert data["ruleset"]["format"] == "nft-json"


def test_exposure_of_anyports_own_rules_matches_what_was_asked(kb: KnowledgeBase) -> None:
    from_rules = exposure(kb, [], ("nft", str(DATA / "nft-windows-messenger.json")))
    from_name = exposure(kb, ["windows-messenger"], None)
    assert from_rules.open.ranges("udp", "anyone") == from_name.open.ranges("udp", "anyone")
    assert from_rules.open.ranges("tcp", "anyone") == from_name.open.ranges("tcp", "anyone")
    assert {s.id for s in from_rules.services} == {s.id for s in from_name.services}


def test_items_and_ruleset_together(kb: KnowledgeBase) -> None:
    report = exposure(kb, ["tcp/31337"], ("ufw", str(DATA / "ufw-status-verbose.txt")))
    stretch = next(s for s in report.open.stretches if s.transport == "tcp" and 31337 in s.ports)
    assert stretch.level == "anyone"
    assert "tcp/31337" in stretch.by


def test_ruleset_notes_reach_the_report(kb: KnowledgeBase) -> None:
    report = exposure(kb, [], ("iptables", str(DATA / "iptables-rich.v4")))
    assert any("IPv6 is not in this file" in n for n in report.notes)
    ufw = exposure(kb, [], ("ufw", str(DATA / "ufw-status.txt")))
    assert any("application rules" in n for n in ufw.notes)


def test_bad_ruleset_file(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text('{"nftables": [{"table": {"family": "inet", "name": "x"}', "utf-8")
    with pytest.raises(DataError, match=r"rules\.json:1: not valid JSON"):
        exposure(kb, [], ("nft", str(path)))


# -- the command line ---------------------------------------------------------------------------------------


def test_cli_exposure_range() -> None:
    result = run_cli("exposure", "udp/5004-65535")
    assert result.returncode == 0, result.stderr
    assert "60532 ports (92.37% of 65535)" in result.stdout
    assert "Trojan-history ports inside" in result.stdout


def test_cli_exposure_service_json() -> None:
    result = run_cli("exposure", "windows-messenger", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["summary"]["ports"]["udp"]["ports"] == 60532
    assert any(r["service"] == "windows-messenger" for r in data["risks"])


def test_cli_exposure_ruleset_text_and_csv() -> None:
    result = run_cli("exposure", "--nft", str(DATA / "nft-rich.txt"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Exposure of the rule set")
    result = run_cli("exposure", "--iptables", str(DATA / "iptables-ufw.v4"), "--csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kind,transport,ports")


@pytest.mark.parametrize(
    ("content", "option"),
    [
        (b'{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"fam', "--nft"),
        (bytes(range(256)), "--iptables"),
        (b"", "--ufw"),
        (b"*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n", "--iptables"),
        (b"Status: active\n", "--nft"),
        (b"Status: maybe\n", "--ufw"),
    ],
)
def test_cli_bad_ruleset_one_line_exit_2(tmp_path: Path, content: bytes, option: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    result = run_cli("exposure", option, str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"anyport: {path}"), result.stderr
    assert "Traceback" not in result.stderr


def test_cli_directory_and_nothing_given(tmp_path: Path) -> None:
    result = run_cli("exposure", "--ufw", str(tmp_path))
    assert result.returncode == 2
    assert "is a directory" in result.stderr
    result = run_cli("exposure")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


# -- properties ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    transport=st.sampled_from(["tcp", "udp"]),
    start=st.integers(1, 65535),
    width=st.integers(0, 70000),
)
def test_any_range_matches_plain_sql(kb: KnowledgeBase, transport: str, start: int, width: int) -> None:
    end = min(65535, start + width)
    report: ExposureReport = exposure(kb, [f"{transport}/{start}-{end}"], None)
    assert report.count(transport) == end - start + 1
    assert {s.id for s in report.services} == naive_services(kb, transport, start, end)
    assert [t["port"] for t in report.trojans] == naive_trojans(kb, transport, start, end)
    assert sum(v["names"] for v in report.iana.values()) == naive_iana_names(kb, transport, start, end)
    for svc in report.services:
        assert all(start <= r.start and r.end <= end for r in svc.exposed)
