"""The summary of big flow files with DuckDB: one grouping query per file instead of a Python loop per flow.

DuckDB annotates the flows (the same plan as ``anyport annotate``) and groups them by what the summary tells
apart: the transport as written, the service side's (transport, port), and Zeek's own service field. Each group
carries its flows, bytes and packets and the earliest and latest moment of its flows; :class:`Tally` then counts
the groups as the Python engine counts single flows, so both engines give the same summary (tests compare them).

The fields are read as the Python readers read them: CSV columns as text, counts only when they are plain digits,
times as epoch seconds (milliseconds divided by 1000) with Zeek's ``duration`` added. A time the readers would
take as an ISO date (or any text that SQL and Python might read differently) makes :func:`summary_columnar`
answer None, and the caller runs the Python engine instead: slower, never different.
"""

from __future__ import annotations

from typing import TypeVar

from anyport.traffic.activity import END_FIELDS, EPOCH_MAX, START_FIELDS
from anyport.traffic.annotate import ADDED
from anyport.traffic.columnar import (
    INTEGER_TYPES,
    _file_stats,
    _first_line,
    _quote,
    connect,
    kind_of,
    prepare,
    watched,
)
from anyport.traffic.readers import CSV_COLUMNS, _locate, _proto
from anyport.traffic.tally import Catalog, Tally

T = TypeVar("T")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from anyport.query.kb import KnowledgeBase
    from anyport.traffic.porttable import PortTable

FLOATS = ("FLOAT", "DOUBLE")
PRINTABLE = "'[ -~]*'"  # printable ASCII: Python's strip() and isdigit() mean what SQL's trim and [0-9] mean


class _Unsure(Exception):
    """An input holds values that only the Python readers are sure to read right."""


def summary_columnar(
    paths: Sequence[str],
    table: PortTable,
    kb: KnowledgeBase,
    columns: Mapping[str, str] | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, object] | None:
    """The summary of ``paths`` (Parquet, CSV or Zeek TSV) as :func:`anyport.traffic.annotate.summary_files`
    gives it, or None when an input needs the Python engine to be read exactly as it reads it.

    ``progress`` is called with the percentage done over all files.
    """
    tally = Tally(Catalog(kb))
    files = []

    def work(con: Any, path: str, kind: str, part: Callable[[float], None] | None) -> None:
        files.append(_summarize_file(con, path, kind, columns, table, tally, part))

    if not each_file(paths, table, progress, work):
        return None
    summary = tally.result()
    summary["files"] = [f.as_dict() for f in files]
    return summary


def _summarize_file(
    con: Any,
    path: str,
    kind: str,
    columns: Mapping[str, str] | None,
    table: PortTable,
    tally: Tally,
    progress: Callable[[float], None] | None,
) -> Any:
    # CSV: every column as text, as the Python reader sees it; Zeek: doubles (times, durations) as text
    source, names, types, _, plan = prepare(con, [path], kind, columns, text=True, all_text=True)
    kinds = dict(zip(names, types, strict=True))

    def out(name: str) -> str:
        return _quote(plan_column(name))

    roles = _roles(kind, names, columns)
    proto = f"CAST({out(roles['proto'])} AS VARCHAR)" if "proto" in roles else "CAST(NULL AS VARCHAR)"
    service = f"CAST({out(roles['service'])} AS VARCHAR)" if "service" in roles else "CAST(NULL AS VARCHAR)"
    unsure: list[str] = []
    nbytes = _volume(kind, roles, "bytes", kinds, out, unsure)
    packets = _volume(kind, roles, "packets", kinds, out, unsure)
    first, last = _times(names, kinds, out, unsure)
    doubt = " OR ".join(unsure) or "false"
    query = (
        "SELECT proto, service_proto, service_port, zeek, count(*), sum(b), count(b), sum(p), count(p), "
        "min(t0), max(t1), count(t0), count_if(doubt) FROM (SELECT "
        f"{proto} AS proto, service_proto, service_port, {service} AS zeek, {nbytes} AS b, {packets} AS p, "
        f"{first} AS t0, {last} AS t1, {doubt} AS doubt FROM ({plan.select})) GROUP BY ALL"
    )
    groups = _fetch(con, query, progress, path)
    # Parquet has no Python reader to defer to: there DuckDB's reading is the reading
    if kind != "parquet" and any(group[12] for group in groups):
        raise _Unsure(path)
    written = 0
    for proto_raw, transport, port, zeek, flows, b, nb, p, np_, t0, t1, timed, _ in groups:
        info = table.get(transport, port) if transport is not None and port is not None else None
        tally.add(
            _proto(proto_raw),
            info,
            port if info is not None else None,
            _zeek_service(kind, zeek),
            flows,
            int(b) if nb else None,
            int(p) if np_ else None,
        )
        if timed:
            tally.span.add_range(float(t0), float(t1), timed)
        written += flows
    return _file_stats(con, [path], kind, plan, source, written)


