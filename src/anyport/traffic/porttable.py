"""A dense table of the most likely service on every (transport, port): the base of traffic annotation.

``anyport.query.lookup.lookup`` on each of the 196,608 tcp/udp/sctp ports would take minutes. The table is
built once from the index with the library's own ranking instead: the ports of a transport are cut into
segments on which every row of ``ranges``, ``iana``, ``trojans`` and ``nmap`` that covers a port covers the
whole segment (family bases and nmap ports are segments of their own), and lookup's ``_port_matches`` scores
one representative port of each segment, with the same floor and order as ``lookup``. So the table answers
exactly what ``anyport PORT/TRANSPORT`` ranks first, from about 43,000 rankings (10-30 s, over an in-memory copy
of the index) rather than 196,608.

Per port the table keeps the best service (trojan history never counts as a service), up to four ranked
alternatives, the best match's confidence, whether that match is a fixed assignment (not a run-time range) and the
risk tags (the best service's ``risk_tags``, then ``trojan-port`` for a port with trojan history). It is derived from the index and
from lookup.py's scoring (whose hash it records), so it is cached next to the index under the index file's name
(``index-<hash>.sqlite.porttable``) in a compact binary file: a JSON header with a string table and the distinct
records (numbers into it), then one little-endian uint32 record number per port. Loading it takes ~20 ms.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import json
import os
import sqlite3
import struct
import sys
import time
from array import array
from bisect import bisect_right

from anyport.catalog.risktags import flow_risk
from anyport.errors import DataError
from anyport.query.grammar import Query
from anyport.query.kb import KnowledgeBase
from anyport.query.lookup import _SPEC_COLUMNS, FLOOR, SOURCE_ORDER, _port_matches

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from anyport.results import Match

TABLE_TRANSPORTS = ("tcp", "udp", "sctp")
PORTS = 65536
MAX_ALTERNATIVES = 4
FORMAT = 3
MAGIC = b"ANYPORT-PORTTABLE\n"
SUFFIX = ".porttable"
DENSE_COLUMNS = (
    "transport",
    "port",
    "service",
    "title",
    "alternatives",
    "confidence",
    "risk",
    "trojan",
    "fixed",
    "side_key",
)


class PortInfo:
    """What the table says about one (transport, port)."""

    __slots__ = ("alternatives", "confidence", "fixed", "risk", "service", "title", "trojan")

    def __init__(
        self,
        service: str,
        title: str,
        alternatives: tuple[str, ...],
        confidence: float,
        risk: str,
        trojan: bool,
        fixed: bool,
    ) -> None:
        self.service = service  # "" when nothing but (at most) trojan history knows the port
        self.title = title
        self.alternatives = alternatives
        self.confidence = confidence
        self.risk = risk
        self.trojan = trojan  # the port has trojan or backdoor history
        self.fixed = fixed  # the best match is a fixed port, narrow range, IANA name or reference, not a run-time range

    @property
    def known(self) -> bool:
        return bool(self.service)

    def __repr__(self) -> str:
        return f"PortInfo({self.service!r}, alternatives={self.alternatives}, confidence={self.confidence})"


_UNKNOWN = PortInfo("", "", (), 0.0, "", False, False)


class PortTable:
    """Dense (transport, port) -> :class:`PortInfo`; ``build_seconds``/``load_seconds`` say what it cost."""

    def __init__(
        self, records: list[list[Any]], columns: dict[str, array[int]], index_name: str, code: str = ""
    ) -> None:
        self._records = records
        self.code = code or code_stamp()
        self._infos: list[PortInfo | None] = [None] * len(records)
        self._strings: list[str] | None = None
        self._columns = columns
        self.index_name = index_name
        self.build_seconds = 0.0
        self.load_seconds = 0.0
        self.path = ""

    def get(self, transport: str, port: int) -> PortInfo:
        column = self._columns.get(transport.lower())
        if column is None or not 0 <= port < PORTS:
            return _UNKNOWN
        return self._info(column[port])

    def _info(self, number: int) -> PortInfo:
        info = self._infos[number]
        if info is None:
            sid, title, alts, conf, risk, trojan, fixed = self._records[number]
            if self._strings is not None:  # loaded from a file: texts are numbers into the string table
                text = self._strings
                sid, title, alts, risk = text[sid], text[title], [text[a] for a in alts], text[risk]
            info = PortInfo(sid, title, tuple(alts), float(conf), risk, bool(trojan), bool(fixed))
            self._infos[number] = info
        return info

    @property
    def record_count(self) -> int:
        return len(self._records)

    def dense_columns(self) -> dict[str, list[Any]]:
        """The whole table as columns, one row per (transport, port), for columnar engines (DuckDB, Spark).

        ``side_key`` orders the two ports of a flow the way :func:`anyport.traffic.annotate.service_side` does:
        the port with the larger key is the service side (its rank, then its confidence, then the lower port);
        equal keys mean the same port, where the destination wins.
        """
        from anyport.traffic.annotate import side_rank

        # per distinct record first (a few thousand), then spread over the ports by record number
        infos = [self._info(n) for n in range(len(self._records))]
        ordinal = {c: n for n, c in enumerate(sorted({i.confidence for i in infos}))}
        out: dict[str, list[Any]] = {name: [] for name in DENSE_COLUMNS}
        ports = range(PORTS)
        for transport, column in self._columns.items():
            numbers = column.tolist()
            out["transport"] += [transport] * PORTS
            out["port"] += ports
            for name, values in (
                ("service", [i.service for i in infos]),
                ("title", [i.title for i in infos]),
                ("alternatives", [";".join(i.alternatives) for i in infos]),
                ("confidence", [i.confidence for i in infos]),
                ("risk", [i.risk for i in infos]),
                ("trojan", [i.trojan for i in infos]),
                ("fixed", [i.fixed for i in infos]),
            ):
                out[name] += [values[n] for n in numbers]
            base = [ordinal[i.confidence] << 17 for i in infos]
            out["side_key"] += [
                (side_rank(infos[n], port) << 40) | base[n] | (PORTS - 1 - port)
                for port, n in zip(ports, numbers, strict=True)
            ]
        return out

    # -- file -------------------------------------------------------------------------------------------------

    def dump(self, path: str) -> None:
        strings: dict[str, int] = {}

        def ref(text: str) -> int:
            return strings.setdefault(text, len(strings))

        packed = [
            [ref(sid), ref(title), [ref(a) for a in alts], conf, ref(risk), int(trojan), int(fixed)]
            for sid, title, alts, conf, risk, trojan, fixed in self._records
        ]
        header = json.dumps(
            {
                "format": FORMAT,
                "index": self.index_name,
                "code": self.code,
                "transports": list(self._columns),
                "strings": list(strings),
                "records": packed,
            },
            separators=(",", ":"),
        ).encode()
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(MAGIC + struct.pack("<I", len(header)) + header)
            for transport in self._columns:
                column = array("I", self._columns[transport])
                if sys.byteorder != "little":
                    column.byteswap()
                handle.write(column.tobytes())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> PortTable:
        started = time.perf_counter()
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            if not data.startswith(MAGIC):
                raise ValueError("not a port table")
            offset = len(MAGIC)
            (size,) = struct.unpack_from("<I", data, offset)
            offset += 4
            collecting = gc.isenabled()
            gc.disable()  # tens of thousands of small lists: collections during the parse triple its time
            try:
                header = json.loads(data[offset : offset + size])
            finally:
                if collecting:
                    gc.enable()
            offset += size
            if header.get("format") != FORMAT:
                raise ValueError("another format version")
            columns = {}
            for transport in header["transports"]:
                column = array("I")
                column.frombytes(data[offset : offset + 4 * PORTS])
                if len(column) != PORTS:
                    raise ValueError("truncated")
                if sys.byteorder != "little":
                    column.byteswap()
                offset += 4 * PORTS
                columns[transport] = column
            records = header["records"]
            strings = header["strings"]
            if any(max(column) >= len(records) for column in columns.values()):
                raise ValueError("record number out of range")
            if records and max(max(r[0], r[1], r[4], *r[2]) for r in records) >= len(strings):
                raise ValueError("string number out of range")
        except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
            raise DataError(f"the port table {path} is unreadable ({exc}); delete it and it will be rebuilt") from None
        table = cls(records, columns, str(header["index"]), str(header.get("code", "")))
        table._strings = [str(text) for text in strings]
        table.path = path
        table.load_seconds = time.perf_counter() - started
        return table


# -- building ---------------------------------------------------------------------------------------------


class _PreloadedKB(KnowledgeBase):
    """The index copied into memory, with every reference loaded once: lookup's queries at memory speed."""

    def __init__(self, source: KnowledgeBase) -> None:
        memory = sqlite3.connect(":memory:")
        source.con.backup(memory)
        super().__init__(memory, source.path)
        self._referrers: dict[str, list[str]] = {}
        for ref, service in self.rows("SELECT DISTINCT ref, service FROM refs ORDER BY ref, service"):
            self._referrers.setdefault(ref, []).append(service)
        self._nmap = source.nmap_available

    def referrers_of(self, sids: list[str]) -> dict[str, list[str]]:
        return {sid: self._referrers[sid] for sid in dict.fromkeys(sids) if sid in self._referrers}


