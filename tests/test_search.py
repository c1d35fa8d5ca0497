"""Search by name, alias and description: case-insensitive, typo-tolerant, filtered."""

from __future__ import annotations

import pytest

from anyport.errors import QueryError
from anyport.query.kb import KnowledgeBase
from anyport.query.search import categories, search


def names(kb: KnowledgeBase, text: str, **filters: object) -> list[str]:
    return [h.name for h in search(kb, text, **filters).hits]  # type: ignore[arg-type]


def test_instant_messaging_finds_messengers(kb: KnowledgeBase) -> None:
    found = names(kb, "instant messaging", limit=60)
    for expected in ("msn-messenger", "aim", "icq", "xmpp", "yahoo-messenger"):
        assert expected in found, found


def test_active_services_rank_before_defunct_ones(kb: KnowledgeBase) -> None:
    hits = search(kb, "instant messaging", limit=60).hits
    catalog = [h for h in hits if h.source == "catalog"]
    statuses = [h.status == "active" for h in catalog]
    assert statuses.index(False) > statuses.index(True)


def test_search_is_case_insensitive(kb: KnowledgeBase) -> None:
    assert names(kb, "BITTORRENT")[0] == "bittorrent"
    assert names(kb, "bittorrent")[0] == "bittorrent"


@pytest.mark.parametrize(
    ("typo", "expected"), [("bittorent", "bittorrent"), ("postgressql", "postgresql"), ("wireguad", "wireguard")]
)
def test_search_tolerates_typos(kb: KnowledgeBase, typo: str, expected: str) -> None:
    result = search(kb, typo)
    assert result.corrections
    assert expected in [h.name for h in result.hits[:3]], result.hits[:3]


def test_prefixes_match(kb: KnowledgeBase) -> None:
    assert "msn-messenger" in names(kb, "messeng")


def test_aliases_match(kb: KnowledgeBase) -> None:
    assert names(kb, "ms-wbt-server")[0] == "rdp"


def test_descriptions_match(kb: KnowledgeBase) -> None:
    assert "iscsi" in names(kb, "block storage")


def test_filters(kb: KnowledgeBase) -> None:
    games = search(kb, "server", categories=["gaming"]).hits
    assert games
    assert all("gaming" in h.categories for h in games)
    defunct = search(kb, "messenger", status="defunct").hits
    assert all(h.status == "defunct" for h in defunct)
    udp = names(kb, "voice", transport="udp")
    assert udp
    assert "ventrilo" in udp or "mumble" in udp


def test_iana_names_come_after_curated_ones(kb: KnowledgeBase) -> None:
    hits = search(kb, "kerberos", limit=40).hits
    sources = [h.source for h in hits]
    assert sources[0] == "catalog"
    assert "iana" in sources
    assert sources.index("iana") > max(i for i, s in enumerate(sources) if s == "catalog")


@pytest.mark.parametrize("bad", ["", "   ", "!!!", "x" * 201])
def test_bad_search_text(kb: KnowledgeBase, bad: str) -> None:
    with pytest.raises(QueryError):
        search(kb, bad)


def test_unknown_category_is_an_error(kb: KnowledgeBase) -> None:
    with pytest.raises(QueryError, match="did you mean gaming"):
        search(kb, "x", categories=["gamng"])


def test_fts_syntax_in_text_is_just_text(kb: KnowledgeBase) -> None:
    search(kb, 'NEAR(" OR * AND')  # must not raise an SQLite error
    search(kb, "<script>alert(1)</script>")


def test_categories_are_counted(kb: KnowledgeBase) -> None:
    counts = dict(categories(kb))
    assert counts["gaming"] >= 20
    assert counts["database"] >= 20
    assert sum(counts.values()) >= 639
