"""Build the SQLite index from the catalog and the registries.

The same inputs always give the same bytes: rows go in sorted, nothing records the time of the build.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from anyport import __version__
from anyport.catalog.loader import Catalog
from anyport.datafiles import DATA_DIR
from anyport.model import PortRange, PortSpec, Service, format_ranges, merge_ranges
from anyport.registries import IanaRecord, TrojanRecord
from anyport.serialize import service_to_dict
from anyport.vocab import TRANSPORTS

_WORD = re.compile(r"[a-z0-9][a-z0-9+.'-]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)


def build_index(
    path: Path,
    catalog: Catalog,
    iana: list[IanaRecord],
    protocols: dict[int, tuple[str, str]],
    trojans: list[TrojanRecord],
    nmap: Iterable[tuple[str, int, str, float]],
    meta: dict[str, str],
) -> None:
    """Write a fresh index at ``path`` (which must not exist)."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA page_size = 4096")
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        con.executescript(resources.files("anyport.index").joinpath("schema.sql").read_text("utf-8"))
        with con:
            _insert_services(con, catalog)
            _insert_iana(con, iana)
            con.executemany(
                "INSERT INTO protocols VALUES (?, ?, ?)",
                [(n, kw, name) for n, (kw, name) in sorted(protocols.items())],
            )
            con.executemany(
                "INSERT INTO trojans VALUES (?, ?, ?)",
                sorted((t.port, t.transport, json.dumps(list(t.names))) for t in trojans),
            )
            con.executemany("INSERT INTO nmap VALUES (?, ?, ?, ?)", sorted((p, t, n, f) for n, p, t, f in nmap))
            _insert_vocab(con, catalog, iana)
            full_meta = dict(meta)
            full_meta.update(
                anyport_version=__version__,
                services=str(len(catalog.services)),
                iana_records=str(len(iana)),
                trojan_records=str(len(trojans)),
                protocols=str(len(protocols)),
            )
            con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(full_meta.items()))
        con.execute("INSERT INTO service_fts(service_fts) VALUES ('optimize')")
        con.execute("INSERT INTO iana_fts(iana_fts) VALUES ('optimize')")
        con.commit()
        con.execute("VACUUM")
    finally:
        con.close()


def _stored_file(service: Service) -> str:
    # Shipped files are stored relative to the package so the index does not depend on where it is installed.
    try:
        return str(Path(service.file).resolve().relative_to(Path(DATA_DIR).resolve()))
    except ValueError:
        return service.file


def _insert_services(con: sqlite3.Connection, catalog: Catalog) -> None:
    services = catalog.services
    for sid in sorted(services):
        service = services[sid]
        doc = service_to_dict(service)
        doc["file"] = _stored_file(service)
        summary = {
            "aliases": list(service.aliases),
            "categories": list(service.categories),
            "description": service.description,
            "risks": list(service.risks),
            "risk_tags": list(service.risk_tags),
            "registered": list(service.registered),
            "ports": _ports_by_transport(service),
        }
        con.execute(
            "INSERT INTO services VALUES (?, ?, ?, ?, ?, ?)",
            (
                sid,
                service.title,
                service.status,
                service.origin,
                json.dumps(summary, sort_keys=True),
                json.dumps(doc, sort_keys=True),
            ),
        )
        for index, spec in enumerate(service.ports):
            if spec.kind == "port":
                for rng in spec.ranges:
                    _insert_range(con, sid, index, spec, rng.start, rng.end, "")
                if spec.pair_ref and spec.pair_ref in services:
                    for rng in _paired_ranges(services[spec.pair_ref], spec.transport, spec.pair_offset):
                        _insert_range(con, sid, index, spec, rng.start, rng.end, f"pair:{spec.pair_ref}")
            elif spec.kind == "ip":
                assert spec.ip_proto is not None
                _insert_range(con, sid, index, spec, spec.ip_proto, spec.ip_proto, "")
            else:
                con.execute("INSERT INTO refs VALUES (?, ?, ?)", (sid, spec.ref, index))
            if spec.dnssd:
                con.execute("INSERT INTO dnssd VALUES (?, ?, ?)", (spec.dnssd.lower(), sid, index))
        names = {(sid, "id"), (service.title.lower(), "title")}
        names.update((alias.lower(), "alias") for alias in service.aliases)
        names.update((name.lower(), "registered") for name in service.registered)
        for name, kind in sorted(names):
            con.execute("INSERT INTO names VALUES (?, ?, ?)", (name, sid, kind))
        for category in service.categories:
            con.execute("INSERT INTO categories VALUES (?, ?)", (category, sid))
        con.execute(
            "INSERT INTO service_fts VALUES (?, ?, ?, ?, ?, ?)",
            (
                sid.replace("-", " "),
                service.title,
                " ; ".join(service.aliases),
                " ".join(c.replace("-", " ") for c in service.categories),
                service.description,
                " ".join((*service.notes, *service.risks)),
            ),
        )


