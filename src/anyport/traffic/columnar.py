"""Annotate big flow tables with DuckDB: Parquet, CSV and Zeek TSV in; Parquet, CSV, JSON lines or Arrow out.

The Python engine (:mod:`anyport.traffic.annotate`) handles a flow at a time; this one hands the whole job to
DuckDB as one ``COPY (SELECT ...) TO`` statement, so a 10 M-row table costs about what DuckDB needs to read
and rewrite it. The port table becomes a dense DuckDB table keyed by ``transport * 65536 + port``
(:meth:`PortTable.dense_columns`); a flow finds its service with equi-joins on that key, never a range join.

Which side is the service follows :func:`anyport.traffic.annotate.service_side` exactly: the responder's port
when the input says who responded (Zeek's ``id.resp_p``), otherwise the port with the larger ``side_key``
(rank, confidence, lower port; the destination on a tie). Tests compare both engines row by row.

Bad rows (a wrong field count, a port that is not a number) are counted through DuckDB's reject tables, with
the first few line numbers, and left out of the output as the Python engine leaves them out.

Output rows keep the input's order. DuckDB promises that through a join only on one thread, so:

- Parquet in and out: only the six added columns are written, in row groups the size of the input's, and put
  beside the input's own column chunks, which are copied as they are (:func:`anyport.traffic.parquetjoin.widen`);
- a big input otherwise is cut into one piece per thread (:mod:`anyport.traffic.pieces`: byte ranges of a CSV or
  Zeek log at line ends, row ranges of a Parquet file), each annotated by its own one-thread query, the parts
  joined in order (text appended, Parquet row groups moved under one footer: :mod:`anyport.traffic.parquetjoin`);
- ``ordered=False`` (``--any-order``) runs one query on every thread and lets their blocks interleave;
- Arrow IPC output takes no join at all: DuckDB computes each row's keys in a projection, which keeps the order on
  every thread, and the answers are gathered per batch (:mod:`anyport.traffic.frames`).

Needs the ``traffic`` extra (duckdb, pyarrow); imported only when used.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from typing import NamedTuple, TypeVar

from anyport.errors import DataError, QueryError
from anyport.traffic.annotate import ADDED, AnnotateStats
from anyport.traffic.compressed import compression_of
from anyport.traffic.porttable import TABLE_TRANSPORTS, PortTable
from anyport.traffic.readers import CSV_COLUMNS, PROTO_NUMBERS, RESPONDER_COLUMNS, ReadStats, _locate, is_parquet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from anyport.query.kb import KnowledgeBase

T = TypeVar("T")
INPUT_KINDS = ("parquet", "csv", "zeek")
# Zeek TSV types -> DuckDB types (anything else, addresses and sets included, stays text)
ZEEK_TYPES = {
    "port": "INTEGER",
    "count": "UBIGINT",
    "int": "BIGINT",
    "double": "DOUBLE",
    "interval": "DOUBLE",
}  # "time" stays text: Zeek's test baselines write placeholder timestamps (XXXXXXXXXX.XXXXXX)
MEMORY_LIMIT = "600MB"  # with the reader's and writer's buffers the process stays under 1 GB


def available() -> bool:
    """True when duckdb and pyarrow can be imported."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("duckdb", "pyarrow"))


def require() -> None:
    if not available():
        raise DataError(
            "the duckdb engine and Parquet need the traffic extra: pip install 'anyport[traffic]' "
            "(or use --engine python with CSV, Zeek or capture inputs)"
        )


# -- inputs ---------------------------------------------------------------------------------------------------


class ZeekHeader:
    """What a Zeek TSV file's ``#`` header says: separator, unset/empty markers, fields and types."""

    def __init__(self) -> None:
        self.separator = "\t"
        self.unset = "-"
        self.empty = "(empty)"
        self.fields: list[str] = []
        self.types: list[str] = []

    @property
    def column_types(self) -> list[str]:
        """One Zeek type per field ('string' for all when the #types line is missing or does not match)."""
        return self.types if len(self.types) == len(self.fields) else ["string"] * len(self.fields)

    def empty_columns(self) -> tuple[str, set[str]]:
        """The empty-field marker and the text columns (strings, sets, vectors) it can stand in."""
        return self.empty, {
            name
            for name, kind in zip(self.fields, self.column_types, strict=True)
            if ZEEK_TYPES.get(kind) is None and (kind == "string" or kind.startswith(("set", "vector", "table")))
        }


def input_kind(path: str) -> str:
    """'parquet', 'csv' or 'zeek' from a file's content; DataError for what this engine does not read."""
    from anyport.traffic.readers import _open, _sniff, detect_format

    if is_parquet(path):
        return "parquet"
    handle = _open(path)  # a directory or a missing file is a DataError here
    try:
        found = detect_format(_sniff(handle, path))
    finally:
        handle.close()
    if found not in ("csv", "zeek"):
        raise DataError(f"{path} is {found}; the duckdb engine reads Parquet, CSV and Zeek TSV (use --engine python)")
    return found


def _compression(path: str) -> str:
    """DuckDB's name for the compression of a text input: 'gzip', 'zstd' or 'none'."""
    with open(path, "rb") as handle:
        return compression_of(handle.read(8)) or "none"


