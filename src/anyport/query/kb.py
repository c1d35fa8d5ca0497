"""Read access to the index: the one object every query goes through."""

from __future__ import annotations

import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

from anyport.model import Service
from anyport.serialize import service_from_dict


class KnowledgeBase:
    """An open, read-only index with small caches for the services a query touches."""

    def __init__(self, con: sqlite3.Connection, path: Path | None = None) -> None:
        self.con = con
        self.path = path
        self._services: dict[str, Service] = {}

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

    def service(self, sid: str) -> Service | None:
        cached = self._services.get(sid)
        if cached is not None:
            return cached
        row = self.con.execute("SELECT doc FROM services WHERE id = ?", (sid,)).fetchone()
        if row is None:
            return None
        service = service_from_dict(json.loads(row[0]))
        self._services[sid] = service
        return service

    def referrers(self, sid: str) -> list[str]:
        """Services that reference ``sid``."""
        return [r[0] for r in self.rows("SELECT DISTINCT service FROM refs WHERE ref = ? ORDER BY service", (sid,))]

    def meta(self) -> dict[str, str]:
        return dict(self.rows("SELECT key, value FROM meta"))

    @functools.cached_property
    def nmap_available(self) -> bool:
        return bool(self.con.execute("SELECT 1 FROM nmap LIMIT 1").fetchone())

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