def _insert_range(
    con: sqlite3.Connection, sid: str, index: int, spec: PortSpec, start: int, end: int, via: str
) -> None:
    con.execute(
        "INSERT INTO ranges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            sid,
            index,
            spec.transport,
            start,
            end,
            spec.allocation,
            via,
            spec.describe(),
            spec.role,
            spec.direction,
            int(spec.optional),
            int(spec.uncertain),
            spec.base,
            spec.pair_offset,
            spec.note,
        ),
    )


def _ports_by_transport(service: Service) -> dict[str, str]:
    ports = {}
    for transport in TRANSPORTS:
        ranges = [r for s in service.ports if s.kind == "port" and s.transport == transport for r in s.ranges]
        if ranges:
            ports[transport] = format_ranges(merge_ranges(ranges))
    protocols = [str(s.ip_proto) for s in service.ports if s.kind == "ip"]
    if protocols:
        ports["ip"] = ",".join(protocols)
    return ports


def _paired_ranges(target: Service, transport: str, offset: int) -> list[PortRange]:
    ranges = []
    for spec in target.ports:
        # Specs that are themselves pairs do not pair again (no x+1+1 chains).
        if spec.kind == "port" and spec.transport == transport and not spec.pair_ref:
            for rng in spec.ranges:
                start, end = max(1, rng.start + offset), min(65535, rng.end + offset)
                if start <= end:
                    ranges.append(PortRange(start, end))
    return ranges


def _insert_iana(con: sqlite3.Connection, iana: list[IanaRecord]) -> None:
    for rec in iana:
        # A row with a port but no transport covers both TCP and UDP (IANA's unassigned blocks, a few names).
        transports = ("tcp", "udp") if rec.start is not None and not rec.transport else (rec.transport,)
        for transport in transports:
            _insert_iana_row(con, rec, transport)
    seen: dict[str, str] = {}
    for rec in iana:
        if rec.name and rec.name.lower() not in seen:
            seen[rec.name.lower()] = rec.description
            con.execute(
                "INSERT INTO iana_fts VALUES (?, ?, ?)",
                (rec.name, rec.name.replace("-", " "), rec.description),
            )


def _insert_iana_row(con: sqlite3.Connection, rec: IanaRecord, transport: str) -> None:
    con.execute(
        "INSERT INTO iana VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            rec.name,
            transport,
            rec.start,
            rec.end,
            rec.description,
            rec.assignee,
            rec.contact,
            rec.registered,
            rec.modified,
            rec.reference,
            rec.service_code,
            rec.unauthorized,
            rec.notes,
        ),
    )


def _insert_vocab(con: sqlite3.Connection, catalog: Catalog, iana: list[IanaRecord]) -> None:
    """Words the typo-tolerant search may correct a query word to, weighted by how much they matter."""
    weights: dict[str, int] = {}

    def add(text: str, weight: int) -> None:
        for word in _WORD.findall(text.lower()):
            if len(word) >= 3:
                weights[word] = max(weights.get(word, 0), weight)

    for service in catalog.services.values():
        add(service.id.replace("-", " "), 3)
        add(service.title, 3)
        for alias in service.aliases:
            add(alias, 3)
        for category in service.categories:
            add(category.replace("-", " "), 2)
        add(service.description, 1)
    for rec in iana:
        add(rec.name.replace("-", " "), 1)
    con.executemany("INSERT INTO vocab VALUES (?, ?)", sorted(weights.items()))