_RANGES_SQL = (
    f"SELECT {_SPEC_COLUMNS} FROM ranges "
    f"WHERE transport IN (?) AND start <= ? AND end >= ? ORDER BY service, spec, start"
)
_IANA_SQL = (
    "SELECT name, transport, start, end, description FROM iana "
    "WHERE transport IN (?) AND start <= ? AND end >= ? ORDER BY start, transport, name"
)
_TROJANS_SQL = (
    "SELECT port, transport, names FROM trojans WHERE port BETWEEN ? AND ? AND transport IN (?) "
    "ORDER BY port, transport"
)
_NMAP_SQL = "SELECT transport, name, frequency FROM nmap WHERE port = ?"


def _cover(
    items: list[tuple[int, int, tuple[Any, ...], tuple[Any, ...]]],
) -> tuple[list[int], list[list[Any]], list[int]]:
    """Sweep (start, end, sort key, row) intervals: segment starts and, per segment, the covering rows in order
    and a number that is the same for segments covered by the same rows."""
    events: dict[int, list[tuple[bool, int]]] = {}
    for number, (start, end, _key, _row) in enumerate(items):
        events.setdefault(start, []).append((True, number))
        events.setdefault(end + 1, []).append((False, number))
    starts: list[int] = []
    results: list[list[Any]] = []
    sets: list[int] = []
    seen: dict[frozenset[int], int] = {}
    active: set[int] = set()
    for point in sorted(events):
        for add, number in events[point]:
            if add:
                active.add(number)
            else:
                active.discard(number)
        starts.append(point)
        results.append([items[n][3] for n in sorted(active, key=lambda n: items[n][2])])
        sets.append(seen.setdefault(frozenset(active), len(seen)))
    return starts, results, sets