def each_file(
    paths: Sequence[str],
    table: PortTable,
    progress: Callable[[float], None] | None,
    work: Callable[[Any, str, str, Callable[[float], None] | None], None],
) -> bool:
    """``work(con, path, kind, progress)`` for each of ``paths`` on one connection, ``progress`` told the overall
    percentage; False as soon as a file holds values only the Python engine reads exactly (:class:`_Unsure`)."""
    con = connect(table)
    try:
        share = 100.0 / len(paths) if paths else 100.0
        for number, path in enumerate(paths):
            try:
                work(con, path, kind_of([path], None), progress_part(progress, number * share, (number + 1) * share))
            except _Unsure:
                return False
    finally:
        con.close()
    return True


def progress_part(progress: Callable[[float], None] | None, low: float, high: float) -> Callable[[float], None] | None:
    """``progress`` for one part of the work: the part's 0-100 % as ``low``-``high`` % of the whole."""
    if progress is None:
        return None
    return lambda value: progress(low + value * (high - low) / 100.0)


def run_query(con: Any, progress: Callable[[float], None] | None, call: Callable[[], T], failure: str) -> T:
    """``call()``, which runs a query on ``con``, with ``progress`` told DuckDB's percentage (see
    :func:`anyport.traffic.columnar.watched`); a DuckDB error becomes one line: ``failure``, then the error."""
    from anyport.errors import DataError

    try:
        return watched(con, progress, call)
    except _Unsure:
        raise
    except Exception as exc:
        raise DataError(f"{failure}: {_first_line(exc)}") from None


def plan_column(name: str) -> str:
    """The name an input column has in the annotating plan's output (``input_service`` for ``service``...)."""
    return "input_" + name if name in ADDED else name


ZEEK_ROLES = {"proto": "proto", "service": "service", "src": "id.orig_h", "dst": "id.resp_h", "dst_port": "id.resp_p"}


def _roles(kind: str, names: list[str], columns: Mapping[str, str] | None) -> dict[str, str]:
    """Role -> column name, as the Python readers find them (Zeek logs: by their own field names)."""
    if kind == "zeek":
        return {role: name for role, name in ZEEK_ROLES.items() if name in names}
    return {role: names[index] for role, index in _locate(names, columns or {}).items() if role in CSV_COLUMNS}


def _zeek_service(kind: str, raw: str | None) -> str:
    """The service field as the Python reader keeps it."""
    if raw is None:
        return ""
    if kind == "zeek":
        return raw
    text = raw.strip()
    return "" if text == "-" else text


def _count(column: str, kind: str, unsure: list[str]) -> str:
    """SQL for the reader's ``_count``: a whole number of at least 0, else NULL."""
    if kind in INTEGER_TYPES:
        return f"CASE WHEN {column} >= 0 THEN CAST({column} AS HUGEINT) END"
    if kind in FLOATS:
        return f"CASE WHEN isfinite({column}) AND {column} >= 0 THEN CAST(trunc({column}) AS HUGEINT) END"
    text = f"CAST({column} AS VARCHAR)"
    # plain digits, as nearly every value is, decided without a regular expression (CASE tries its branches in
    # order, for each row)
    plain = f"(CAST(TRY_CAST({text} AS UBIGINT) AS VARCHAR) = {text})"
    unsure.append(
        f"(CASE WHEN {text} IS NULL OR {plain} THEN false "
        f"ELSE NOT regexp_full_match({text}, {PRINTABLE}) OR length({text}) > 30 END)"
    )
    return (
        f"CASE WHEN {plain} THEN CAST({text} AS HUGEINT) "
        f"WHEN regexp_full_match({text}, ' *[0-9]+ *') THEN TRY_CAST(trim({text}) AS HUGEINT) END"
    )


