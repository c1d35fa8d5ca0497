"""Read access to the index: the one object every query goes through."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from typing import Any

    from anyport.model import Service


class ServiceRow:
    """What a lookup needs to know of a service (read from the index without building a full Service)."""

    __slots__ = (
        "aliases",
        "categories",
        "description",
        "id",
        "origin",
        "ports",
        "range_count",
        "registered",
        "risk_tags",
        "risks",
        "status",
        "title",
    )

    def __init__(self, sid: str, title: str, status: str, origin: str, summary: dict[str, Any]) -> None:
        self.id = sid
        self.title = title
        self.status = status
        self.origin = origin
        self.aliases: list[str] = summary["aliases"]
        self.categories: list[str] = summary["categories"]
        self.description: str = summary["description"]
        self.risks: list[str] = summary["risks"]
        self.risk_tags: list[str] = summary["risk_tags"]
        self.registered: list[str] = summary["registered"]
        self.ports: dict[str, str] = summary["ports"]  # transport -> "6881-6889,6969"; "ip" -> "47"
        self.range_count = sum(len(text.split(",")) for text in self.ports.values()) or 1


class KnowledgeBase:
    """An open, read-only index with small caches for the services a query touches."""

    def __init__(self, con: sqlite3.Connection, path: str | None = None) -> None:
        self.con = con
        self.path = path
        self._rows: dict[str, ServiceRow | None] = {}
        self._services: dict[str, Service] = {}
        self._nmap: bool | None = None

    @classmethod
    def open(cls) -> KnowledgeBase:
        """Open the index for the current sources, building it first when they changed."""
        from anyport.index.store import ensure_index, open_index

        info = ensure_index()
        return cls(open_index(info.path), info.path)

    def close(self) -> None:
        self.con.close()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    def summary(self, sid: str) -> ServiceRow | None:
        """The lookup view of a service."""
        if sid not in self._rows:
            row = self.con.execute(
                "SELECT title, status, origin, summary FROM services WHERE id = ?", (sid,)
            ).fetchone()
            self._rows[sid] = ServiceRow(sid, row[0], row[1], row[2], json.loads(row[3])) if row else None
        return self._rows[sid]

    def summaries(self, sids: list[str]) -> dict[str, ServiceRow]:
        """Lookup views of many services in one query."""
        missing = [sid for sid in dict.fromkeys(sids) if sid not in self._rows]
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for sid, title, status, origin, summary in self.rows(
                f"SELECT id, title, status, origin, summary FROM services WHERE id IN ({marks})", tuple(chunk)
            ):
                self._rows[sid] = ServiceRow(sid, title, status, origin, json.loads(summary))
            for sid in chunk:
                self._rows.setdefault(sid, None)
        return {sid: row for sid in sids if (row := self._rows.get(sid)) is not None}

    def referrers_of(self, sids: list[str]) -> dict[str, list[str]]:
        """For each service id, the services that reference it (one query for all)."""
        found: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(sids))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for ref, service in self.rows(
                f"SELECT DISTINCT ref, service FROM refs WHERE ref IN ({marks}) ORDER BY ref, service", tuple(chunk)
            ):
                found.setdefault(ref, []).append(service)
        return found

    def service(self, sid: str) -> Service | None:
        """The full service record."""
        cached = self._services.get(sid)
        if cached is not None:
            return cached
        row = self.con.execute("SELECT doc FROM services WHERE id = ?", (sid,)).fetchone()
        if row is None:
            return None
        from anyport.serialize import service_from_dict

        service = service_from_dict(json.loads(row[0]))
        self._services[sid] = service
        return service

    def referrers(self, sid: str) -> list[str]:
        """Services that reference ``sid``."""
        return [r[0] for r in self.rows("SELECT DISTINCT service FROM refs WHERE ref = ? ORDER BY service", (sid,))]

    def meta(self) -> dict[str, str]:
        return dict(self.rows("SELECT key, value FROM meta"))

    @property
    def nmap_available(self) -> bool:
        if self._nmap is None:
            self._nmap = bool(self.con.execute("SELECT 1 FROM nmap LIMIT 1").fetchone())
        return self._nmap

    def resolve_name(self, name: str) -> list[tuple[str, str]]:
        """(service id, kind of name) for an exact id, title, alias or registered name, best kind first."""
        order = {"id": 0, "title": 1, "alias": 2, "registered": 3}
        found = self.rows("SELECT service, kind FROM names WHERE name = ?", (name.strip().lower(),))
        best: dict[str, str] = {}
        for sid, kind in found:
            if sid not in best or order[kind] < order[best[sid]]:
                best[sid] = kind
        return sorted(best.items(), key=lambda item: (order[item[1]], item[0]))

    def all_names(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT DISTINCT name FROM names ORDER BY name")]