class _MemoryKB(_PreloadedKB):
    """lookup's per-port queries on ``ranges``, ``iana``, ``trojans`` and ``nmap`` answered from memory.

    Every row is loaded once; a sweep over the ports gives, per segment where the covering rows do not change,
    those rows already in the SQL's ORDER BY (rowid breaks ties, as SQLite's scans do). Other queries go to
    the in-memory SQLite copy.
    """

    def __init__(self, source: KnowledgeBase) -> None:
        super().__init__(source)
        ranges: dict[str, list[tuple[int, int, tuple[Any, ...], tuple[Any, ...]]]] = {}
        for rowid, spec, *row in self.rows(f"SELECT rowid, spec, {_SPEC_COLUMNS} FROM ranges"):
            ranges.setdefault(row[1], []).append((row[2], row[3], (row[0], spec, row[2], row[3], rowid), tuple(row)))
        iana: dict[str, list[tuple[int, int, tuple[Any, ...], tuple[Any, ...]]]] = {}
        for rowid, *row in self.rows(
            "SELECT rowid, name, transport, start, end, description FROM iana "
            "WHERE start IS NOT NULL AND end IS NOT NULL"
        ):
            iana.setdefault(row[1], []).append((row[2], row[3], (row[2], row[1], row[0], row[3], rowid), tuple(row)))
        self._ranges = {transport: _cover(items) for transport, items in ranges.items()}
        self._iana = {transport: _cover(items) for transport, items in iana.items()}
        self._trojans: dict[tuple[int, str], list[tuple[Any, ...]]] = {}
        for port, transport, names in self.rows("SELECT port, transport, names FROM trojans ORDER BY rowid"):
            self._trojans.setdefault((port, transport), []).append((port, transport, names))
        self._nmap_rows: dict[int, list[tuple[Any, ...]]] = {}
        if self._nmap:
            for port, transport, name, frequency in self.rows(
                "SELECT port, transport, name, frequency FROM nmap ORDER BY port, transport, rowid"
            ):
                self._nmap_rows.setdefault(port, []).append((transport, name, frequency))

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if sql in (_RANGES_SQL, _IANA_SQL):
            transport, end, start = params
            if start == end and isinstance(start, int):
                starts, results, _sets = (self._ranges if sql == _RANGES_SQL else self._iana).get(
                    transport, ([], [], [])
                )
                at = bisect_right(starts, start) - 1
                return list(results[at]) if at >= 0 else []
        elif sql == _TROJANS_SQL:
            start, end, transport = params
            if start == end and isinstance(start, int):
                return list(self._trojans.get((start, transport), ()))
        elif sql == _NMAP_SQL:
            return list(self._nmap_rows.get(params[0], ()))
        return super().rows(sql, params)

    def signature(self, transport: str, port: int) -> tuple[Any, ...]:
        """Everything ``_port_matches`` reads for ``port``: equal signatures, equal rankings.

        The covering ``ranges`` and ``iana`` rows (as set numbers), the family rows whose base is the port, and
        the port's own trojan and nmap rows; nothing else in a port query depends on the port.
        """
        key: list[Any] = [transport]
        for table in (self._ranges, self._iana):
            starts, results, sets = table.get(transport, ([], [], []))
            at = bisect_right(starts, port) - 1
            key.append(sets[at] if at >= 0 else -1)
            if table is self._ranges:
                key.append(tuple(row for row in results[at] if row[11] == port) if at >= 0 else ())
        key.append(tuple(self._trojans.get((port, transport), ())))
        key.append(tuple(self._nmap_rows.get(port, ())))
        return tuple(key)