def zeek_header(path: str) -> ZeekHeader:
    """The header of a Zeek TSV log (read with the same decompression as the file)."""
    from anyport.traffic.readers import _open, _unescape

    header = ZeekHeader()
    handle = _open(path)
    try:
        head = handle.read(1 << 16)
    finally:
        handle.close()
    for raw in head.split(b"\n"):
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        if not line.startswith("#"):
            break
        if line.startswith("#separator"):
            header.separator = _unescape(line.partition(" ")[2].strip()) or "\t"
            continue
        key, _, value = line.partition(header.separator)
        if key == "#unset_field":
            header.unset = value
        elif key == "#empty_field":
            header.empty = value
        elif key == "#fields":
            header.fields = value.split(header.separator)
        elif key == "#types":
            header.types = value.split(header.separator)
    if not header.fields:
        raise DataError(
            f"{path}: a Zeek log without a #fields header; the duckdb engine needs it (use --engine python)"
        )
    return header


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _paths_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def source_sql(
    paths: Sequence[str],
    kind: str,
    headers: Sequence[ZeekHeader] | None = None,
    compression: str | None = None,
    verbatim: Sequence[str] = (),
) -> str:
    """A DuckDB table expression reading ``paths`` (all of one kind), rejects stored for counting.

    ``headers`` are the Zeek logs' headers when the caller has read them already; ``compression`` is given for
    a pipe, whose first bytes cannot be looked at twice. ``verbatim`` names columns read as text, so that text
    output writes them as they were (a CSV's floats and dates, or every Zeek double when it holds '*').
    """
    if kind == "parquet":
        return f"read_parquet({_paths_list(paths)}, union_by_name = true)"
    compressions = {compression or _compression(p) for p in paths}
    if len(compressions) > 1:
        raise DataError("the duckdb engine reads files of one compression at a time; run them separately")
    compression = compressions.pop()
    common = f"compression = {_literal(compression)}, ignore_errors = true, store_rejects = true"
    if kind == "csv":
        types = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in verbatim)
        typed = f", types = {{{types}}}" if types else ""
        return f"read_csv({_paths_list(paths)}, header = true, sample_size = 65536{typed}, {common})"
    headers = headers or [zeek_header(p) for p in paths]
    first = headers[0]
    if any(h.fields != first.fields or h.separator != first.separator for h in headers[1:]):
        raise DataError("these Zeek logs have different #fields; annotate them separately")
    # '*': Zeek's numbers as text (all but ports): 0.447460 stays 0.447460, and a line whose byte count is not a
    # number is kept as the Python reader keeps it, instead of being rejected
    text = "*" in verbatim

    def zeek_type(name: str) -> str:
        return "VARCHAR" if text and name != "port" else ZEEK_TYPES.get(name, "VARCHAR")

    columns = ", ".join(
        f"{_literal(name)}: {_literal(zeek_type(kind_))}"
        for name, kind_ in zip(first.fields, first.column_types, strict=True)
    )
    # auto_detect off: the header says everything, and sniffing would take '#' lines for data
    return (
        f"read_csv({_paths_list(paths)}, delim = {_literal(first.separator)}, header = false, comment = '#', "
        f"quote = '', escape = '', nullstr = {_literal(first.unset)}, auto_detect = false, "
        f"columns = {{{columns}}}, {common})"
    )


# -- the query ------------------------------------------------------------------------------------------------


def _proto_code(column: str) -> str:
    """SQL giving 0/1/2 for tcp/udp/sctp (names in any case, or IP protocol numbers), NULL otherwise."""
    names = {name: number for number, name in enumerate(TABLE_TRANSPORTS)}
    cases = [f"WHEN {_literal(name)} THEN {number}" for name, number in names.items()]
    cases += [f"WHEN {_literal(num)} THEN {names[name]}" for num, name in PROTO_NUMBERS.items() if name in names]
    general = f"CASE lower(trim(CAST({_quote(column)} AS VARCHAR))) {' '.join(cases)} END"
    # the usual spelling first: lower() and trim() make a new string for every row
    usual = " ".join(f"WHEN {_literal(name)} THEN {number}" for name, number in names.items())
    return f"CASE CAST({_quote(column)} AS VARCHAR) {usual} ELSE {general} END"


INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


def _port_exprs(column: str | None, kind: str, guarded: bool = False) -> tuple[str, str]:
    """(the port as INTEGER or NULL, a condition true when the column holds something that is no port).

    A port is what the Python readers accept: empty/NULL (no port) or a whole number 0-65535. Without
    ``guarded`` an integer column is taken as it is (its rows with no port are filtered out by the caller).
    """
    if column is None:
        return "CAST(NULL AS INTEGER)", "false"
    col = _quote(column)
    if kind.upper() in INTEGER_TYPES:
        ok = f"{col} BETWEEN 0 AND 65535"
    elif kind.upper() in ("FLOAT", "DOUBLE") or kind.upper().startswith("DECIMAL"):
        ok = f"({col} BETWEEN 0 AND 65535 AND {col} = floor({col}))"
    else:
        text = f"trim(CAST({col} AS VARCHAR))"
        # TRY_CAST: DuckDB does not promise to stop at a false AND
        ok = f"(regexp_full_match({text}, '[0-9]{{1,5}}') AND coalesce(TRY_CAST({text} AS INTEGER) <= 65535, false))"
        empty = f"{col} IS NULL OR {text} = ''"
        return f"CASE WHEN {ok} THEN TRY_CAST({text} AS INTEGER) END", f"NOT ({empty} OR {ok})"
    if kind.upper() in INTEGER_TYPES and not guarded:  # the rows it is not a port in are filtered out
        return col, f"({col} IS NOT NULL AND NOT {ok})"
    return f"CASE WHEN {ok} THEN TRY_CAST({col} AS INTEGER) END", f"({col} IS NOT NULL AND NOT {ok})"


