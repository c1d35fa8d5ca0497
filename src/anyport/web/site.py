"""``anyport site build DIR``: the web page as static files (HTML and JSON) to host anywhere.

The pages are the server's templates rendered once, with relative links, so the folder works from any directory
of any web server. The home page searches a prebuilt JSON index (``data/search.json``) in the browser; the
services table sorts and filters there too. Ports get a page of their own when a curated service uses them as a
fixed port or in a narrow range of its own; the search finds every other port in the JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from anyport.errors import AnyportError
from anyport.query.kb import KnowledgeBase
from anyport.vocab import TRANSPORTS
from anyport.web.app import HERE

PAGE_WIDTH = 16  # a curated range at most this wide gives each of its ports a page
DESCRIPTION = 300  # characters of a service description kept in the search index
IANA_DESCRIPTION = 80


def build_site(directory: str) -> int:
    """Write the static site into ``directory`` (created if needed); returns the number of files written."""
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise AnyportError(f"{directory} exists and is not a directory")
    kb = KnowledgeBase.open()
    try:
        return Builder(kb, target).build()
    finally:
        kb.close()


def exported_ports(kb: KnowledgeBase) -> frozenset[int]:
    """Ports a curated service uses as a fixed port, a port family or a narrow range of its own."""
    ports: set[int] = set()
    for start, end in kb.rows(
        "SELECT start, end FROM ranges WHERE transport != 'ip' AND end - start < ? "
        "AND (allocation IN ('fixed', 'family') OR (allocation = 'selected' AND end - start < 10))",
        (PAGE_WIDTH,),
    ):
        ports.update(range(start, end + 1))
    return frozenset(p for p in ports if 0 <= p <= 65535)


def search_index(kb: KnowledgeBase, pages: frozenset[int]) -> dict[str, Any]:
    """What the static home page needs to answer a lookup or a search in the browser."""
    from anyport import __version__

    ranges: dict[str, list[list[Any]]] = {}
    for sid, transport, start, end, allocation, role in kb.rows(
        "SELECT DISTINCT service, transport, start, end, allocation, role FROM ranges ORDER BY service, transport, start"
    ):
        ranges.setdefault(sid, []).append([transport, start, end, allocation, role])
    dnssd: dict[str, list[list[str]]] = {}
    for kind, sid, transport, label in kb.rows(
        "SELECT DISTINCT dnssd.type, dnssd.service, ranges.transport, ranges.label FROM dnssd "
        "JOIN ranges USING (service, spec) ORDER BY dnssd.service"
    ):
        dnssd.setdefault(sid, []).append([kind, transport, label])
    uses: dict[str, list[str]] = {}
    for sid, ref in kb.rows("SELECT DISTINCT service, ref FROM refs ORDER BY service, ref"):
        uses.setdefault(sid, []).append(ref)
    services = []
    for sid, title, status, origin, summary_text in kb.rows(
        "SELECT id, title, status, origin, summary FROM services ORDER BY id"
    ):
        summary = json.loads(summary_text)
        ports = summary["ports"]
        shown = [f"{ports[t]}/{t}" for t in TRANSPORTS if t in ports]
        if "ip" in ports:
            shown += [f"ip {n}" for n in str(ports["ip"]).split(",")]
        entry: dict[str, Any] = {
            "id": sid,
            "title": title,
            "aliases": summary["aliases"],
            "categories": summary["categories"],
            "status": status,
            "ports": " ".join(shown),
            "description": _cut(summary["description"], DESCRIPTION),
            "r": ranges.get(sid, []),
        }
        if summary["registered"]:
            entry["reg"] = summary["registered"]
        if sid in dnssd:
            entry["d"] = dnssd[sid]
        if sid in uses:
            entry["u"] = uses[sid]
        if origin == "local":
            entry["local"] = True
        services.append(entry)
    iana = [
        [name, transport, start, end, _cut(description, IANA_DESCRIPTION)]
        for name, transport, start, end, description in kb.rows(
            "SELECT name, transport, start, end, description FROM iana WHERE name != '' AND start IS NOT NULL "
            "ORDER BY start, transport, name"
        )
    ]
    trojans = []
    for port, transport, names_text in kb.rows("SELECT port, transport, names FROM trojans ORDER BY port, transport"):
        names = json.loads(names_text)
        shown_names = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        trojans.append([port, transport, shown_names])
    protocols = [list(row) for row in kb.rows("SELECT number, keyword, name FROM protocols ORDER BY number")]
    return {
        "version": __version__,
        "index": kb.meta().get("content_hash", "")[:24],
        "services": services,
        "iana": iana,
        "trojans": trojans,
        "protocols": protocols,
        "pages": sorted(pages),
    }


def _cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


class Builder:
    """Writes one static site; counts the files."""

    def __init__(self, kb: KnowledgeBase, root: Path) -> None:
        self.kb = kb
        self.root = root
        self.count = 0
        self.ports = exported_ports(kb)

    def write(self, relative: str, content: str | bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, "utf-8")
        else:
            path.write_bytes(content)
        self.count += 1

    def page(self, relative: str, template: str, view: dict[str, Any]) -> None:
        from anyport.web.pages import Links, render_page

        self.write(relative, render_page(template, Links(relative, self.ports), **view))

    def json(self, relative: str, data: Any) -> None:
        self.write(relative, json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def build(self) -> int:
        from anyport.web import pages
        from anyport.web.portmap import png, port_map

        kb = self.kb
        self.root.mkdir(parents=True, exist_ok=True)
        self.page("index.html", "home.html", pages.home_view(kb, ""))
        table = pages.TableFilter()
        self.page("services.html", "services.html", pages.services_view(kb, table))
        rows = pages.service_rows(kb)
        for row in rows:
            if not _safe_name(row.id):
                continue
            self.page(f"service/{row.id}.html", "service.html", pages.service_view(kb, row.id))
        categories = pages.categories_view(kb)
        self.page("categories.html", "categories.html", categories)
        for name, _count in categories["categories"]:
            if _safe_name(name):
                self.page(f"category/{name}.html", "category.html", pages.category_view(kb, name))
        self.page("data.html", "data.html", pages.data_view(kb))
        self.page("conflicts.html", "conflicts.html", pages.conflicts_view(kb))
        self.page("rules.html", "rules.html", pages.rules_view(kb))
        for transport, name in (("tcp", "map.html"), ("udp", "map-udp.html")):
            self.page(name, "map.html", pages.map_view(kb, transport))
            data = port_map(kb, transport)
            self.json(f"data/portmap-{transport}.json", data)
            self.write(f"map/{transport}.png", png(data["codes"]))
        for number in sorted(self.ports):
            self.page(f"port/{number}.html", "port.html", pages.port_view(kb, number))
        self.json("data/search.json", search_index(kb, self.ports))
        self.json(
            "data/services.json",
            [
                {
                    "id": row.id,
                    "title": row.title,
                    "status": row.status,
                    "categories": row.categories,
                    "ports": {t: [p.text for p in parts] for t, parts in row.ports.items()},
                    "run_time": {t: [p.text for p in parts if p.run_time] for t, parts in row.ports.items()},
                    "other": row.other,
                    "uses": row.uses,
                    "iana": row.iana,
                }
                for row in rows
            ],
        )
        self.json("data/categories.json", [{"category": c, "services": n} for c, n in categories["categories"]])
        for asset in sorted((HERE / "static").iterdir()):
            if asset.is_file():
                self.write(f"static/{asset.name}", asset.read_bytes())
        return self.count


def _safe_name(name: str) -> bool:
    """A file name that is one path segment of letters, digits and dashes (catalog ids always are)."""
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "-_.") for c in name) and name[0] not in ".-"