def _boundaries(kb: KnowledgeBase, transport: str) -> list[int]:
    """Every port where the set of index rows that cover a port may change."""
    points = {0, PORTS}
    for start, end, base in kb.rows("SELECT start, end, base FROM ranges WHERE transport = ?", (transport,)):
        points.update((start, end + 1))
        if base is not None:
            points.update((base, base + 1))
    for start, end in kb.rows("SELECT start, end FROM iana WHERE transport = ? AND start IS NOT NULL", (transport,)):
        points.update((start, end + 1))
    singles = "SELECT port FROM trojans WHERE transport = ?"
    if kb.nmap_available:
        singles += " UNION SELECT port FROM nmap WHERE transport = ?"
    for (port,) in kb.rows(singles, (transport,) * singles.count("?")):
        points.update((port, port + 1))
    return sorted(p for p in points if 0 <= p <= PORTS)


def ranked_matches(kb: KnowledgeBase, transport: str, port: int) -> list[Match]:
    """``lookup(kb, f"{port}/{transport}").matches`` without parsing or port context."""
    query = Query(f"{port}/{transport}", "port", start=port, end=port, transports=(transport,))
    matches = _port_matches(kb, query)
    for match in matches:  # the same floor and order as lookup()
        if match.source != "trojans":
            match.confidence = min(1.0, max(FLOOR, match.confidence))
    matches.sort(key=lambda m: (-m.confidence, SOURCE_ORDER.get(m.source, 9), m.title.lower(), m.transport))
    return matches