def _volume(
    kind: str, roles: dict[str, str], what: str, kinds: dict[str, str], out: Callable[[str], str], unsure: list[str]
) -> str:
    """SQL for a flow's bytes or packets: Zeek's two directions added, a CSV column's count, else NULL."""
    if kind == "zeek":
        prefix = "bytes" if what == "bytes" else "pkts"
        parts = [f"orig_{prefix}", f"resp_{prefix}"]
        counts = [_count(out(c), kinds[c].upper(), unsure) if c in kinds else "CAST(NULL AS HUGEINT)" for c in parts]
        both = " AND ".join(f"({c}) IS NULL" for c in counts)
        return f"CASE WHEN {both} THEN NULL ELSE {' + '.join(f'coalesce({c}, 0)' for c in counts)} END"
    if what not in roles:
        return "CAST(NULL AS HUGEINT)"
    return _count(out(roles[what]), kinds[roles[what]].upper(), unsure)


def _number(column: str, kind: str, unsure: list[str]) -> str:
    """SQL for ``float(value)`` as the readers take it (NULL where it fails)."""
    if kind in INTEGER_TYPES or kind in FLOATS or kind.startswith("DECIMAL"):
        return f"CAST({column} AS DOUBLE)"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST(epoch({column}) AS DOUBLE)"
    text = f"CAST({column} AS VARCHAR)"
    value = f"TRY_CAST({text} AS DOUBLE)"
    # what SQL could not read but Python might (an ISO date, '1_000', non-ASCII digits): the Python engine decides
    unsure.append(
        f"({value} IS NULL AND {text} IS NOT NULL AND (regexp_matches(trim({text}), '^[+.-]?[0-9]') "
        f"OR NOT regexp_full_match({text}, {PRINTABLE})))"
    )
    return value


def _times(names: list[str], kinds: dict[str, str], out: Callable[[str], str], unsure: list[str]) -> tuple[str, str]:
    """SQL for a flow's first and last moment, as :meth:`TimeSpan.add` finds them (NULL: no readable time)."""

    def moment(name: str) -> str:
        value = _number(out(name), kinds[name].upper(), unsure)
        return (
            f"(CASE WHEN {value} IS NULL OR isnan({value}) OR {value} <= 0 THEN NULL "
            f"WHEN {value} > {EPOCH_MAX} THEN (CASE WHEN {value} / 1000.0 <= {EPOCH_MAX} THEN {value} / 1000.0 END) "
            f"ELSE {value} END)"
        )

    starts = [moment(name) for name in START_FIELDS if name in kinds]
    if not starts:
        return "CAST(NULL AS DOUBLE)", "CAST(NULL AS DOUBLE)"
    first = f"coalesce({', '.join(starts)})" if len(starts) > 1 else starts[0]
    ends = [moment(name) for name in END_FIELDS if name in kinds]
    if "duration" in kinds:
        duration = _number(out("duration"), kinds["duration"].upper(), unsure)
        ends.append(f"(CASE WHEN {duration} >= 0 AND {duration} < 1e9 THEN {first} + {duration} END)")
    end = f"coalesce({', '.join([*ends, first])})"
    return first, f"CASE WHEN {first} IS NOT NULL THEN greatest({end}, {first}) END"


def _fetch(con: Any, query: str, progress: Callable[[float], None] | None, path: str) -> list[tuple[Any, ...]]:
    """The rows of ``query``, with ``progress`` told DuckDB's percentage meanwhile."""
    rows: list[tuple[Any, ...]] = run_query(
        con, progress, lambda: con.execute(query).fetchall(), f"summarizing {path} failed"
    )
    return rows
