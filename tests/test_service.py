"""``anyport service``: everything needed to open a service, references resolved, with warnings."""

from __future__ import annotations

import pytest

from anyport.errors import NotFoundError, QueryError
from anyport.query.kb import KnowledgeBase
from anyport.query.service import service_info


def test_references_are_resolved(kb: KnowledgeBase) -> None:
    info = service_info(kb, "netmeeting")
    referenced = {s.id for s in info.referenced}
    assert {"ldap", "ulp", "h323-hostcall", "ms-iccp"} <= referenced
    via_ldap = [r for r in info.resolved if r.via and r.via[-1] == "ldap"]
    assert via_ldap
    assert any(389 in rng for r in via_ldap for rng in r.spec.ranges)


def test_pptp_needs_gre_and_a_helper(kb: KnowledgeBase) -> None:
    info = service_info(kb, "pptp")
    assert any(r.spec.kind == "ip" and r.spec.ip_proto == 47 for r in info.resolved)
    text = " ".join(info.warnings)
    assert "pptp conntrack helper" in text
    assert "IP protocol 47 is not a port" in text


def test_dynamic_ranges_are_warned_about(kb: KnowledgeBase) -> None:
    text = " ".join(service_info(kb, "windows-messenger").warnings)
    assert "5004-65535/udp" in text
    assert "risk:" in text


def test_obsolete_services_say_so(kb: KnowledgeBase) -> None:
    info = service_info(kb, "cooltalk")
    assert info.service.status in ("obsolete", "defunct")
    assert any("traffic on these ports today is probably something else" in w for w in info.warnings)


def test_iana_disagreement_is_shown(kb: KnowledgeBase) -> None:
    info = service_info(kb, "waste")
    assert any(r["name"] == "menandmice-dns" and not r["matches_catalog"] for r in info.iana)


def test_lookup_by_alias_and_title(kb: KnowledgeBase) -> None:
    assert service_info(kb, "ms-wbt-server").service.id == "rdp"
    assert service_info(kb, "BitTorrent").service.id == "bittorrent"


def test_unknown_service_suggests_names(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFoundError) as excinfo:
        service_info(kb, "bittorent")
    assert "did you mean" in str(excinfo.value)
    assert "bittorrent" in excinfo.value.suggestions


def test_empty_name(kb: KnowledgeBase) -> None:
    with pytest.raises(QueryError):
        service_info(kb, " ")


def test_json_has_resolved_specs(kb: KnowledgeBase) -> None:
    data = service_info(kb, "quicktime-4").to_dict()
    assert data["id"] == "quicktime-4"
    services = {r["service"] for r in data["resolved"]}
    assert {"rtsp", "rtp-qt4"} <= services
    assert all("kind" in r for r in data["resolved"])
