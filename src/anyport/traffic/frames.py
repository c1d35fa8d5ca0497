"""Annotated flows as an Arrow table in memory, for notebooks and programs (pandas, Polars, DuckDB, Arrow).

``read_annotated("conn.log")`` reads flow files as the DuckDB engine does (Parquet, CSV, Zeek TSV) and
``annotate_frame(df)`` takes a table already in memory; both return a ``pyarrow.Table``: the input's columns
plus ``service``, ``service_port``, ``service_proto``, ``alternatives``, ``confidence`` and ``risk``, the texts
dictionary-encoded (``to_pandas()`` makes them categoricals), rows in input order. The table is as big as the
flows (10 M flows of nine columns: about 1.7 GB); for files bigger than memory, ``anyport annotate -o x.parquet``
streams in bounded memory.

How: DuckDB reads the flows and works out each row's two keys (transport x port of either side) in a plain
projection, which keeps the input order on every thread. Choosing the side and adding the columns are then
gathers from the 196,609-row table of every key's answer (numpy and Arrow's ``take``), not a join: DuckDB's
joins would give the rows back out of order. The answers are the file engine's, row for row (tests compare).

Needs the ``traffic`` extra (duckdb, pyarrow); imported only when used.
"""

from __future__ import annotations

import os
import time

