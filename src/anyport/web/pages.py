"""HTML pages, rendered on the server (they work without JavaScript; app.js only makes them quicker).

The same views render the static export (``anyport site build``, :mod:`anyport.web.site`): a view builds the
context from the knowledge base, and :class:`Links` turns the server's paths into relative file names there.
Every catalog string reaches the HTML through Jinja's autoescaping; no page has inline script or style.
"""

from __future__ import annotations

import json
import re
import weakref
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from anyport import __version__
from anyport.catalog.risktags import RISK_TAGS
from anyport.errors import AnyportError, NotFoundError, QueryError
from anyport.model import PortRange, format_ranges, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.vocab import CATEGORIES, STATUSES, TRANSPORTS
from anyport.web.app import HERE, MAX_QUERY, knowledge_base

router = APIRouter(include_in_schema=False)
environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=True,  # every page: catalog strings are text, never markup
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["thousands"] = lambda n: f"{int(n):,}"
environment.filters["basename"] = lambda path: str(path).replace("\\", "/").rsplit("/", 1)[-1]
environment.filters["web_url"] = lambda u: u if re.match(r"^https?://[^\s]+$", str(u)) else ""
environment.filters["source_text"] = lambda source: _source_text(source)

NEIGHBOURS = 5  # a port page shows the assignments on n-5 .. n+5
SHOWN_MATCHES = 100  # rows of a results table before "and N more"
RULE_TARGETS = ("nftables", "iptables", "ufw", "firewalld", "pf", "windows", "cisco-ios", "juniper-srx", "aws-sg",
                "kubernetes")  # fmt: skip
STATUS_ORDER = {status: index for index, status in enumerate(STATUSES)}
SORT_KEYS = ("service", "tcp", "udp", "other", "categories", "status", "iana")
EXAMPLES = ("6881", "3389/tcp", "ip:50", "_ipp._tcp", "messenger", "5060-5061/udp")
RFC_REFERENCE = re.compile(r"\[(RFC\s?(\d{1,5}))(?:[^\]]*)\]", re.IGNORECASE)


# -- links -----------------------------------------------------------------------------------------------------


class Links:
    """Hrefs for the server's paths: unchanged on the server, relative file names in the static site.

    ``page`` is the static page being written (``service/ssh.html``); ``ports`` the ports with a page of their own
    there (others link to the static search, which finds them in its JSON index).
    """

    def __init__(self, page: str | None = None, ports: frozenset[int] = frozenset()) -> None:
        self.static = page is not None
        self.page = page or ""
        self.prefix = "../" * self.page.count("/")
        self.ports = ports

    @property
    def root(self) -> str:
        """Where the site starts, for app.js (``/`` on the server, ``../`` or ``./`` in the static site)."""
        return (self.prefix or "./") if self.static else "/"

    def __call__(self, path: str, **params: Any) -> str:
        values = {key: value for key, value in params.items() if value not in (None, "", False)}
        if not self.static:
            query = urlencode(values, doseq=True)
            return quote(path) + (f"?{query}" if query else "")
        return self.prefix + self.static_file(path, values)

    def static_file(self, path: str, params: dict[str, Any]) -> str:
        query = urlencode(params, doseq=True)
        tail = f"?{query}" if query else ""
        parts = [p for p in path.split("/") if p]
        if not parts:
            return f"index.html{tail}"
        head = parts[0]
        if head == "port" and len(parts) >= 2:
            number = int(parts[1])
            if number in self.ports:
                return f"port/{number}.html"
            return "index.html?" + urlencode({"q": "/".join(parts[1:3])})
        if head == "map" and len(parts) == 2:
            return f"map/{parts[1]}"
        if head == "map":
            return "map-udp.html" if params.get("transport") == "udp" else "map.html"
        if head in ("service", "category") and len(parts) == 2:
            return f"{head}/{quote(parts[1])}.html"
        if head == "static":
            return "/".join(parts)
        return f"{head}.html{tail}"


def _source_text(source: dict[str, str]) -> tuple[str, str]:
    from anyport.query.provenance import source_text

    return source_text(source)


