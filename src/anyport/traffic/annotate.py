"""Annotate flows with the service that most likely produced them, its alternatives and its risks.

Which side is the service
-------------------------
1. When the record knows who answered (Zeek's ``id.resp_p``; a CSV whose destination column is Zeek's
   ``id.resp_p``/``resp_p``), the responder's port is the service port. Zeek decides that from the handshake,
   which beats any guess from port numbers.
2. Otherwise (flow tables whose src/dst need not be initiator/responder) each port gets a rank and the higher
   rank is the service side:

   ====  ==============================================================================================
   4     the knowledge base knows the port from a fixed assignment (fixed port, narrow range, IANA name,
         reference)
   3     known only from a run-time (dynamic, negotiated, broad selected) range, outside the ephemeral range
   2     unknown, outside the ephemeral range
   1     known only from a run-time range, inside the ephemeral range
   0     unknown, inside the ephemeral range (IANA's 49152-65535 or Linux's 32768-60999)
   ====  ==============================================================================================

   Ties go to the higher confidence, then to the lower port (clients pick high ports), then to the
   destination.
3. Flows without ports (ICMP, other IP protocols) or on a transport the table does not cover get no service.

Output rows are the input fields, then ``service``, ``service_port``, ``service_proto``, ``alternatives``
(``;``-separated ids), ``confidence`` and ``risk``. An input field with one of those names (Zeek's own
``service`` column) is kept as ``input_<name>`` (``input_service``).

Entry points (not wired to the CLI yet): :func:`annotate_files` writes annotated CSV or JSON lines and returns
:class:`AnnotateStats`; :func:`summary_files` returns :func:`summarize`'s dict; :func:`render_summary` turns it
into terminal text.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sys
import time

from anyport.errors import DataError
from anyport.traffic.compressed import compression_of
from anyport.traffic.porttable import TABLE_TRANSPORTS, PortInfo, PortTable, load_or_build
from anyport.traffic.readers import Flow, ReadStats, is_parquet, parquet_needs_duckdb, read_flows
from anyport.traffic.tally import Catalog, Tally

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import IO, Any

    Progress = Callable[[float, float | None, str], None]

    from anyport.query.kb import KnowledgeBase

ADDED = ("service", "service_port", "service_proto", "alternatives", "confidence", "risk")
IANA_EPHEMERAL = (49152, 65535)
LINUX_EPHEMERAL = (32768, 60999)
# Zeek analyzer names that are not names in the catalog


def ephemeral(port: int) -> bool:
    return IANA_EPHEMERAL[0] <= port <= IANA_EPHEMERAL[1] or LINUX_EPHEMERAL[0] <= port <= LINUX_EPHEMERAL[1]


def side_rank(info: PortInfo, port: int) -> int:
    """The rank of a port as the service side (see the module docstring)."""
    if info.known and info.fixed:
        return 4
    high = ephemeral(port)
    if info.known:
        return 1 if high else 3
    return 0 if high else 2


class Annotated:
    """One annotated flow: ``row`` is the output record."""

    __slots__ = ("flow", "info", "port", "row")

    def __init__(self, flow: Flow, info: PortInfo | None, port: int | None, row: dict[str, object]) -> None:
        self.flow = flow
        self.info = info  # None when the flow has no port to annotate
        self.port = port
        self.row = row


def service_side(table: PortTable, flow: Flow) -> tuple[int | None, PortInfo | None]:
    """(service port, what the table says of it), or (None, None) for flows without a usable port."""
    if flow.proto not in TABLE_TRANSPORTS:
        return None, None
    if flow.responder_known and flow.resp_p is not None:
        return flow.resp_p, table.get(flow.proto, flow.resp_p)
    candidates = []
    for order, port in enumerate((flow.resp_p, flow.orig_p)):
        if port is None:
            continue
        info = table.get(flow.proto, port)
        candidates.append((-side_rank(info, port), -info.confidence, port, order, info))
    if not candidates:
        return None, None
    best = min(candidates)
    return best[2], best[4]


def annotate(table: PortTable, flows: Iterable[Flow]) -> Iterator[Annotated]:
    for flow in flows:
        port, info = service_side(table, flow)
        row: dict[str, object] = {}
        for key, value in flow.fields.items():
            row[f"input_{key}" if key in ADDED else key] = value
        row["service"] = info.service if info else ""
        row["service_port"] = port
        row["service_proto"] = flow.proto if port is not None else ""
        row["alternatives"] = ";".join(info.alternatives) if info else ""
        row["confidence"] = info.confidence if info else 0.0
        row["risk"] = info.risk if info else ""
        yield Annotated(flow, info, port, row)


# -- writers ------------------------------------------------------------------------------------------------


def write_jsonl(rows: Iterable[Annotated], out: IO[str]) -> int:
    count = 0
    for item in rows:
        out.write(json.dumps(item.row, ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def write_csv(rows: Iterable[Annotated], out: IO[str]) -> int:
    """CSV with the columns of the first row (later rows from files of another layout fill what they have)."""
    count = 0
    writer: csv.DictWriter[str] | None = None
    for item in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(item.row), extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
        writer.writerow({k: "" if v is None else v for k, v in item.row.items()})
        count += 1
    return count


class AnnotateStats:
    """What :func:`annotate_files` did."""

    def __init__(self) -> None:
        self.files: list[ReadStats] = []
        self.rows = 0
        self.identified = 0
        self.seconds = 0.0
        self.table_seconds = 0.0
        self.table_built = False
        self.engine = "python"

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def bad(self) -> int:
        return sum(s.bad for s in self.files)

    def report(self) -> str:
        lines = [s.report() for s in self.files]
        lines.append(
            f"{self.rows} flows annotated{f' ({self.identified} with a service)' if self.identified >= 0 else ''} "
            f"by the {self.engine} engine in {self.seconds:.2f}s "
            f"({self.rows_per_second:,.0f} flows/s); port table {'built' if self.table_built else 'loaded'} "
            f"in {self.table_seconds:.3f}s"
        )
        return "\n".join(lines)


def output_format(fmt: str, out_path: str) -> str:
    """``fmt`` checked against :data:`OUTPUT_FORMATS` ('json' means 'jsonl') and against where it goes."""
    from anyport.errors import QueryError

    fmt = "jsonl" if fmt == "json" else fmt
    if fmt not in OUTPUT_FORMATS:
        raise QueryError(f"unknown output format {fmt!r}; use {', '.join(OUTPUT_FORMATS)}")
    if out_path == "-" and fmt in ("parquet", "arrow"):
        name = "Parquet" if fmt == "parquet" else "an Arrow file"
        raise QueryError(f"{name} is not written to a terminal or pipe; give an output file with -o FILE.{fmt}")
    return fmt


def start(kb: KnowledgeBase | None) -> tuple[AnnotateStats, PortTable]:
    """New statistics for a run and the port table (loaded or built), what that cost recorded in them."""
    stats = AnnotateStats()
    table = _table(kb)
    stats.table_built = table.build_seconds > 0
    stats.table_seconds = table.build_seconds or table.load_seconds
    return stats, table


def _table(kb: KnowledgeBase | None) -> PortTable:
    from anyport.query.kb import KnowledgeBase

    if kb is not None:
        return load_or_build(kb)
    base = KnowledgeBase.open()
    try:
        return load_or_build(base)
    finally:
        base.close()


def _all_flows(
    paths: Iterable[str], stats: AnnotateStats, columns: Mapping[str, str] | None, input_format: str | None = None
) -> Iterator[Flow]:
    for path in paths:
        file_stats = ReadStats(path)
        stats.files.append(file_stats)
        if input_format == "pcap" or (input_format is None and is_capture(path)):
            yield from capture_flows(path, file_stats)  # pcap or pcapng; the capture reader says if it is neither
        else:
            yield from read_flows(path, columns, file_stats, input_format)


def is_capture(path: str) -> bool:
    """True for a pcap or pcapng file, plain or compressed (gzip, zstd, bzip2, xz), by its first bytes."""
    from anyport.traffic.capture import is_capture_file

    return is_capture_file(path)


def capture_flows(path: str, stats: ReadStats) -> Iterator[Flow]:
    """A capture's packets as flows (5-tuple, packets, bytes, first/last seen) in the readers' Flow shape."""
    from anyport.traffic.capture import read_flows as read_capture

    flows, capture = read_capture(path)
    outside = capture.packets - capture.in_flows
    stats.format = f"{capture.format or 'capture'}: {capture.packets} packets, {outside} not in any flow"
    if capture.stop_reason:  # a cut or corrupt capture: say where reading stopped
        stats.format += f"; stopped early: {capture.stop_reason}"
    stats.lines = len(flows)  # one "line" per flow, so lines == records as for the log readers
    for number, flow in enumerate(flows, 1):
        fields: dict[str, object] = {
            "proto": flow.protocol_name,
            "id.orig_h": flow.client,
            "id.orig_p": flow.client_port,
            "id.resp_h": flow.responder,
            "id.resp_p": flow.responder_port,
            "packets": flow.packets,
            "bytes": flow.bytes,
            "first_seen": flow.first_seen,
            "last_seen": flow.last_seen,
        }
        record = Flow(fields, number)
        record.proto = flow.protocol_name
        record.orig_h, record.orig_p = flow.client, flow.client_port
        record.resp_h, record.resp_p = flow.responder, flow.responder_port
        record.responder_known = flow.syn_seen  # the SYN's destination is the service; otherwise ports decide
        record.bytes = flow.bytes
        record.packets = flow.packets
        stats.records += 1
        yield record


ENGINES = ("auto", "python", "duckdb")  # Spark runs through anyport.spark.annotate_paths
OUTPUT_FORMATS = ("csv", "jsonl", "parquet", "arrow")  # arrow: an Arrow IPC file (Feather v2)
# from this much input on, "auto" hands CSV and Zeek TSV to DuckDB when it is installed
AUTO_DUCKDB_BYTES = 64 << 20


def choose_engine(paths: Sequence[str], fmt: str, engine: str = "auto", input_format: str | None = None) -> str:
    """The engine that will run, 'python' or 'duckdb' (``engine`` 'auto' decides from the inputs).

    Parquet (in or out) needs DuckDB; captures, JSON logs, nfdump and firewall logs need the Python engine;
    big CSV and Zeek TSV go to DuckDB when it is installed, small ones stay in Python (no start-up cost).
    """
    from anyport.errors import QueryError

    if engine not in ENGINES:
        raise QueryError(f"unknown engine {engine!r}; use {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    from anyport.traffic import columnar

    if input_format == "parquet":
        return "duckdb"
    if input_format not in (None, "csv", "zeek") or any(is_capture(p) for p in paths):
        return "python"
    parquet_in = any(is_parquet(p) for p in paths)
    if parquet_in:
        return "duckdb"
    if not columnar.available():
        return "python"
    try:
        kinds = {input_format or columnar.input_kind(p) for p in paths}
    except DataError:
        return "python"  # the Python engine reads it, or explains why not
    if len(kinds) != 1:
        return "python"
    if fmt in ("parquet", "arrow"):
        return "duckdb"
    return "duckdb" if sum(os.path.getsize(p) for p in paths) >= AUTO_DUCKDB_BYTES else "python"


def annotate_files(
    paths: Sequence[str],
    out_path: str,
    fmt: str,
    columns: Mapping[str, str] | None = None,
    kb: KnowledgeBase | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
    input_format: str | None = None,
    ordered: bool = True,
) -> AnnotateStats:
    """Annotate every flow of ``paths`` into ``out_path`` ('-' for stdout) as csv, jsonl, parquet or arrow.

    ``engine`` is one of :data:`ENGINES` (see :func:`choose_engine`); ``progress(done, total, unit)`` is called
    now and then (unit 'bytes' of input, or 'percent'; total None when unknown). ``input_format`` forces the
    input format (:data:`anyport.traffic.readers.FORMATS` or 'parquet') instead of detecting it. Rows come out in
    input order; ``ordered=False`` lets the DuckDB engine interleave its threads' blocks of rows (faster).
    """
    fmt = output_format(fmt, out_path)
    paths = list(paths)
    chosen = choose_engine(paths, fmt, engine, input_format)
    if chosen == "duckdb":
        from anyport.traffic.columnar import annotate_columnar

        stats = annotate_columnar(paths, out_path, fmt, columns, kb, as_percent(progress), input_format, ordered)
        stats.engine = "duckdb"
        return stats
    for path in paths:
        if is_parquet(path):
            raise DataError(parquet_needs_duckdb(path))
    stats, table = start(kb)
    started = time.perf_counter()
    flows = _all_flows(paths, stats, columns, input_format)
    if progress is not None:
        flows = _reporting(flows, stats, progress, _plain_size(paths))

    if fmt in ("parquet", "arrow"):
        written = (write_parquet if fmt == "parquet" else write_arrow)(counted(table, flows, stats), out_path)
    elif out_path == "-":
        written = (write_csv if fmt == "csv" else write_jsonl)(counted(table, flows, stats), sys.stdout)
    else:
        tmp = f"{out_path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                written = (write_csv if fmt == "csv" else write_jsonl)(counted(table, flows, stats), out)
            os.replace(tmp, out_path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    stats.rows = written
    stats.seconds = time.perf_counter() - started
    return stats


def counted(table: PortTable, flows: Iterable[Flow], stats: AnnotateStats) -> Iterator[Annotated]:
    """:func:`annotate`, counting the flows that get a service into ``stats.identified``."""
    for item in annotate(table, flows):
        stats.identified += bool(item.info and item.info.service)
        yield item


def _reporting(flows: Iterator[Flow], stats: AnnotateStats, progress: Progress, total: float | None) -> Iterator[Flow]:
    """``flows`` unchanged, calling ``progress`` with the bytes read every 16,384 flows."""
    for count, flow in enumerate(flows, 1):
        yield flow
        if not count & 0x3FFF:
            progress(float(sum(s.bytes_read for s in stats.files)), total, "bytes")
    progress(float(total or sum(s.bytes_read for s in stats.files)), total, "bytes")


def as_percent(progress: Progress | None) -> Callable[[float], None] | None:
    """``progress`` for an engine that tells a percentage (below 0: it cannot tell how far it is, a spinner)."""
    if progress is None:
        return None
    return lambda value: progress(max(value, 0.0), 100.0 if value >= 0 else None, "percent")


def _plain_size(paths: Sequence[str]) -> float | None:
    """Total bytes when every input is an uncompressed log (progress in bytes), else None."""
    total = 0
    for path in paths:
        try:
            with open(path, "rb") as handle:
                head = handle.read(8)
            if compression_of(head) or is_capture(path):
                return None
            total += os.path.getsize(path)
        except OSError:
            return None
    return float(total)


def arrow_batches(rows: Iterable[Annotated], batch: int = 65536) -> Iterator[Any]:
    """Annotated rows as ``pyarrow.RecordBatch`` es of ``batch`` rows: input fields as text, added columns typed.

    An input without rows gives one empty batch with the added columns, so that there is always a schema.
    """
    try:
        import pyarrow  # type: ignore[import-untyped]
    except ImportError:
        raise DataError("Parquet and Arrow output need the traffic extra: pip install 'anyport[traffic]'") from None
    typed = {"service_port": pyarrow.int32(), "confidence": pyarrow.float64()}
    names: list[str] | None = None
    schema = None
    pending: list[dict[str, object]] = []

    def made() -> Any:
        assert names is not None
        assert schema is not None
        data = [
            [(r.get(n) if n in typed else (None if r.get(n) is None else str(r.get(n)))) for r in pending]
            for n in names
        ]
        pending.clear()
        arrays = [pyarrow.array(d, schema.field(n).type) for n, d in zip(names, data, strict=True)]
        return pyarrow.RecordBatch.from_arrays(arrays, schema=schema)

    for item in rows:
        if names is None:
            names = list(item.row)
            schema = pyarrow.schema([(n, typed.get(n, pyarrow.string())) for n in names])
        pending.append(item.row)
        if len(pending) >= batch:
            yield made()
    if pending:
        yield made()
    elif names is None:
        empty = pyarrow.schema([(n, typed.get(n, pyarrow.string())) for n in ADDED])
        yield pyarrow.RecordBatch.from_pylist([], schema=empty)


def write_parquet(rows: Iterable[Annotated], out_path: str, batch: int = 65536) -> int:
    """Annotated rows as Parquet (zstd), in batches (:func:`arrow_batches`)."""

    def parquet(path: str, schema: Any) -> Any:
        import pyarrow.parquet  # type: ignore[import-untyped]

        return pyarrow.parquet.ParquetWriter(path, schema, compression="zstd")

    return _write_batches(rows, out_path, batch, parquet)


def write_arrow(rows: Iterable[Annotated], out_path: str, batch: int = 65536) -> int:
    """Annotated rows as an Arrow IPC file (Feather v2, uncompressed), in batches (:func:`arrow_batches`)."""

    def ipc(path: str, schema: Any) -> Any:
        import pyarrow.ipc  # type: ignore[import-untyped]

        return pyarrow.ipc.new_file(path, schema)

    return _write_batches(rows, out_path, batch, ipc)


def _write_batches(rows: Iterable[Annotated], out_path: str, batch: int, writer_for: Callable[[str, Any], Any]) -> int:
    """Write :func:`arrow_batches` of ``rows`` with ``writer_for(path, schema)`` into ``out_path`` (atomically)."""
    batches = arrow_batches(rows, batch)
    first = next(batches)  # the traffic extra is checked here, before a file is made
    count = 0
    tmp = f"{out_path}.{os.getpid()}.tmp"
    try:
        with writer_for(tmp, first.schema) as writer:
            for piece in itertools.chain([first], batches):
                writer.write_batch(piece)
                count += piece.num_rows
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return count


# -- summary ------------------------------------------------------------------------------------------------


def summarize(rows: Iterable[Annotated], kb: KnowledgeBase | None = None) -> dict[str, object]:
    """Traffic by service, unknown ports, trojan-history ports, services on unusual ports, risky services.

    When the flows carry Zeek's ``service`` column, ``agreement`` compares anyport's best guess with it (a flow
    agrees when Zeek's name resolves to anyport's service; ``in_top5`` also counts the alternatives).
    """
    from anyport.query.kb import KnowledgeBase

    own = kb is None
    base = KnowledgeBase.open() if kb is None else kb
    try:
        return _summarize(rows, Catalog(base))
    finally:
        if own:
            base.close()


def _summarize(rows: Iterable[Annotated], catalog: Catalog) -> dict[str, object]:
    tally = Tally(catalog)
    for item in rows:
        flow = item.flow
        tally.span.add(flow)
        tally.add(flow.proto, item.info, item.port, flow.service, 1, flow.bytes, flow.packets)
    return tally.result()


def summary_files(
    paths: Iterable[str],
    columns: Mapping[str, str] | None = None,
    kb: KnowledgeBase | None = None,
    progress: Progress | None = None,
    engine: str = "auto",
) -> dict[str, object]:
    """:func:`summarize` over every flow of ``paths``; ``files`` holds each file's read statistics.

    ``progress(done, total, unit)`` is called now and then, as for :func:`annotate_files`. ``engine`` as there:
    'auto' hands Parquet and big CSV/Zeek TSV files to DuckDB (:mod:`anyport.traffic.columnar_summary`), which
    gives the same summary, or leaves them to the Python engine when an input holds values only it reads exactly.
    """
    from anyport.query.kb import KnowledgeBase

    paths = list(paths)
    chosen = choose_engine(paths, "csv", engine)
    own = kb is None
    base = KnowledgeBase.open() if kb is None else kb
    try:
        table = load_or_build(base)
        if chosen == "duckdb":
            from anyport.traffic.columnar import require
            from anyport.traffic.columnar_summary import summary_columnar

            require()

            summary = summary_columnar(paths, table, base, columns, as_percent(progress))
            if summary is not None:
                return summary
        stats = AnnotateStats()
        flows = _all_flows(paths, stats, columns)
        if progress is not None:
            flows = _reporting(flows, stats, progress, _plain_size(paths))
        summary = _summarize(annotate(table, flows), Catalog(base))
        summary["files"] = [s.as_dict() for s in stats.files]
        return summary
    finally:
        if own:
            base.close()


def _fmt_bytes(value: object) -> str:
    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]
    for unit in ("B", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return str(value)


def render_summary(summary: Mapping[str, object]) -> str:
    """The summary as terminal text."""
    packets = summary.get("packets")
    out = [
        f"{summary['flows']} flows, {_fmt_bytes(summary['bytes'])}"
        + (f", {packets} packets" if packets is not None else "")
        + f", {summary['services']} services"
    ]
    span = summary.get("time")
    if isinstance(span, dict):
        out.append(f"from {span['first_utc']} to {span['last_utc']} ({span['flows']} flows with a time)")
    for section, title in (
        ("by_service", "traffic by service"),
        ("unknown_ports", "unknown ports"),
        ("trojan_ports", "ports with trojan history"),
        ("unusual_ports", "services on unusual ports"),
        ("risky_services", "services with risk notes"),
    ):
        entries = summary.get(section) or []
        if not entries:
            continue
        out.append("")
        out.append(f"{title}:")
        for e in entries:  # type: ignore[attr-defined]
            if section == "by_service":
                pkts = "-" if e.get("packets") is None else e["packets"]
                out.append(
                    f"  {e['flows']:>8}  {_fmt_bytes(e['bytes']):>10}  {pkts:>8} pkts  {e['service']}  ({e['title']})"
                )
            elif section == "unusual_ports":
                out.append(
                    f"  {e['flows']:>8}  {e['zeek_service']} on {e['port']} (catalog: {', '.join(e['catalog'])})"
                )
            elif section == "risky_services":
                note = str((e.get("notes") or [""])[0])
                out.append(f"  {e['flows']:>8}  {e['service']} [{e['risk']}]: {note[:100]}")
            else:
                suffix = f"  {e['service']}" if e.get("service") else ""
                out.append(f"  {e['flows']:>8}  {e['port']}{suffix}")
    agreement = summary.get("agreement")
    if isinstance(agreement, dict) and agreement.get("compared"):
        out.append("")
        out.append(
            f"agreement with the log's own service column: {agreement['agree']}/{agreement['compared']} "
            f"({100 * agreement['agree'] / agreement['compared']:.1f}%), "
            f"{agreement['in_top5']} within the top 5"
        )
    for file in summary.get("files") or []:  # type: ignore[attr-defined]
        if file["bad"]:
            shown = "; ".join(f"line {x['line']}: {x['reason']}" for x in file["examples"])
            out.append(f"{file['path']}: {file['bad']} bad lines ({shown})")
    return "\n".join(out)