class Plan:
    """The annotating SELECT for a source, and the condition that picks its rows with a broken port."""

    def __init__(self, select: str, invalid: str, port_columns: list[str], keys: str = "") -> None:
        self.select = select
        self.invalid = invalid
        self.port_columns = port_columns
        # the input's columns plus each row's keys (__anyport_dk, and __anyport_sk unless the responder is known;
        # -1 for none), without a join:
        # a projection keeps the input order on every thread (see anyport.traffic.frames)
        self.keys = keys


def annotate_sql(
    source: str,
    names: Sequence[str],
    columns: Mapping[str, str] | None,
    empty: tuple[str, set[str]] | None = None,
    types: Sequence[str] | None = None,
    text: bool = False,
    keep_broken: bool = False,
) -> Plan:
    """The SELECT that annotates every row of ``source`` (whose columns are ``names`` of DuckDB ``types``).

    ``empty`` is Zeek's empty-field marker and the columns it may appear in: they read as '' (as in Python).
    ``text`` is for CSV output: the confidence comes as its text and the transport as plain text, which spares
    the writer formatting a number and decoding an ENUM on every row (Parquet and JSON keep the typed columns).
    Rows whose port column holds something that is not a port are left out, as the Python readers leave them;
    with ``keep_broken`` they stay, with no port on that side.
    """
    where = _locate(list(names), columns or {})
    if "src_port" not in where and "dst_port" not in where:
        found = ", ".join(repr(n[:40]) for n in names[:20]) or "none"
        raise DataError(
            f"no port column (looked for {'/'.join(CSV_COLUMNS['dst_port'][:4])}/...; found {found}); "
            "name the columns with --columns dst_port=YourColumn"
        )
    src = names[where["src_port"]] if "src_port" in where else None
    dst = names[where["dst_port"]] if "dst_port" in where else None
    responder_known = dst is not None and dst.strip().lower() in RESPONDER_COLUMNS
    proto = _proto_code(names[where["proto"]]) if "proto" in where else "CAST(NULL AS INTEGER)"
    confidence = "confidence_text" if text else "confidence"
    marker, emptiable = empty if empty is not None else ("", set())

    blank = "NULL" if text else "''"  # CSV writes NULL as an empty field and '' as ""

    def value(name: str) -> str:
        if name in emptiable:
            return f"CASE WHEN f.{_quote(name)} = {_literal(marker)} THEN {blank} ELSE f.{_quote(name)} END"
        return f"f.{_quote(name)}"

    def textual(expression: str) -> str:
        return f"NULLIF({expression}, '')" if text else expression

    kept = ", ".join(f"{value(n)} AS {_quote('input_' + n) if n in ADDED else _quote(n)}" for n in names)
    kinds = dict(zip(names, types or ["VARCHAR"] * len(names), strict=True))
    src_port, src_bad = _port_exprs(src, kinds.get(src or "", "VARCHAR"), keep_broken)
    dst_port, dst_bad = _port_exprs(dst, kinds.get(dst or "", "VARCHAR"), keep_broken)
    invalid = f"({src_bad}) OR ({dst_bad})"
    kept_rows = "" if keep_broken else f" WHERE NOT ({invalid})"
    # keys into the dense table; a flow without a usable port or transport gets the empty row -1
    flows = (
        f"SELECT *, coalesce(__anyport_t + {src_port}, -1) AS __anyport_sk, "
        f"coalesce(__anyport_t + {dst_port}, -1) AS __anyport_dk, {dst_port} IS NOT NULL AS __anyport_has_dp "
        f"FROM (SELECT *, ({proto}) * 65536 AS __anyport_t FROM {source}{kept_rows})"
    )
    dk = "f.__anyport_dk"
    if responder_known:  # one key: the responder's port, or the other one when there is none
        dk = f"CASE WHEN f.__anyport_has_dp THEN {dk} ELSE f.__anyport_sk END"
    sk = "" if responder_known else ", CAST(f.__anyport_sk AS INTEGER) AS __anyport_sk"
    keys = f"WITH flows AS ({flows}) SELECT {kept}, CAST({dk} AS INTEGER) AS __anyport_dk{sk} FROM flows f"
    if responder_known:
        # one key per flow: one join against the dense table gives every added column
        sides = (
            "SELECT f.*, CASE WHEN f.__anyport_has_dp THEN f.__anyport_dk ELSE f.__anyport_sk END AS __anyport_k "
            "FROM flows f"
        )
        added = (
            f"{textual('d.service')} AS service, d.port AS service_port, {textual('d.transport')} AS service_proto, "
            f"{textual('d.alternatives')} AS alternatives, d.{confidence} AS confidence, {textual('d.risk')} AS risk"
        )
        return Plan(
            f"WITH flows AS ({flows}), sided AS ({sides}) "
            f"SELECT {kept}, {added} FROM sided f JOIN anyport_dense d ON d.k = f.__anyport_k",
            invalid,
            [c for c in (src, dst) if c is not None],
            keys,
        )
    # two keys per flow: two narrow joins (side key and record number of each port) pick the side, then one join
    # against the ~12,000 distinct records (small enough to stay in cache) adds the texts; port and transport
    # come from the chosen key itself
    sides = (
        "SELECT f.*, CASE WHEN kd.side_key >= ks.side_key THEN f.__anyport_dk ELSE f.__anyport_sk END AS __anyport_k, "
        "CASE WHEN kd.side_key >= ks.side_key THEN kd.rec ELSE ks.rec END AS __anyport_rec FROM flows f "
        "JOIN anyport_keys kd ON kd.k = f.__anyport_dk JOIN anyport_keys ks ON ks.k = f.__anyport_sk"
    )
    names_by_code = " ".join(f"WHEN {code} THEN {_literal(name)}" for code, name in enumerate(TABLE_TRANSPORTS))
    transport = f"CASE WHEN f.__anyport_k >= 0 THEN (CASE f.__anyport_k // 65536 {names_by_code} END) ELSE {blank} END"
    added = (
        f"{textual('r.service')} AS service, CASE WHEN f.__anyport_k >= 0 THEN CAST(f.__anyport_k % 65536 AS INTEGER) "
        f"END AS service_port, {transport if text else f'CAST({transport} AS anyport_transport)'} AS service_proto, "
        f"{textual('r.alternatives')} AS alternatives, r.{confidence} AS confidence, {textual('r.risk')} AS risk"
    )
    select = (
        f"WITH flows AS ({flows}), sided AS ({sides}) "
        f"SELECT {kept}, {added} FROM sided f JOIN anyport_recs r ON r.rec = f.__anyport_rec"
    )
    return Plan(select, invalid, [c for c in (src, dst) if c is not None], keys)


