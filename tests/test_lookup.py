"""Lookups rank real-world use first and say why each match matched."""

from __future__ import annotations

import pytest

from anyport.errors import QueryError
from anyport.query.kb import KnowledgeBase
from anyport.query.lookup import lookup

WELL_KNOWN = [
    ("22/tcp", "ssh"),
    ("25/tcp", "smtp"),
    ("53/udp", "dns"),
    ("80/tcp", "http"),
    ("123/udp", "ntp"),
    ("135/tcp", "msrpc"),
    ("389/tcp", "ldap"),
    ("443/tcp", "https"),
    ("445/tcp", "smb"),
    ("587/tcp", "submission"),
    ("631/tcp", "ipp"),
    ("993/tcp", "imaps"),
    ("1194/udp", "openvpn"),
    ("1433/tcp", "ms-sql-server"),
    ("1723/tcp", "pptp"),
    ("1883/tcp", "mqtt"),
    ("3260/tcp", "iscsi"),
    ("3306/tcp", "mysql"),
    ("3389/tcp", "rdp"),
    ("5060/udp", "sip"),
    ("5222/tcp", "xmpp"),
    ("5353/udp", "mdns"),
    ("5432/tcp", "postgresql"),
    ("5900/tcp", "vnc"),
    ("6379/tcp", "redis"),
    ("6443/tcp", "kube-apiserver"),
    ("6881/tcp", "bittorrent"),
    ("9100/tcp", "jetdirect"),
    ("27017/tcp", "mongodb"),
    ("51820/udp", "wireguard"),
]


@pytest.mark.parametrize(("query", "expected"), WELL_KNOWN)
def test_well_known_ports_rank_their_service_first(kb: KnowledgeBase, query: str, expected: str) -> None:
    result = lookup(kb, query)
    assert result.matches, query
    assert result.matches[0].name == expected, [(m.name, round(m.confidence, 2)) for m in result.matches[:5]]
    assert result.matches[0].source == "catalog"


def test_matches_are_sorted_by_confidence(kb: KnowledgeBase) -> None:
    result = lookup(kb, "5004")
    confidences = [m.confidence for m in result.matches]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0 <= c <= 1 for c in confidences)


def test_every_kind_of_match_explains_itself(kb: KnowledgeBase) -> None:
    result = lookup(kb, "389/tcp")
    kinds = {m.match for m in result.matches}
    assert {"exact", "reference", "dynamic"} <= kinds
    netmeeting = next(m for m in result.matches if m.name == "netmeeting")
    assert netmeeting.match == "reference"
    assert "ldap" in netmeeting.why
    for match in result.matches:
        assert match.why
        assert match.source in ("catalog", "local", "iana", "trojans")


def test_ranking_tiers(kb: KnowledgeBase) -> None:
    """Curated fixed ports, then IANA-only names, then broad or dynamic ranges, then trojan history."""
    result = lookup(kb, "1080/tcp")
    order = [(m.source, m.match) for m in result.matches]
    assert order[0] == ("catalog", "exact")
    trojans = [i for i, (source, _kind) in enumerate(order) if source == "trojans"]
    dynamic = [i for i, (_source, kind) in enumerate(order) if kind == "dynamic"]
    assert trojans
    assert dynamic
    assert min(trojans) > max(i for i, (s, _k) in enumerate(order) if s != "trojans")
    assert min(dynamic) > 0


def test_iana_only_port(kb: KnowledgeBase) -> None:
    result = lookup(kb, "3323/tcp")  # active-net: only IANA knows it
    assert result.matches[0].source == "iana"
    assert result.matches[0].name == "active-net"
    assert "IANA registers 3322-3325/tcp as active-net" in result.matches[0].why


def test_curated_entry_absorbs_its_own_iana_record(kb: KnowledgeBase) -> None:
    result = lookup(kb, "3389/tcp")
    rdp = result.matches[0]
    assert rdp.name == "rdp"
    assert "ms-wbt-server" in rdp.iana
    assert not any(m.source == "iana" and m.name == "ms-wbt-server" for m in result.matches)