def render_page(name: str, links: Links, **context: Any) -> str:
    """One page as HTML text (the server and the static export both come here)."""
    context.setdefault("version", __version__)
    context.setdefault("max_query", MAX_QUERY)
    context.setdefault("nav", "")
    return environment.get_template(name).render(url=links, static=links.static, root=links.root, **context)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(render_page(name, Links(), **context), status_code=status)


def error_page(request: Request, status: int, message: str) -> Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


def _status_of(exc: AnyportError) -> int:
    from anyport.web.errors import classify

    return classify(exc)[0]


# -- the service table -----------------------------------------------------------------------------------------


class Part:
    """A port range in a table cell; ``run_time`` ranges are picked when the program runs, not fixed."""

    __slots__ = ("end", "run_time", "start", "text")

    def __init__(self, start: int, end: int, run_time: bool) -> None:
        self.start = start
        self.end = end
        self.run_time = run_time
        self.text = str(start) if start == end else f"{start}-{end}"


class Row:
    """One service in the service table."""

    __slots__ = ("aliases", "categories", "iana", "id", "origin", "other", "ports", "status", "text", "title", "uses")

    def __init__(self, sid: str, title: str, status: str, origin: str, summary: dict[str, Any]) -> None:
        self.id = sid
        self.title = title
        self.status = status
        self.origin = origin
        self.aliases: list[str] = summary["aliases"]
        self.categories: list[str] = summary["categories"]
        self.iana: list[str] = summary["registered"]  # kept only when IANA has the name (service_rows)
        self.ports: dict[str, list[Part]] = {}
        self.other: list[str] = []
        self.uses: list[str] = []
        self.text = " ".join([sid, title, *self.aliases]).lower()

    def first(self, transport: str) -> int:
        parts = self.ports.get(transport) or []
        return min((p.start for p in parts), default=70000)

    def covers(self, port: int, transports: tuple[str, ...]) -> bool:
        """Uses ``port`` as a fixed port or in its own range (not in a range picked at run time)."""
        return any(
            p.start <= port <= p.end for t in transports for p in self.ports.get(t, ()) if not p.run_time
        ) or any(port == int(o.split()[1]) for o in self.other if o.startswith("ip ") and "ip" in transports)

    @property
    def transports(self) -> list[str]:
        found = [t for t in TRANSPORTS if t in self.ports]
        return [*found, "ip"] if any(o.startswith("ip ") for o in self.other) else found

    @property
    def registered(self) -> bool:
        return bool(self.iana)


_tables: weakref.WeakKeyDictionary[KnowledgeBase, list[Row]] = weakref.WeakKeyDictionary()
_codes: weakref.WeakKeyDictionary[KnowledgeBase, dict[str, str]] = weakref.WeakKeyDictionary()


def service_rows(kb: KnowledgeBase) -> list[Row]:
    """Every service as a table row, by title (built once per knowledge base: the index never changes)."""
    rows = _tables.get(kb)
    if rows is not None:
        return rows
    rows = [
        Row(sid, title, status, origin, json.loads(summary))
        for sid, title, status, origin, summary in kb.rows("SELECT id, title, status, origin, summary FROM services")
    ]
    by_id = {row.id: row for row in rows}
    spans: dict[tuple[str, str, bool], list[PortRange]] = {}
    protocols = dict(kb.rows("SELECT number, keyword FROM protocols"))
    ip_protocols: dict[str, set[int]] = {}
    for sid, transport, start, end, allocation in kb.rows(
        "SELECT service, transport, start, end, allocation FROM ranges WHERE via = ''"
    ):
        if transport == "ip":
            ip_protocols.setdefault(sid, set()).add(start)
            continue
        run_time = allocation in ("dynamic", "negotiated") or (allocation == "selected" and end - start >= 10)
        spans.setdefault((sid, transport, run_time), []).append(PortRange(start, end))
    for (sid, transport, run_time), ranges in spans.items():
        row = by_id.get(sid)
        if row is not None:
            parts = row.ports.setdefault(transport, [])
            parts.extend(Part(r.start, r.end, run_time) for r in merge_ranges(ranges))
    for row in rows:
        for parts in row.ports.values():
            parts.sort(key=lambda p: (p.run_time, p.start))
        for transport in ("sctp", "dccp"):
            for part in row.ports.get(transport, ()):
                row.other.append(f"{transport} {part.text}")
        for number in sorted(ip_protocols.get(row.id, ())):
            keyword = protocols.get(number, "")
            row.other.append(f"ip {number}" + (f" ({keyword})" if keyword else ""))
    for sid, ref in kb.rows("SELECT DISTINCT service, ref FROM refs ORDER BY service, ref"):
        if sid in by_id:
            by_id[sid].uses.append(ref)
    iana_names = {name.lower() for (name,) in kb.rows("SELECT DISTINCT name FROM iana WHERE name != ''")}
    for row in rows:
        row.iana = [name for name in row.iana if name.lower() in iana_names]
    rows.sort(key=lambda r: (r.title.casefold(), r.id))
    _tables[kb] = rows
    return rows