# -- running it -------------------------------------------------------------------------------------------------


CACHE_SUFFIX = ".duckdb"
CACHE_VERSION = "2"  # bump when the tables below change


def connect(table: PortTable, memory_limit: str | None = None) -> Any:
    """A DuckDB connection holding the dense port table (``anyport_dense``), its distinct records
    (``anyport_recs``) and, per (transport, port) key, the side key and record number (``anyport_keys``).

    The tables are cached in a DuckDB file next to the port table (built once, then opened read-only in
    milliseconds); without a writable cache they are built in memory.
    """
    import duckdb

    stamp = f"{CACHE_VERSION}:{table.index_name}:{table.code}:{duckdb.__version__}"
    cache = f"{table.path}{CACHE_SUFFIX}" if table.path else ""
    con = _open_cache(cache, stamp) if cache else None
    if con is None and cache:
        con = _build_cache(table, cache, stamp)
    if con is None:
        con = duckdb.connect()
        _fill(con, table)
    con.execute(f"SET memory_limit = {_literal(memory_limit or MEMORY_LIMIT)}")
    _session(con)
    threads = os.environ.get("ANYPORT_THREADS")
    if threads and threads.isdigit():
        con.execute(f"SET threads = {int(threads)}")
    return con


def _session(con: Any) -> None:
    """The settings of one connection (or cursor) that runs an annotating query."""
    # The flows are always the probe side: the optimizer would otherwise hash a small input and probe it with
    # the port table, or misjudge a Zeek file's size and hash 10 M flows.
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    con.execute("PRAGMA enable_profiling = 'no_output'")  # row counts of the scans: rows left out are counted
    # progress is tracked for our own bar (query_progress), never printed by DuckDB
    con.execute("SET enable_progress_bar = true")
    con.execute("SET enable_progress_bar_print = false")


def _open_cache(path: str, stamp: str) -> Any:
    import duckdb

    if not os.path.isfile(path):
        return None
    try:
        con = duckdb.connect(path, read_only=True)
    except Exception:  # another DuckDB version's file, or a damaged one: rebuilt below
        return None
    try:
        row = con.execute("SELECT stamp FROM anyport_meta").fetchone()
    except Exception:
        row = None
    if row is None or row[0] != stamp:
        con.close()
        return None
    return con