def test_iana_disagreement_shows_both(kb: KnowledgeBase) -> None:
    names = {(m.source, m.name) for m in lookup(kb, "1337/tcp").matches}
    assert ("catalog", "waste") in names
    assert ("iana", "menandmice-dns") in names


def test_trojan_history_is_shown_last_with_a_risk(kb: KnowledgeBase) -> None:
    result = lookup(kb, "31337/udp")
    trojan = [m for m in result.matches if m.source == "trojans"]
    assert trojan
    assert "Back Orifice" in trojan[0].description or "BO" in trojan[0].description
    assert trojan[0].risks
    assert result.matches[-1].source == "trojans"


def test_range_query_lists_every_service_in_the_range(kb: KnowledgeBase) -> None:
    result = lookup(kb, "6881-6889/tcp")
    names = {m.name for m in result.matches}
    assert "bittorrent" in names
    assert "muse" in names  # IANA's 6888
    assert result.kind == "range"
    assert "9 ports" in result.context[0]


def test_unknown_port_says_so_with_context(kb: KnowledgeBase) -> None:
    result = lookup(kb, "48620/tcp")
    assert not [m for m in result.matches if m.pins_the_port]
    assert result.matches  # the broad dynamic ranges that include it are still listed
    text = " ".join(result.context)
    assert "user (registered) port" in text
    assert "unassigned" in text
    assert "no curated service" in text


def test_ephemeral_context(kb: KnowledgeBase) -> None:
    text = " ".join(lookup(kb, "50000/udp").context)
    assert "dynamic/private range 49152-65535" in text
    assert "Linux's default ephemeral range" in text


def test_ip_protocol_lookup_includes_services_that_use_it(kb: KnowledgeBase) -> None:
    result = lookup(kb, "ip:47")
    assert result.matches[0].name == "gre"
    assert "GRE" in result.matches[0].iana
    assert any(m.name == "pptp" and m.match == "reference" for m in result.matches)
    esp = lookup(kb, "esp")
    assert any(m.name == "ipsec" for m in esp.matches)


def test_dnssd_type(kb: KnowledgeBase) -> None:
    result = lookup(kb, "_ipp._tcp")
    assert result.matches[0].name == "ipp"
    assert result.matches[0].ports.startswith("631")
    assert lookup(kb, "_printer._tcp").matches[0].name == "lpd"


@pytest.mark.parametrize(
    ("name", "expected"), [("bittorrent", "bittorrent"), ("BitTorrent", "bittorrent"), ("ms-wbt-server", "rdp")]
)
def test_name_lookup(kb: KnowledgeBase, name: str, expected: str) -> None:
    result = lookup(kb, name)
    assert result.matches[0].name == expected
    assert result.matches[0].match == "name"


def test_unknown_name_suggests(kb: KnowledgeBase) -> None:
    result = lookup(kb, "bittorent")
    assert not result.matches
    assert "did you mean" in result.context[0]
    assert "bittorrent" in result.context[0]


def test_json_contract(kb: KnowledgeBase) -> None:
    data = lookup(kb, "6881").to_dict()
    assert set(data) >= {"query", "matches"}
    assert data["query"] == "6881"
    first = data["matches"][0]
    for key, kind in {
        "name": str,
        "title": str,
        "aliases": list,
        "transport": str,
        "ports": str,
        "match": str,
        "source": str,
        "confidence": float,
        "categories": list,
        "description": str,
        "risks": list,
    }.items():
        assert isinstance(first[key], kind), key
    assert first["match"] in ("exact", "range", "dynamic", "reference", "name")
    assert first["source"] in ("catalog", "iana", "trojans", "local", "nmap")
    assert first["name"] == "bittorrent"
    assert "6881" in first["ports"]


def test_bad_queries_raise_query_error(kb: KnowledgeBase) -> None:
    for bad in ("70000", "-1", "10-5", "abc/tcp", ""):
        with pytest.raises(QueryError):
            lookup(kb, bad)
