"""Full-text search over names, aliases and descriptions: case-insensitive, prefix-aware, typo-tolerant."""

from __future__ import annotations

import difflib
import re

from anyport.errors import QueryError
from anyport.query.kb import KnowledgeBase
from anyport.results import SearchHit, SearchResult
from anyport.vocab import CATEGORIES, STATUSES, TRANSPORTS

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TEXT = 200
MAX_WORDS = 12
# bm25 column weights: id, title, aliases, categories, description, notes
_WEIGHTS = "10.0, 10.0, 8.0, 5.0, 2.0, 1.0"


def search(
    kb: KnowledgeBase,
    text: str,
    *,
    categories: list[str] | None = None,
    transport: str | None = None,
    status: str | None = None,
    limit: int = 20,
) -> SearchResult:
    """Services whose names, aliases or descriptions match ``text``, best first; IANA names after them."""
    words = _words(text)
    _check_filters(categories or [], transport, status, limit)
    corrections: dict[str, str] = {}
    terms = []
    for word in words:
        if _known(kb, word):
            terms.append(word)
            continue
        corrected = _correct(kb, word)
        if corrected:
            corrections[word] = corrected
            terms.append(corrected)
        else:
            terms.append(word)
    hits = _catalog_hits(kb, terms, text)
    hits = [h for h in hits if _passes(kb, h, categories or [], transport, status)]
    if len(hits) < limit and not categories and not transport and status in (None, "active"):
        seen = {h.name for h in hits}
        hits += [h for h in _iana_hits(kb, terms) if h.name not in seen]
    return SearchResult(text=text, hits=hits[:limit], corrections=corrections)


def _words(text: str) -> list[str]:
    if not isinstance(text, str) or not text.strip():
        raise QueryError("empty search; give a word from a service's name or description")
    if len(text) > MAX_TEXT:
        raise QueryError(f"search text is {len(text)} characters long; keep it under {MAX_TEXT}")
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        raise QueryError(f"{text!r} has no words to search for; use letters or digits")
    return words[:MAX_WORDS]


def _check_filters(categories: list[str], transport: str | None, status: str | None, limit: int) -> None:
    for category in categories:
        if category not in CATEGORIES:
            close = difflib.get_close_matches(category, CATEGORIES, n=1)
            hint = f"did you mean {close[0]}?" if close else "see 'anyport categories'"
            raise QueryError(f"unknown category {category!r}; {hint}")
    if transport is not None and transport not in (*TRANSPORTS, "ip"):
        raise QueryError(f"unknown transport {transport!r}; use tcp, udp, sctp, dccp or ip")
    if status is not None and status not in STATUSES:
        raise QueryError(f"unknown status {status!r}; use active, obsolete or defunct")
    if limit < 1:
        raise QueryError("--limit must be at least 1")


def _known(kb: KnowledgeBase, word: str) -> bool:
    if len(word) < 3 or word.isdigit():
        return True
    row = kb.rows("SELECT 1 FROM vocab WHERE term >= ? AND term < ? LIMIT 1", (word, word + "\uffff"))
    return bool(row)


def _correct(kb: KnowledgeBase, word: str) -> str | None:
    """The closest vocabulary word, preferring catalog names and categories over description words."""
    size = len(word)
    for min_weight in (2, 1):
        candidates: list[str] = [
            str(r[0])
            for r in kb.rows(
                "SELECT term FROM vocab WHERE weight >= ? AND length(term) BETWEEN ? AND ?",
                (min_weight, size - 2, size + 2),
            )
        ]
        close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
        if close:
            return close[0]
    return None


def _fts_query(terms: list[str], any_word: bool) -> str:
    parts = [f'"{t}"*' for t in terms]
    return (" OR " if any_word else " AND ").join(parts)


def _catalog_hits(kb: KnowledgeBase, terms: list[str], text: str) -> list[SearchHit]:
    rows = []
    for any_word in (False, True):
        rows = kb.rows(
            f"SELECT services.id, bm25(service_fts, {_WEIGHTS}) AS rank FROM service_fts "
            "JOIN services ON services.id = replace(service_fts.id, ' ', '-') "
            "WHERE service_fts MATCH ? ORDER BY rank LIMIT 200",
            (_fts_query(terms, any_word),),
        )
        if rows or len(terms) == 1:
            break
    exact = {sid for sid, _kind in kb.resolve_name(text)}
    hits = []
    for sid, rank in rows:
        service = kb.service(sid)
        if service is None:
            continue
        score = -rank + (100.0 if sid in exact else 0.0)
        if service.status != "active":
            score *= 0.8
        hits.append(
            SearchHit(
                name=sid,
                title=service.title,
                source="local" if service.origin == "local" else "catalog",
                score=score,
                categories=list(service.categories),
                status=service.status,
                ports=service.port_summary(),
                description=service.description,
            )
        )
    hits.sort(key=lambda h: (-h.score, h.title.lower()))
    return hits


def _iana_hits(kb: KnowledgeBase, terms: list[str]) -> list[SearchHit]:
    rows = kb.rows(
        "SELECT name, description, bm25(iana_fts, 0.0, 5.0, 1.0) AS rank FROM iana_fts WHERE iana_fts MATCH ? "
        "ORDER BY rank LIMIT 50",
        (_fts_query(terms, False),),
    )
    hits = []
    for name, description, rank in rows:
        ports = kb.rows(
            "SELECT transport, start, end FROM iana WHERE name = ? AND start IS NOT NULL ORDER BY transport, start",
            (name,),
        )
        summary = " ".join(f"{s}/{t}" if s == e else f"{s}-{e}/{t}" for t, s, e in ports)
        hits.append(
            SearchHit(
                name=name,
                title=description or name,
                source="iana",
                score=-rank * 0.1,
                ports=summary,
                description=description,
            )
        )
    return hits


def _passes(
    kb: KnowledgeBase, hit: SearchHit, categories: list[str], transport: str | None, status: str | None
) -> bool:
    if categories and not set(categories) & set(hit.categories):
        return False
    if status and hit.status != status:
        return False
    if transport:
        service = kb.service(hit.name)
        if service is None or not any(s.transport == transport for s in service.ports):
            return False
    return True


def closest_names(kb: KnowledgeBase, name: str, n: int = 3) -> list[str]:
    """Service ids whose names look like ``name`` (for "did you mean")."""
    lowered = name.strip().lower()
    names = kb.all_names()
    close = difflib.get_close_matches(lowered, names, n=n * 3, cutoff=0.7)
    ids: list[str] = []
    for candidate in close:
        for sid, _kind in kb.resolve_name(candidate):
            if sid not in ids:
                ids.append(sid)
    if not ids:
        result = search(kb, name, limit=n) if _WORD.search(name) else None
        ids = [h.name for h in result.hits if h.source != "iana"] if result else []
    return ids[:n]


def categories(kb: KnowledgeBase) -> list[tuple[str, int]]:
    """Every category with the number of services in it, most used first."""
    rows = kb.rows("SELECT category, count(*) FROM categories GROUP BY category ORDER BY count(*) DESC, category")
    return [(r[0], r[1]) for r in rows]