def _build_cache(table: PortTable, path: str, stamp: str) -> Any:
    """Build the tables into ``path`` (atomically) and open it read-only; None when the cache is not writable."""
    import duckdb

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        con = duckdb.connect(tmp)
        try:
            _fill(con, table)
            con.execute("CREATE TABLE anyport_meta AS SELECT ? AS stamp", [stamp])
        finally:
            con.close()
        os.replace(tmp, path)
        return duckdb.connect(path, read_only=True)
    except Exception:
        return None
    finally:
        for leftover in (tmp, f"{tmp}.wal"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _fill(con: Any, table: PortTable) -> None:
    """Create the port-table tables in ``con``."""
    import pyarrow  # type: ignore[import-untyped]

    dense = table.dense_columns()
    codes = {name: number for number, name in enumerate(TABLE_TRANSPORTS)}
    dense["k"] = [codes[t] * 65536 + p for t, p in zip(dense["transport"], dense["port"], strict=True)]
    # the row for flows without a usable port or transport: no service, no port, the lowest side key
    empty = {"port": None, "confidence": 0.0, "trojan": False, "fixed": False, "side_key": -1, "k": -1}
    for name, values in dense.items():
        values.append(empty.get(name, ""))
    con.register("anyport_dense_arrow", pyarrow.table(dense))
    # Texts as ENUMs: a join then carries small integers, and the Parquet writer takes their dictionary as is.
    enums = ("service", "alternatives", "risk", "transport")
    for name in enums:
        con.execute(f"CREATE TYPE anyport_{name} AS ENUM (SELECT DISTINCT {name} FROM anyport_dense_arrow)")
    casts = ", ".join(f"CAST({name} AS anyport_{name}) AS {name}" for name in enums)
    # the confidence also as the CSV writer would spell it, for text output (see annotate_sql)
    spelled = "CAST(confidence AS VARCHAR)"
    con.execute(f"CREATE TYPE anyport_confidence AS ENUM (SELECT DISTINCT {spelled} FROM anyport_dense_arrow)")
    con.execute(
        f"CREATE TABLE anyport_dense AS SELECT * REPLACE (CAST(port AS INTEGER) AS port, {casts}), "
        f"CAST({spelled} AS anyport_confidence) AS confidence_text FROM anyport_dense_arrow ORDER BY k"
    )
    con.execute(
        "CREATE TABLE anyport_recs AS SELECT CAST(row_number() OVER (ORDER BY k) AS INTEGER) AS rec, "
        "service, alternatives, confidence, confidence_text, risk FROM (SELECT service, alternatives, confidence, "
        "confidence_text, risk, min(k) AS k FROM anyport_dense GROUP BY ALL)"
    )
    con.execute(
        "CREATE TABLE anyport_keys AS SELECT d.k, d.side_key, r.rec FROM anyport_dense d "
        "JOIN anyport_recs r USING (service, alternatives, confidence, confidence_text, risk) ORDER BY d.k"
    )
    con.unregister("anyport_dense_arrow")


def _copy_options(fmt: str, ordered: bool = True, header: bool = True) -> str:
    # PRESERVE_ORDER: DuckDB's joins are not order-preserving, so without it the rows of two threads interleave
    # (blocks of 2,048 flows out of order); with it the writer keeps the input order, on one thread
    order = f"PRESERVE_ORDER {str(ordered).lower()}"
    if fmt == "parquet":
        # DuckDB's default, snappy: zstd files are smaller but take a third longer
        return f"FORMAT parquet, {order}"
    if fmt == "csv":
        return f"FORMAT csv, HEADER {str(header).lower()}, {order}"
    return f"FORMAT json, {order}"


def _columns_of(con: Any, source: str) -> tuple[list[str], list[str]]:
    """The names and DuckDB types of ``source``'s columns."""
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except Exception as exc:  # duckdb.Error: the file cannot be read as that format
        raise DataError(f"cannot read the input: {_first_line(exc)}") from None
    return [str(row[0]) for row in described], [str(row[1]) for row in described]


def _scanned_rows(con: Any) -> int | None:
    """Rows the last query's table scans produced, from DuckDB's profile (None when it cannot tell)."""
    import json

    try:
        profile = json.loads(con.get_profiling_information(format="json"))
    except Exception:
        return None
    total = 0
    found = False
    stack = list(profile.get("operator") or profile.get("children") or [])
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        if str(node.get("type", "")).upper() in ("TABLE_SCAN", "READ_CSV", "READ_PARQUET") or str(
            node.get("name", "")
        ).upper() in ("TABLE_SCAN", "READ_CSV_AUTO", "READ_CSV", "READ_PARQUET"):
            extra = node.get("extra_info") or {}
            if "anyport_" not in json.dumps(extra):  # not the port table
                total += int(node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0)
                found = True
        stack.extend(node.get("children") or [])
    return total if found else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _file_stats(
    con: Any,
    paths: Sequence[str],
    kind: str,
    plan: Plan,
    source: str,
    written: int,
    lines_before: Callable[[], int] | None = None,
) -> ReadStats:
    """What was read: rows written, rows DuckDB rejected (with line numbers), rows left out for a broken port.

    One record for all ``paths``: DuckDB reads them as one table. ``lines_before`` gives the number of lines
    ahead of the part ``con`` read (a piece of a file: see :mod:`anyport.traffic.pieces`).
    """
    stats = ReadStats(paths[0] if len(paths) == 1 else f"{len(paths)} files")
    stats.format = f"{kind} (duckdb)"
    scanned = _scanned_rows(con)
    stats.records = written
    if kind != "parquet":
        try:
            rows = con.execute(
                "SELECT s.file_path, e.line, e.error_type, e.error_message FROM reject_errors e "
                "JOIN reject_scans s USING (scan_id, file_id) ORDER BY s.file_path, e.line"
            ).fetchall()
        except Exception:  # no reject tables: nothing was rejected
            rows = []
        seen: set[tuple[str, int]] = set()
        ahead = lines_before() if rows and lines_before is not None else 0
        for path, line, error, message in rows:
            if (str(path), int(line)) in seen:
                continue
            seen.add((str(path), int(line)))
            where = f"{path} " if len(paths) > 1 else ""
            reason = f"{str(error).lower().replace('_', ' ')}: {str(message).splitlines()[0][:120]}"
            stats.bad_line(int(line) + ahead, where + reason)
    broken = (scanned - written) if scanned is not None and scanned > written else 0
    if kind == "parquet":  # the Parquet reader applies the port filter itself: its profile counts kept rows only
        row = con.execute(f"SELECT count(*) FROM {source} WHERE {plan.invalid}").fetchone()
        broken = int(row[0]) if row else 0
    if broken:
        stats.bad += broken
        shown = ", ".join(_quote(c) for c in plan.port_columns)
        for values in con.execute(f"SELECT {shown} FROM {source} WHERE {plan.invalid} LIMIT 5").fetchall():
            if len(stats.examples) < 5:
                text = ", ".join(f"{c}={str(v)[:20]!r}" for c, v in zip(plan.port_columns, values, strict=True))
                stats.examples.append((0, f"a port that is no port ({text})"))
    stats.lines = stats.records + stats.bad
    return stats


def annotate_columnar(
    paths: Sequence[str],
    out_path: str,
    fmt: str,
    columns: Mapping[str, str] | None = None,
    kb: KnowledgeBase | None = None,
    progress: Callable[[float], None] | None = None,
    input_format: str | None = None,
    ordered: bool = True,
) -> AnnotateStats:
    """Annotate Parquet/CSV/Zeek TSV ``paths`` into ``out_path`` as parquet, csv, jsonl or arrow with DuckDB.

    ``progress`` (if given) is called with the percentage done while the query runs. With ``ordered`` the rows
    keep the input order, which DuckDB can only promise by running the joins on one thread; without it they
    come in blocks of 2,048 from each thread, in any order, about twice as fast on two cores.
    """
    require()
    from anyport.traffic.annotate import output_format, start

    fmt = output_format(fmt, out_path)
    kind = kind_of(paths, input_format)
    stats, table = start(kb)
    started = time.perf_counter()
    con = connect(table)
    try:
        source, names, types, headers, plan = prepare(con, paths, kind, columns, text=fmt == "csv")
        target = "/dev/stdout" if out_path == "-" else out_path
        tmp = target if out_path == "-" else f"{out_path}.{os.getpid()}.tmp"
        read = None
        if fmt == "arrow":  # keys by a projection, answers gathered (see anyport.traffic.frames): in order
            from anyport.traffic.frames import annotate_to_arrow

            try:
                count, stats.identified = annotate_to_arrow(
                    con, plan.keys, tmp, f"annotating {', '.join(paths)}", progress
                )
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            read = _file_stats(con, paths, kind, plan, source, count)
        if read is None and out_path != "-":  # the faster ways in input order (see the module's docstring)
            read = _annotate_widened(con, paths, kind, fmt, plan, source, names, tmp, progress)
            cut = _pieces(con, paths, kind, fmt, names, types) if read is None and ordered else None
            if cut is not None:
                read = _annotate_pieces(
                    con, paths[0], kind, cut, tmp, fmt, plan, source, names, types, columns, headers, progress
                )
        if read is None:
            statement = f"COPY ({plan.select}) TO {_literal(tmp)} ({_copy_options(fmt, ordered)})"
            try:
                count = _run_with_progress(con, statement, progress)
            except Exception as exc:
                if tmp != target and os.path.exists(tmp):
                    os.unlink(tmp)
                raise DataError(f"annotating {', '.join(paths)} failed: {_first_line(exc)}") from None
            read = _file_stats(con, paths, kind, plan, source, count)
        if tmp != target:
            os.replace(tmp, target)
        stats.rows = read.records
        stats.files = [read]
        # not counted for text: it would take a second pass over the file
        if fmt != "arrow":
            stats.identified = _identified(con, target) if fmt == "parquet" else -1
    finally:
        con.close()
        stats.seconds = time.perf_counter() - started
    return stats


def kind_of(paths: Sequence[str], input_format: str | None) -> str:
    """The one input kind (:data:`INPUT_KINDS`) of ``paths``: ``input_format`` or detected from content."""
    if input_format is not None and input_format not in INPUT_KINDS:
        raise QueryError(f"the duckdb engine reads {', '.join(INPUT_KINDS)}, not {input_format}; use --engine python")
    kinds = {input_format or input_kind(p) for p in paths}
    if len(kinds) > 1:
        raise DataError(f"the duckdb engine reads inputs of one format at a time (found {', '.join(sorted(kinds))})")
    return kinds.pop()


class Prepared(NamedTuple):
    """What reading ``paths`` takes: the source expression, its columns and types, Zeek headers, the plan."""

    source: str
    names: list[str]
    types: list[str]
    headers: list[ZeekHeader] | None
    plan: Plan


def prepare(
    con: Any,
    paths: Sequence[str],
    kind: str,
    columns: Mapping[str, str] | None,
    text: bool = False,
    all_text: bool = False,
) -> Prepared:
    """Plan annotating ``paths`` of ``kind`` (``text``: for CSV output, fields kept as written; ``all_text``: a
    CSV's port and protocol columns too, every field as the Python reader sees it)."""
    headers = [zeek_header(p) for p in paths] if kind == "zeek" else None
    source = source_sql(paths, kind, headers)
    names, types = _columns_of(con, source)
    verbatim = (list(names) if all_text and kind == "csv" else _verbatim(kind, names, types, columns)) if text else []
    if verbatim:
        source = source_sql(paths, kind, headers, verbatim=verbatim)
        names, types = _columns_of(con, source)
    empty = headers[0].empty_columns() if headers else None
    plan = annotate_sql(source, names, columns, empty, types, text=text)
    return Prepared(source, names, types, headers, plan)


def _annotate_widened(
    con: Any,
    paths: Sequence[str],
    kind: str,
    fmt: str,
    plan: Plan,
    source: str,
    names: Sequence[str],
    tmp: str,
    progress: Callable[[float], None] | None,
) -> ReadStats | None:
    """Parquet in, Parquet out: write only the added columns, in row groups the size of the input's, and put
    them beside the input's own column chunks, copied as they are (:func:`anyport.traffic.parquetjoin.widen`).

    None (nothing written) when the input does not allow it: several files, input columns named like the added
    ones, rows left out for a broken port, uneven row groups, key-value metadata or encryption.
    """
    from anyport.traffic import parquetjoin
    from anyport.traffic.annotate import ADDED

    if kind != "parquet" or fmt != "parquet" or len(paths) != 1 or set(names) & set(ADDED):
        return None
    path = paths[0]
    groups = parquetjoin.row_groups(path)
    if not groups or groups[0] % 2048 or any(n != groups[0] for n in groups[:-1]) or groups[-1] > groups[0]:
        return None  # DuckDB writes row groups in whole vectors of 2,048 rows
    broken = con.execute(f"SELECT count(*) FROM {source} WHERE {plan.invalid}").fetchone()
    if broken is None or broken[0]:
        return None
    added = f"{tmp}.added"
    statement = (
        f"COPY (SELECT {', '.join(ADDED)} FROM ({plan.select})) TO {_literal(added)} "
        f"(FORMAT parquet, PRESERVE_ORDER true, ROW_GROUP_SIZE {groups[0]})"
    )
    try:
        # DuckDB's estimate for this query stays near 1% until the end: a spinner instead
        count = _run_with_progress(
            con, statement, (lambda value: progress(-1.0 if value < 100 else 100.0)) if progress else None
        )
        parquetjoin.widen(path, added, tmp)
    except parquetjoin.CannotJoin:
        return None
    except Exception as exc:
        raise DataError(f"annotating {path} failed: {_first_line(exc)}") from None
    finally:
        if os.path.exists(added):
            os.unlink(added)
    read = ReadStats(path)
    read.format = f"{kind} (duckdb)"
    read.records = read.lines = count
    return read


def _verbatim(kind: str, names: Sequence[str], types: Sequence[str], columns: Mapping[str, str] | None) -> list[str]:
    """The columns to read as text so that CSV output keeps them as written ('*': Zeek's numbers but ports): DuckDB
    would rewrite 0.447460 as 0.44746, 007 as 7, True as true, a date in its own format.

    Port and protocol columns keep their types: the annotation reads them as numbers and names.
    """
    if kind == "zeek":
        return ["*"]
    if kind != "csv":
        return []
    where = _locate(list(names), columns or {})
    needed = {names[i] for i in where.values()}
    return [n for n, t in zip(names, types, strict=True) if n not in needed and t.upper() != "VARCHAR"]


def _identified(con: Any, parquet: str) -> int:
    """Rows of an annotated Parquet file that got a service."""
    found = con.execute(f"SELECT count(*) FROM read_parquet({_literal(parquet)}) WHERE service <> ''").fetchone()
    return int(found[0]) if found else 0


class _Cut:
    """How an input is cut into pieces, and how each piece is read."""

    def __init__(
        self, pieces: list[tuple[int, int]], reader: Callable[[int, str], str], feed: str | None = None
    ) -> None:
        self.pieces = pieces  # byte ranges of ``feed``, or row ranges of a Parquet file
        self.reader = reader  # (piece number, path of its pipe or '') -> DuckDB table expression
        self.feed = feed


def _threads(con: Any) -> int:
    row = con.execute("SELECT current_setting('threads')").fetchone()
    return int(row[0]) if row else 1


def _pieces(
    con: Any, paths: Sequence[str], kind: str, fmt: str, names: Sequence[str], types: Sequence[str]
) -> _Cut | None:
    """The pieces of one big input to annotate side by side in order, or None to run one query."""
    from anyport.traffic import pieces

    threads = _threads(con)
    if len(paths) != 1 or threads < 2:
        return None
    path = paths[0]
    count = pieces.count_for(path, threads)
    first = pieces.FIRST_SHARE  # a shorter first piece: the others are copied behind it while written
    if count < 2:
        return None
    if kind == "parquet":
        if "file_row_number" in names:
            return None
        groups = [
            int(r[0])
            for r in con.execute(
                "SELECT row_group_num_rows FROM parquet_metadata(?) GROUP BY row_group_id, row_group_num_rows "
                "ORDER BY row_group_id",
                [path],
            ).fetchall()
        ]
        rows = pieces.cut_rows(groups, count, first)
        if rows is None:
            return None
        ranges = rows

        def rows_of(number: int, _pipe: str) -> str:
            start, end = ranges[number]
            return (
                f"(SELECT * EXCLUDE (file_row_number) FROM read_parquet({_literal(path)}, file_row_number = true) "
                f"WHERE file_row_number >= {start} AND file_row_number < {end})"
            )

        return _Cut(rows, rows_of)
    if _compression(path) != "none" or not pieces.can_feed():
        return None
    if kind == "zeek":
        header = zeek_header(path)
        cut = pieces.cut(path, count, first=first)
        if cut is None:
            return None
        textual = ["*"] if fmt == "csv" else []
        return _Cut(
            cut, lambda _n, pipe: source_sql([pipe], "zeek", [header], compression="none", verbatim=textual), path
        )
    try:
        # sniffed as the whole-file read sniffs (source_sql): a broken line must not change the dialect
        row = con.execute(
            f"SELECT Quote, Prompt FROM sniff_csv({_literal(path)}, sample_size = 65536, ignore_errors = true)"
        ).fetchone()
    except Exception:
        return None
    if row is None:
        return None
    quote = "" if str(row[0]) == "(empty)" else str(row[0])
    # DuckDB's own spelling of what its sniffer found: FROM read_csv('path', auto_detect=false, ...);
    prompt = str(row[1]).strip().removeprefix("FROM ").rstrip(";").strip()
    literal = _literal(path)
    if not prompt.startswith(f"read_csv({literal},") or prompt.count("header=true") != 1 or not prompt.endswith(")"):
        return None
    cut = pieces.cut(path, count, quote, first)
    if cut is None:
        return None
    rest = prompt[len(f"read_csv({literal}") : -1]
    for name, kind_ in zip(names, types, strict=True):  # columns read as text for verbatim output
        if kind_ == "VARCHAR":
            rest = re.sub(f"({re.escape(_literal(name))}: )'[A-Z_]+(\\([0-9, ]*\\))?'", r"\1'VARCHAR'", rest)
    if "ignore_errors=true" not in rest:
        rest += ", ignore_errors = true"
    rest += ", store_rejects = true)"

    def reader(number: int, pipe: str) -> str:
        # the header, and any lines the sniffer skips before it, are in the first piece only
        options = rest if number == 0 else re.sub(r"\bskip=\d+", "skip=0", rest.replace("header=true", "header=false"))
        return f"read_csv({_literal(pipe)}{options}"

    if _columns_of(con, reader(0, path)) != (list(names), list(types)):
        return None  # the pieces would not read the columns the whole file has
    return _Cut(cut, reader, path)


def _annotate_pieces(
    con: Any,
    path: str,
    kind: str,
    cut: _Cut,
    tmp: str,
    fmt: str,
    plan: Plan,
    source: str,
    names: list[str],
    types: list[str],
    columns: Mapping[str, str] | None,
    headers: Sequence[ZeekHeader] | None,
    progress: Callable[[float], None] | None,
) -> ReadStats:
    """Annotate the pieces side by side into ``tmp`` (parts joined in order); what was read.

    ``plan`` and ``source`` are the whole input's: the conditions on broken ports hold for every piece."""
    from anyport.traffic import parquetjoin, pieces

    empty = headers[0].empty_columns() if headers else None
    text = fmt == "csv"
    parts = [tmp if n == 0 else f"{tmp}.{n}" for n in range(len(cut.pieces))]

    def statement(number: int, pipe: str) -> str:
        plan = annotate_sql(cut.reader(number, pipe), names, columns, empty, types, text)
        options = _copy_options(fmt, True, header=number == 0)
        return f"COPY ({plan.select}) TO {_literal(parts[number])} ({options})"

    def remove_parts() -> None:
        for part in parts:
            if os.path.exists(part):
                os.unlink(part)

    joiner = parquetjoin.ParquetJoin() if fmt == "parquet" else pieces.TextJoin()
    try:
        results = pieces.run(con, cut.pieces, parts, statement, _session, progress, cut.feed, joiner)
        if joiner.failed is not None:  # Parquet parts that cannot be joined as they are: rewritten as one
            joined = f"{tmp}.joined"
            con.execute(
                f"COPY (SELECT * FROM read_parquet({_paths_list(parts)})) TO {_literal(joined)} ({_copy_options(fmt)})"
            )
            remove_parts()
            os.replace(joined, tmp)
    except BaseException as exc:
        remove_parts()
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise DataError(f"annotating {path} failed: {_first_line(exc)}") from None
    read = ReadStats(path)
    read.format = f"{kind} (duckdb)"
    for number, (cursor, count) in enumerate(results):
        start = cut.pieces[number][0] if cut.feed is not None else 0
        own = source if cut.feed is not None else cut.reader(number, "")  # a Parquet piece: its own rows
        seen = _file_stats(cursor, [path], kind, plan, own, count, functools.partial(pieces.lines_before, path, start))
        cursor.close()
        read.records += seen.records
        read.bad += seen.bad
        read.lines += seen.lines
        for example in seen.examples:
            if len(read.examples) < 5:
                read.examples.append(example)
    return read


def _run_with_progress(con: Any, statement: str, progress: Callable[[float], None] | None) -> int:
    """Run ``statement``; call ``progress`` with DuckDB's percentage from a watcher thread meanwhile."""
    row = watched(con, progress, lambda: con.execute(statement).fetchone())
    return int(row[0]) if row else 0


def watched(con: Any, progress: Callable[[float], None] | None, call: Callable[[], T]) -> T:
    """``call()``, which runs a query on ``con``, with ``progress`` told DuckDB's percentage meanwhile (and 100
    at the end) from a watcher thread."""
    done = threading.Event()

    def watch() -> None:
        assert progress is not None
        while not done.wait(0.2):
            try:
                value = float(con.query_progress())
            except Exception:
                return
            if value >= 0:
                progress(value)

    watcher = threading.Thread(target=watch, daemon=True) if progress is not None else None
    if watcher is not None:
        watcher.start()
    try:
        result = call()
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    if progress is not None:
        progress(100.0)
    return result