def codes_of(kb: KnowledgeBase, transport: str) -> str:
    from anyport.web.portmap import port_codes

    cached = _codes.setdefault(kb, {})
    if transport not in cached:
        cached[transport] = port_codes(kb, transport)
    return cached[transport]


class TableFilter:
    """The service table's filters and order, from query parameters (one error message per bad value)."""

    def __init__(
        self,
        category: str = "",
        transport: str = "",
        status: str = "",
        iana: str = "",
        q: str = "",
        sort: str = "service",
        order: str = "asc",
    ) -> None:
        if category and category not in CATEGORIES:
            raise QueryError(f"unknown category {category[:64]!r}; see /categories")
        if transport and transport not in (*TRANSPORTS, "ip"):
            raise QueryError("transport is one of tcp, udp, sctp, dccp, ip")
        if status and status not in STATUSES:
            raise QueryError("status is one of active, obsolete, defunct")
        if iana and iana not in ("yes", "no"):
            raise QueryError("iana is yes (registered with IANA) or no")
        if len(q) > MAX_QUERY:
            raise QueryError(f"the filter is {len(q)} characters long; keep it under {MAX_QUERY}")
        self.category = category
        self.transport = transport
        self.status = status
        self.iana = iana
        self.q = q.strip()
        self.sort = sort if sort in SORT_KEYS else "service"
        self.order = "desc" if order == "desc" else "asc"
        self.port: tuple[int, tuple[str, ...]] | None = None
        if self.q:
            from anyport.query.grammar import parse_query

            try:
                parsed = parse_query(self.q)
            except QueryError:
                parsed = None
            if parsed is not None and parsed.kind == "port":
                self.port = (parsed.start, parsed.transports or (*TRANSPORTS, "ip"))

    @property
    def active(self) -> bool:
        return bool(self.category or self.transport or self.status or self.iana or self.q)

    def params(self, **changes: str) -> dict[str, str]:
        values = {
            "q": self.q,
            "category": self.category,
            "transport": self.transport,
            "status": self.status,
            "iana": self.iana,
            "sort": self.sort if self.sort != "service" else "",
            "order": self.order if self.order != "asc" else "",
        }
        values.update(changes)
        return values

    def sort_link(self, key: str) -> dict[str, str]:
        order = "desc" if self.sort == key and self.order == "asc" else "asc"
        return self.params(sort=key if key != "service" else "", order=order if order != "asc" else "")

    def aria_sort(self, key: str) -> str:
        if key != self.sort:
            return ""
        return "ascending" if self.order == "asc" else "descending"

    def keep(self, row: Row) -> bool:
        if self.category and self.category not in row.categories:
            return False
        if self.transport and self.transport not in row.transports:
            return False
        if self.status and row.status != self.status:
            return False
        if self.iana and row.registered != (self.iana == "yes"):
            return False
        if self.port is not None:
            return row.covers(*self.port)
        return not self.q or self.q.lower() in row.text

    def apply(self, rows: list[Row]) -> list[Row]:
        """Every row in the asked order (hidden rows stay in the page for the browser's instant filters)."""
        key = {
            "service": lambda r: (r.title.casefold(), r.id),
            "tcp": lambda r: (r.first("tcp"), r.title.casefold()),
            "udp": lambda r: (r.first("udp"), r.title.casefold()),
            "other": lambda r: (not r.other and not r.uses, " ".join(r.other), r.title.casefold()),
            "categories": lambda r: (" ".join(r.categories), r.title.casefold()),
            "status": lambda r: (STATUS_ORDER.get(r.status, 9), r.title.casefold()),
            "iana": lambda r: (not r.iana, r.title.casefold()),
        }[self.sort]
        return sorted(rows, key=key, reverse=self.order == "desc")