from anyport.errors import DataError, QueryError
from anyport.traffic.annotate import AnnotateStats, _all_flows, _table, arrow_batches, choose_engine, counted, start
from anyport.traffic.columnar import (
    _file_stats,
    _first_line,
    annotate_sql,
    connect,
    kind_of,
    prepare,
    require,
    watched,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    from anyport.query.kb import KnowledgeBase

ANSWERS = "side_key, service, port AS service_port, transport AS service_proto, alternatives, confidence, risk"
KEYS = 3 * 65536 + 1  # every (transport, port) key, and -1 for a flow without one
BATCH_ROWS = 1 << 20
REGISTERED = "anyport_frame"


def read_annotated(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    columns: Mapping[str, str] | None = None,
    input_format: str | None = None,
    kb: KnowledgeBase | None = None,
) -> tuple[Any, AnnotateStats]:
    """(annotated flows as a ``pyarrow.Table``, what was read) for Parquet, CSV or Zeek TSV ``paths``.

    Rows with a broken line or a port that is no port are left out and counted in the statistics (with the
    first few line numbers), as ``anyport annotate`` does. ``columns`` maps roles (``proto``, ``src_port``,
    ``dst_port``) to column names; ``input_format`` forces 'parquet', 'csv' or 'zeek'.
    """
    names = [os.fspath(paths)] if isinstance(paths, str | os.PathLike) else [os.fspath(p) for p in paths]
    if not names:
        raise QueryError("no input files")
    if choose_engine(names, "parquet", "auto", input_format) == "python":
        return _read_python(names, columns, input_format, kb)
    require()
    kind = kind_of(names, input_format)
    stats, table = start(kb)
    started = time.perf_counter()
    con = connect(table)
    try:
        answers = Answers(con)
        source, _, _, _, plan = prepare(con, names, kind, columns)
        result, stats.identified = _run(con, plan.keys, answers, f"reading {', '.join(names)}")
        read = _file_stats(con, names, kind, plan, source, result.num_rows)  # profile of the query just run
    finally:
        con.close()
    stats.engine = "duckdb"
    stats.rows = read.records
    stats.files = [read]
    stats.seconds = time.perf_counter() - started
    return result, stats


def annotate_frame(frame: Any, *, columns: Mapping[str, str] | None = None, kb: KnowledgeBase | None = None) -> Any:
    """``frame`` (a ``pyarrow.Table`` or ``RecordBatchReader``, a pandas or Polars DataFrame) annotated, as a
    ``pyarrow.Table`` in the same row order.

    Every row is kept: one whose port column holds something that is no port gets no port on that side (and no
    service when neither side has one), as :func:`anyport.spark.annotate` does.
    """
    require()
    con = connect(_table(kb))
    try:
        try:
            con.register(REGISTERED, frame)
            described = con.execute(f"DESCRIBE SELECT * FROM {REGISTERED}").fetchall()
        except Exception as exc:
            raise QueryError(
                f"cannot read a {type(frame).__name__} as a table ({_first_line(exc)}); "
                "give a pyarrow Table, a pandas or a Polars DataFrame"
            ) from None
        names = [str(row[0]) for row in described]
        types = [str(row[1]) for row in described]
        answers = Answers(con)
        plan = annotate_sql(REGISTERED, names, columns, None, types, keep_broken=True)
        return _run(con, plan.keys, answers, f"reading the {type(frame).__name__}")[0]
    finally:
        con.close()


def _read_python(
    paths: Sequence[str], columns: Mapping[str, str] | None, input_format: str | None, kb: KnowledgeBase | None
) -> tuple[Any, AnnotateStats]:
    """What only the Python engine reads (captures, JSON logs, nfdump, firewall logs): its rows as a table."""
    import pyarrow  # type: ignore[import-untyped]

    stats, table = start(kb)
    started = time.perf_counter()
    flows = _all_flows(paths, stats, columns, input_format)
    result = pyarrow.Table.from_batches(list(arrow_batches(counted(table, flows, stats))))
    stats.rows = result.num_rows
    stats.seconds = time.perf_counter() - started
    return result, stats


def _run(con: Any, query: str, answers: Answers, what: str) -> tuple[Any, int]:
    """(the rows of ``query`` annotated, as one Arrow table in order; how many have a service)."""
    import pyarrow

    done: list[Any] = []
    identified = stream(con, query, answers, what, done.append)
    return pyarrow.Table.from_batches(done), identified


def annotate_to_arrow(
    con: Any, query: str, out_path: str, what: str, progress: Callable[[float], None] | None = None
) -> tuple[int, int]:
    """Annotate the rows of ``query`` into ``out_path`` as an Arrow IPC file (Feather v2), uncompressed, in input
    order and bounded memory; (rows written, how many have a service)."""
    import pyarrow.ipc  # type: ignore[import-untyped]

    answers = Answers(con)
    writer = None
    rows = 0

    def sink(batch: Any) -> None:
        nonlocal writer, rows
        if writer is None:
            writer = pyarrow.ipc.new_file(out_path, batch.schema)
        writer.write_batch(batch)
        rows += batch.num_rows

    try:
        identified = watched(con, progress, lambda: stream(con, query, answers, what, sink))
    finally:
        if writer is not None:
            writer.close()
    return rows, identified


def stream(con: Any, query: str, answers: Answers, what: str, sink: Callable[[Any], None]) -> int:
    """Hand every batch of ``query``'s rows, annotated and in order, to ``sink`` (at least one, maybe empty, so
    that the schema is known); how many rows have a service.

    DuckDB fetches the next batch on a second thread while this one annotates the last.
    """
    import queue
    import threading

    import pyarrow

    try:
        reader = con.sql(query).to_arrow_reader(BATCH_ROWS)
    except Exception as exc:
        raise DataError(f"{what} failed: {_first_line(exc)}") from None
    batches: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def hand(item: Any) -> bool:
        """Queue ``item`` for the caller; False when the caller has stopped listening."""
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for batch in reader:
                if not hand(batch):
                    return
            hand(None)
        except BaseException as exc:  # handed to the caller's thread
            hand(exc)

    fetcher = threading.Thread(target=fetch, name="anyport-fetch", daemon=True)
    fetcher.start()
    identified = 0
    handed = finished = False
    try:
        while (batch := batches.get()) is not None:
            if isinstance(batch, BaseException):
                if isinstance(batch, KeyboardInterrupt | MemoryError):
                    raise batch
                raise DataError(f"{what} failed: {_first_line(batch)}")
            annotated, found = answers.add(batch)
            sink(annotated)
            handed = True
            identified += found
        finished = True
    finally:
        if not finished:  # failed or interrupted here: the fetcher and DuckDB stop too
            stop.set()
            con.interrupt()
        fetcher.join()
    if not handed:  # no rows: the schema still has the added columns
        sink(answers.add(pyarrow.RecordBatch.from_pylist([], schema=reader.schema))[0])
    return identified


class Answers:
    """Every (transport, port) key's answer, row ``k + 1`` for key ``k`` (row 0: no key), as Arrow columns."""

    def __init__(self, con: Any) -> None:
        import numpy as np

        # the table was made in key order, which a scan keeps (preserve_insertion_order): no sort needed
        table = con.sql(f"SELECT k, {ANSWERS} FROM anyport_dense").to_arrow_table().combine_chunks()
        if len(table) != KEYS or not np.array_equal(_numpy(table.column("k")), np.arange(-1, KEYS - 1)):
            table = con.sql(f"SELECT k, {ANSWERS} FROM anyport_dense ORDER BY k").to_arrow_table().combine_chunks()
            if len(table) != KEYS:  # the gathers index by position: every key must be there
                raise DataError("the port table is incomplete; remove its cache (anyport update rebuilds it)")
        self.side = _numpy(table.column("side_key"))
        self.added = table.drop_columns(["k", "side_key"])
        service = table.column("service").combine_chunks()
        self.named = (np.asarray(service.dictionary.to_pylist(), dtype=object) != "")[_numpy(service.indices)]

    def add(self, batch: Any) -> tuple[Any, int]:
        """(``batch`` without its keys, plus each row's answer; how many rows have a service)."""
        import numpy as np
        import pyarrow

        chosen = _numpy(batch.column("__anyport_dk")) + 1
        if "__anyport_sk" in batch.schema.names:  # the responder is not known: choose the side
            sk = _numpy(batch.column("__anyport_sk")) + 1
            # the destination's port unless the source's ranks higher (annotate.service_side; dst on a tie)
            chosen = np.where(self.side[chosen] >= self.side[sk], chosen, sk)
        # from the buffer itself: pyarrow.array() would first import pandas (0.2 s) to look for its types
        chosen = np.ascontiguousarray(chosen, dtype=np.int32)
        indices = pyarrow.Array.from_buffers(pyarrow.int32(), len(chosen), [None, pyarrow.py_buffer(chosen)])
        added = self.added.take(indices)
        kept = [i for i, name in enumerate(batch.schema.names) if not name.startswith("__anyport_")]
        arrays = [batch.column(i) for i in kept] + [added.column(n).combine_chunks() for n in added.column_names]
        names = [batch.schema.names[i] for i in kept] + added.column_names
        return pyarrow.RecordBatch.from_arrays(arrays, names=names), int(np.count_nonzero(self.named[chosen]))


def _numpy(array: Any) -> Any:
    """A fixed-width Arrow array without nulls as numpy, on its own buffer.

    ``to_numpy()`` would first import pandas (0.2 s) when it is installed, to look for its types.
    """
    import numpy as np

    if hasattr(array, "combine_chunks"):  # a table's column
        array = array.combine_chunks()
    if array.null_count:
        raise DataError("a key column holds nulls; please report this")  # the keys are never NULL (coalesce)
    dtype = np.dtype(array.type.to_pandas_dtype())
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)