def _record(matches: list[Match]) -> list[object]:
    services = [m for m in matches if m.source != "trojans"]
    trojans = [m for m in matches if m.source == "trojans"]
    ids: list[str] = []
    for match in services:
        if match.name not in ids:
            ids.append(match.name)
    best = services[0] if services else None
    return [
        best.name if best else "",
        best.title if best else "",
        ids[1 : 1 + MAX_ALTERNATIVES],
        round(best.confidence, 3) if best else 0.0,
        flow_risk(best.risk_tags if best else [], bool(trojans)),
        bool(trojans),
        bool(best and best.match != "dynamic"),
    ]


def build_table(kb: KnowledgeBase) -> PortTable:
    """Compute the table from the index (seconds, not minutes: one ranking per segment, see the docstring)."""
    started = time.perf_counter()
    memory = _MemoryKB(kb)
    try:
        records: list[list[object]] = [_record([])]
        numbers: dict[str, int] = {json.dumps(records[0]): 0}
        known: dict[tuple[Any, ...], str] = {}  # signature -> record key: one ranking per distinct signature
        columns: dict[str, array[int]] = {}
        for transport in TABLE_TRANSPORTS:
            column = array("I", bytes(4 * PORTS))
            points = _boundaries(memory, transport)
            for start, end in itertools.pairwise(points):
                signature = memory.signature(transport, start)
                key = known.get(signature)
                if key is None:
                    record = _record(ranked_matches(memory, transport, start))
                    key = known[signature] = json.dumps(record)
                else:
                    record = records[numbers[key]]
                number = numbers.get(key)
                if number is None:
                    number = numbers[key] = len(records)
                    records.append(record)
                if number:
                    column[start:end] = array("I", [number]) * (end - start)
            columns[transport] = column
    finally:
        memory.close()
    table = PortTable(records, columns, os.path.basename(kb.path or ""))
    table.build_seconds = time.perf_counter() - started
    return table


def code_stamp() -> str:
    """A hash of the ranking code: a table built by another version of lookup.py is rebuilt, not trusted."""
    digest = hashlib.sha256()
    for module in (_port_matches.__code__.co_filename, __file__):
        try:
            with open(module, "rb") as handle:
                digest.update(handle.read())
        except OSError:
            digest.update(module.encode())
    return digest.hexdigest()[:16]


def table_path(index_path: str) -> str:
    return index_path + SUFFIX


def load_or_build(kb: KnowledgeBase) -> PortTable:
    """The cached table for ``kb``'s index, building and caching it when missing or unreadable."""
    if not kb.path:
        return build_table(kb)
    path = table_path(kb.path)
    if os.path.isfile(path):
        try:
            table = PortTable.load(path)
            if table.index_name == os.path.basename(kb.path) and table.code == code_stamp():
                return table
        except DataError:
            pass
    table = build_table(kb)
    try:
        table.dump(path)
        table.path = path
        _remove_orphans(os.path.dirname(path))
    except OSError:
        pass  # a read-only cache still gets a correct (just not cached) table
    return table


def _remove_orphans(directory: str) -> None:
    """Drop tables whose index anyport's cache has removed."""
    for name in os.listdir(directory):
        # the table and what is derived from it (the DuckDB engine's cache, porttable.duckdb)
        base = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name.removesuffix(SUFFIX + ".duckdb")
        if base != name and not os.path.exists(os.path.join(directory, base)):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                continue