def services_view(kb: KnowledgeBase, table: TableFilter) -> dict[str, Any]:
    rows = service_rows(kb)
    shown = {row.id for row in rows if table.keep(row)}
    return {
        "rows": table.apply(rows),
        "visible": shown,
        "total": len(rows),
        "table": table,
        "categories": [c for c, _n in _categories(kb)],
        "nav": "services",
    }


def _categories(kb: KnowledgeBase) -> list[tuple[str, int]]:
    from anyport.query.search import categories

    return categories(kb)


# -- lookups ---------------------------------------------------------------------------------------------------


def split_matches(result: Any) -> dict[str, Any]:
    """The matches of a lookup in three groups: the answers, broad run-time ranges, and trojan history."""
    main = [m for m in result.matches if m.source != "trojans" and not m.broad]
    broad = [m for m in result.matches if m.source != "trojans" and m.broad]
    trojans = [m for m in result.matches if m.source == "trojans"]
    return {"main": main, "broad": broad, "trojans": trojans, "shown": SHOWN_MATCHES}


def home_view(kb: KnowledgeBase, q: str) -> dict[str, Any]:
    """The search: a lookup for anything the CLI takes; for a name, a full-text search as well."""
    from anyport.query.grammar import parse_query
    from anyport.query.lookup import lookup
    from anyport.query.search import search

    view: dict[str, Any] = {"q": q, "result": None, "error": "", "search": None, "kind": "", "nav": "home"}
    view["examples"] = EXAMPLES
    meta = kb.meta()
    view["counts"] = {
        "services": int(meta.get("services", 0)),
        "iana": int(meta.get("iana_records", 0)),
        "trojans": int(meta.get("trojan_records", 0)),
    }
    text = q.strip()
    if not text:
        return view
    if len(q) > MAX_QUERY:
        view["error"] = f"the query is {len(q)} characters long; keep it under {MAX_QUERY}"
        return view
    try:
        parsed = parse_query(text)
        result = lookup(kb, text)
    except AnyportError as exc:
        view["error"] = str(exc)
        return view
    view.update(result=result, kind=result.kind, groups=split_matches(result), port_link=None)
    if parsed.kind == "port":
        view["port_link"] = "/port/" + str(parsed.start) + (f"/{parsed.transports[0]}" if parsed.transports else "")
    if result.kind == "name":
        try:
            view["search"] = search(kb, text, limit=20)
        except AnyportError:
            view["search"] = None
    return view


def _reference_parts(text: str) -> list[tuple[str, str]]:
    """IANA reference text as (text, href) pieces: ``[RFC959]`` links to the RFC, the rest stays text."""
    parts: list[tuple[str, str]] = []
    last = 0
    for match in RFC_REFERENCE.finditer(text):
        if match.start() > last:
            parts.append((text[last : match.start()], ""))
        parts.append((match.group(0), f"https://www.rfc-editor.org/rfc/rfc{int(match.group(2))}"))
        last = match.end()
    if last < len(text):
        parts.append((text[last:], ""))
    return parts


def port_view(kb: KnowledgeBase, number: int, transport: str = "") -> dict[str, Any]:
    """Every match with why, the IANA records, trojan history, and the assignments on the ports around it."""
    from anyport.query.lookup import lookup
    from anyport.web.portmap import SHORT

    if not 0 <= number <= 65535:
        raise QueryError(f"port {number} is out of range; ports are numbered 0-65535")
    if transport and transport not in TRANSPORTS:
        raise QueryError(f"{transport[:20]!r} is not a transport; use tcp, udp, sctp or dccp")
    query = f"{number}/{transport}" if transport else str(number)
    result = lookup(kb, query)
    transports = (transport,) if transport else TRANSPORTS
    marks = ",".join("?" * len(transports))
    iana = [
        {
            "name": name,
            "transport": t,
            "ports": str(start) if start == end else f"{start}-{end}",
            "description": description,
            "assignee": assignee,
            "contact": contact,
            "registered": registered,
            "modified": modified,
            "reference": _reference_parts(reference),
            "notes": notes,
        }
        for name, t, start, end, description, assignee, contact, registered, modified, reference, notes in kb.rows(
            "SELECT name, transport, start, end, description, assignee, contact, registered, modified, reference, "
            f"notes FROM iana WHERE transport IN ({marks}) AND start <= ? AND end >= ? "
            "ORDER BY transport = 'tcp' DESC, transport, name",
            (*transports, number, number),
        )
    ]
    trojans = [
        {"transport": t, "names": json.loads(names)}
        for t, names in kb.rows(
            f"SELECT transport, names FROM trojans WHERE port = ? AND transport IN ({marks}) ORDER BY transport",
            (number, *transports),
        )
    ]
    shown = (transport,) if transport else ("tcp", "udp")
    classes = {t: (code, SHORT[code]) for t in shown if t in ("tcp", "udp") for code in [codes_of(kb, t)[number]]}
    return {
        "number": number,
        "transport": transport,
        "result": result,
        "groups": split_matches(result),
        "iana": iana,
        "trojans": trojans,
        "neighbours": neighbours(kb, number, shown),
        "neighbour_transports": shown,
        "classes": classes,
        "top": next((m for m in result.matches if m.source != "trojans"), None),
        "sources": _match_sources(kb, [m for m in result.matches if not m.broad]),
        "nav": "",
    }


def _match_sources(kb: KnowledgeBase, matches: list[Any]) -> list[dict[str, Any]]:
    """Sources and as-of dates of the curated services among ``matches``, each service once."""
    from anyport.query.provenance import service_sources

    found: dict[str, dict[str, Any]] = {}
    for m in matches:
        if m.source in ("catalog", "local") and m.name not in found:
            sources, as_of = service_sources(kb, m.name)
            found[m.name] = {"name": m.name, "title": m.title, "sources": sources, "as_of": as_of}
    return list(found.values())


def neighbours(kb: KnowledgeBase, number: int, transports: tuple[str, ...]) -> list[dict[str, Any]]:
    """What is assigned on the ports around ``number``: catalog services and IANA names, per transport."""
    low, high = max(0, number - NEIGHBOURS), min(65535, number + NEIGHBOURS)
    marks = ",".join("?" * len(transports))
    cells: dict[tuple[int, str], dict[str, list[Any]]] = {
        (port, t): {"services": [], "iana": []} for port in range(low, high + 1) for t in transports
    }
    for sid, title, t, start, end in kb.rows(
        "SELECT DISTINCT ranges.service, services.title, ranges.transport, ranges.start, ranges.end FROM ranges "
        f"JOIN services ON services.id = ranges.service WHERE ranges.transport IN ({marks}) "
        "AND ranges.start <= ? AND ranges.end >= ? AND ranges.end - ranges.start < 100 "
        "AND ranges.allocation IN ('fixed', 'family') ORDER BY ranges.end - ranges.start, services.title",
        (*transports, high, low),
    ):
        for port in range(max(start, low), min(end, high) + 1):
            entry = cells[(port, t)]["services"]
            if (sid, title) not in entry:
                entry.append((sid, title))
    for name, t, start, end, description in kb.rows(
        f"SELECT name, transport, start, end, description FROM iana WHERE transport IN ({marks}) "
        "AND start <= ? AND end >= ? AND name != '' ORDER BY name",
        (*transports, high, low),
    ):
        for port in range(max(start, low), min(end, high) + 1):
            cells[(port, t)]["iana"].append((name, description))
    return [
        {"port": port, "current": port == number, "cells": [cells[(port, t)] for t in transports]}
        for port in range(low, high + 1)
    ]


def _run_time(allocation: str, ranges: tuple[PortRange, ...]) -> bool:
    """Picked when the program runs (passive FTP, RTP...), or a broad range the admin picks from."""
    wide = any(r.end - r.start >= 10 for r in ranges)
    return allocation in ("dynamic", "negotiated") or (allocation == "selected" and wide)


# -- services --------------------------------------------------------------------------------------------------


def service_view(kb: KnowledgeBase, name: str) -> dict[str, Any]:
    from anyport.query.service import service_info

    info = service_info(kb, name)
    service = info.service
    risks = {f"risk: {risk}" for risk in service.risks}
    by_transport: dict[str, list[Any]] = {}
    for item in info.resolved:
        by_transport.setdefault(item.spec.transport or "ip", []).append(item)
    order = {t: i for i, t in enumerate((*TRANSPORTS, "ip"))}
    titles = dict(kb.rows("SELECT id, title FROM services"))
    protocols = dict(kb.rows("SELECT number, keyword FROM protocols"))
    summary: list[tuple[str, bool]] = []
    for transport in TRANSPORTS:
        for run_time in (False, True):
            ranges = [
                r
                for item in info.resolved
                if item.spec.kind == "port" and item.spec.transport == transport
                and _run_time(item.spec.allocation, item.spec.ranges) == run_time
                for r in item.spec.ranges
            ]  # fmt: skip
            if ranges:
                summary.append((f"{format_ranges(merge_ranges(ranges))}/{transport}", run_time))
    for number in sorted({s.ip_proto for s in (item.spec for item in info.resolved) if s.ip_proto is not None}):
        keyword = protocols.get(number, "")
        summary.append((f"ip {number}" + (f" ({keyword})" if keyword else ""), False))
    return {
        "info": info,
        "service": service,
        "groups": sorted(by_transport.items(), key=lambda item: order.get(item[0], 9)),
        "summary": summary,
        "warnings": [w for w in info.warnings if w not in risks],
        "risk_tag_meanings": RISK_TAGS,
        "referrers": [(sid, titles.get(sid, sid)) for sid in kb.referrers(service.id)],
        "uses": [(ref, titles.get(ref, ref)) for ref in service.references],
        "titles": titles,
        "nav": "services",
    }


def categories_view(kb: KnowledgeBase) -> dict[str, Any]:
    found = dict(_categories(kb))
    return {"categories": sorted(found.items()), "nav": "categories"}


def category_view(kb: KnowledgeBase, name: str, sort: str = "service", order: str = "asc") -> dict[str, Any]:
    found = dict(_categories(kb))
    if name not in found:
        import difflib

        close = difflib.get_close_matches(name, list(found), n=3)
        raise NotFoundError(f"no category named {name[:64]!r}", close)
    table = TableFilter(category=name, sort=sort, order=order)
    view = services_view(kb, table)
    view.update(category=name, nav="categories", rows=[r for r in view["rows"] if r.id in view["visible"]])
    return view


# -- data, map, rules ------------------------------------------------------------------------------------------


def data_view(kb: KnowledgeBase) -> dict[str, Any]:
    meta = kb.meta()
    rows = service_rows(kb)
    local = json.loads(meta.get("local_files", "[]") or "[]")
    overridden = json.loads(meta.get("overridden", "[]") or "[]")
    named = kb.rows("SELECT count(*), count(DISTINCT name) FROM iana WHERE name != ''")[0]
    return {
        "meta": meta,
        "counts": {
            "services": len(rows),
            "local": sum(1 for r in rows if r.origin == "local"),
            "categories": len(_categories(kb)),
            "iana_records": int(meta.get("iana_records", 0)),
            "iana_named": named[0],
            "iana_names": named[1],
            "protocols": int(meta.get("protocols", 0)),
            "trojans": int(meta.get("trojan_records", 0)),
            "registered": sum(1 for r in rows if r.registered),
            "seed": kb.rows("SELECT count(*) FROM services WHERE json_array_length(doc, '$.seed') > 0")[0][0],
        },
        "as_of": kb.rows("SELECT max(json_extract(doc, '$.as_of')) FROM services")[0][0] or "",
        "local_files": local,
        "overridden": overridden,
        "nmap": meta.get("nmap_services", "no") == "yes",
        "protocols_date": _protocols_date(),
        "nav": "data",
    }


def conflicts_view(kb: KnowledgeBase, port: str = "", kind: str = "") -> dict[str, Any]:
    """The conflicts report, optionally for one port (or range) and one kind."""
    from anyport.query.conflicts import KINDS, find_conflicts

    report = find_conflicts(kb, [port.strip()] if port.strip() else None, [kind] if kind else None)
    return {"report": report, "port": port.strip(), "kind": kind, "kinds": KINDS, "nav": "data"}


def _protocols_date() -> str:
    """When IANA last updated the protocol-number registry we ship (from the data's PROVENANCE.md)."""
    from pathlib import Path

    from anyport.datafiles import DATA_DIR

    try:
        text = (Path(DATA_DIR) / "iana" / "PROVENANCE.md").read_text("utf-8")
    except OSError:
        return ""
    found = re.search(r"protocol-numbers-1\.csv.*?registry updated (\d{4}-\d{2}-\d{2})", text)
    return found.group(1) if found else ""


def map_view(kb: KnowledgeBase, transport: str) -> dict[str, Any]:
    from anyport.web.portmap import COLOURS, LEGEND, SHORT, blocks

    if transport not in ("tcp", "udp"):
        raise QueryError("the port map covers tcp and udp")
    codes = codes_of(kb, transport)
    return {
        "transport": transport,
        "legend": [(code, LEGEND[code], SHORT[code], COLOURS[code], codes.count(code)) for code in LEGEND],
        "blocks": blocks(codes),
        "short": SHORT,
        "nav": "map",
    }


def split_words(values: list[str]) -> list[str]:
    """``["sip rtp", "ssh@192.0.2.0/24,dns"]`` -> ``["sip", "rtp", "ssh@192.0.2.0/24", "dns"]``."""
    return [word for value in values for word in re.split(r"[\s,]+", value) if word]


def rules_view(
    kb: KnowledgeBase,
    services: str = "",
    target: str = "nftables",
    direction: str = "in",
    sources: str = "",
    best_effort: bool = False,
) -> dict[str, Any]:
    """The rule builder: rules for the services asked, or the one-line error that says why not."""
    from anyport.rules.targets import get_target

    view: dict[str, Any] = {
        "services": services,
        "target": target,
        "direction": direction,
        "sources": sources,
        "best_effort": best_effort,
        "targets": [(name, get_target(name).title) for name in RULE_TARGETS],
        "output": None,
        "target_title": "",
        "cli": "",
        "error": "",
        "http_status": 200,
        "nav": "rules",
    }
    names = split_words([services])
    networks = split_words([sources])
    if not names:
        return view
    try:
        if len(services) > 4 * MAX_QUERY or len(sources) > 4 * MAX_QUERY or len(names) > 50 or len(networks) > 50:
            raise QueryError("too much input: give at most 50 services and 50 networks")
        if target not in RULE_TARGETS:
            raise QueryError(f"unknown platform {target[:64]!r}; choose one of {', '.join(RULE_TARGETS)}")
        from anyport.api import rules

        output = rules(
            names, target=target, direction=direction, sources=networks or None, best_effort=best_effort, kb=kb
        )
    except AnyportError as exc:
        view.update(error=str(exc), http_status=_status_of(exc))
        return view
    view["output"] = output
    view["target_title"] = get_target(target).title
    view["cli"] = " ".join(
        ["anyport rules", *names, f"--target {target}"]
        + ([f"--direction {direction}"] if direction != "in" else [])
        + [f"--source {n}" for n in networks]
        + (["--best-effort"] if best_effort else [])
    )
    return view


# -- routes ----------------------------------------------------------------------------------------------------
# Plain functions, not coroutines: FastAPI runs them in its thread pool, so rendering a page never holds up the
# event loop (and each thread reads its own connection to the index: anyport.web.app.KnowledgeBases).


def _page(request: Request, name: str, view: dict[str, Any], status: int = 200) -> HTMLResponse:
    return render(request, name, status=status, **view)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, q: str = "") -> Response:
    view = home_view(knowledge_base(request), q)
    return _page(request, "home.html", view, status=400 if view["error"] else 200)


@router.get("/services", response_class=HTMLResponse)
def services(
    request: Request,
    q: str = "",
    category: str = "",
    transport: str = "",
    status: str = "",
    iana: str = "",
    sort: str = "service",
    order: str = "asc",
) -> Response:
    table = TableFilter(category, transport, status, iana, q, sort, order)
    return _page(request, "services.html", services_view(knowledge_base(request), table))


@router.get("/service/{name}", response_class=HTMLResponse)
def service(request: Request, name: str = PathParam(max_length=MAX_QUERY)) -> Response:
    kb = knowledge_base(request)
    view = service_view(kb, name)
    if view["service"].id != name:
        return RedirectResponse(Links()(f"/service/{view['service'].id}"), status_code=308)
    return _page(request, "service.html", view)


@router.get("/port", response_class=HTMLResponse)
def port_form(request: Request, number: str = "", transport: str = "") -> Response:
    """The map's "go to a port" form without JavaScript: /port?number=N&transport=T -> /port/N/T."""
    text = number.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and int(text) <= 65535):
        raise QueryError(f"{text[:20]!r} is not a port number; ports are numbered 0-65535")
    suffix = f"/{transport}" if transport in TRANSPORTS else ""
    return RedirectResponse(f"/port/{int(text)}{suffix}", status_code=303)


@router.get("/port/{number}", response_class=HTMLResponse)
def port(request: Request, number: int) -> Response:
    return _page(request, "port.html", port_view(knowledge_base(request), number))


@router.get("/port/{number}/{transport}", response_class=HTMLResponse)
def port_transport(request: Request, number: int, transport: str = PathParam(max_length=8)) -> Response:
    return _page(request, "port.html", port_view(knowledge_base(request), number, transport.lower()))


@router.get("/categories", response_class=HTMLResponse)
def categories(request: Request) -> Response:
    return _page(request, "categories.html", categories_view(knowledge_base(request)))


@router.get("/category/{name}", response_class=HTMLResponse)
def category(
    request: Request, name: str = PathParam(max_length=64), sort: str = "service", order: str = "asc"
) -> Response:
    return _page(request, "category.html", category_view(knowledge_base(request), name, sort, order))


@router.get("/data", response_class=HTMLResponse)
def data(request: Request) -> Response:
    return _page(request, "data.html", data_view(knowledge_base(request)))


@router.get("/conflicts", response_class=HTMLResponse)
def conflicts(
    request: Request, port: str = Query("", max_length=MAX_QUERY), kind: str = Query("", max_length=16)
) -> Response:
    return _page(request, "conflicts.html", conflicts_view(knowledge_base(request), port, kind))


@router.get("/map", response_class=HTMLResponse)
def port_map_page(request: Request, transport: str = "tcp") -> Response:
    return _page(request, "map.html", map_view(knowledge_base(request), transport))


@router.get("/map/{transport}.png")
def port_map_png(request: Request, transport: str) -> Response:
    from anyport.web.portmap import png

    if transport not in ("tcp", "udp"):
        raise QueryError("the port map covers tcp and udp")
    body = png(codes_of(knowledge_base(request), transport))
    return Response(body, media_type="image/png", headers={"Cache-Control": "max-age=3600"})


@router.get("/rules", response_class=HTMLResponse)
def rules_page(
    request: Request,
    services: str = "",
    target: str = "nftables",
    direction: str = "in",
    sources: str = "",
    best_effort: str = "",
) -> Response:
    view = rules_view(knowledge_base(request), services, target, direction, sources, best_effort in ("1", "on", "true"))
    return _page(request, "rules.html", view, status=view["http_status"])


def confidence(value: float) -> str:
    return f"{value:.2f}"


environment.globals.update(format_ranges=format_ranges, confidence=confidence)
