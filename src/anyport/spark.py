"""Traffic annotation on Spark: :func:`annotate` for PySpark DataFrames, :func:`annotate_paths` for files.

The same answers as :func:`anyport.traffic.annotate.annotate`, computed by Spark itself: the dense port table
(:meth:`~anyport.traffic.porttable.PortTable.dense_columns`) becomes two small DataFrames, cached per session
and broadcast to every executor, and each flow is resolved by hash joins on one integer key
(``transport * 65536 + port``) and SQL expressions, never a Python UDF:

* ``keys`` (196,608 rows): key -> ``side_key`` (which side of a flow is the service, see ``dense_columns``) and a
  record number;
* ``records`` (a few thousand rows): record number -> service, alternatives, confidence, risk.

A flow whose record knows the responder (its destination column is Zeek's ``id.resp_p``/``resp_p``) takes the
responder's port; otherwise both ports are looked up and the larger ``side_key`` wins (equal keys: the same port,
the destination). Flows on other transports (icmp...) or without ports get no service.

pyspark is imported inside the functions only: ``pip install 'anyport[spark]'`` and a Java 17 runtime (or a
Spark Connect server in ``SPARK_REMOTE``) are needed at run time, not at import.
"""

from __future__ import annotations

import os
import shutil
import time

from anyport.errors import DataError, QueryError
from anyport.traffic.annotate import ADDED
from anyport.traffic.porttable import PORTS, TABLE_TRANSPORTS
from anyport.traffic.readers import CSV_COLUMNS, PROTO_NUMBERS, RESPONDER_COLUMNS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType

    from anyport.traffic.porttable import PortTable

ROLES = ("proto", "src_port", "dst_port")  # the columns annotation reads; other roles are checked, not used
INSTALL = "install anyport[spark] (pip install 'anyport[spark]') and a Java 17 runtime"
OUTPUT_FORMATS = ("parquet", "csv", "jsonl", "json")
INPUT_FORMATS = ("parquet", "csv", "json", "zeek")
_HIDDEN = "__anyport_"  # prefix of the working columns, dropped before anything is returned
_CORRUPT = "_corrupt_record"
_FRAMES: dict[int, tuple[SparkSession, str, DataFrame, DataFrame]] = {}
_KEEP_SESSIONS = 4


# -- the annotation -----------------------------------------------------------------------------------------


def find_columns(names: Iterable[str], mapping: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Role (``proto``, ``src_port``, ``dst_port``) -> column name, from ``mapping`` or the recognised names.

    The same rule as the CSV reader: names compare stripped and in lower case, the first recognised name of a
    role wins; a mapped role must be a known one and its column must exist.
    """
    columns = list(names)
    lowered = [c.strip().lower() for c in columns]
    found: dict[str, str] = {}
    for role, column in (mapping or {}).items():
        if column is None:
            continue
        if role not in CSV_COLUMNS:
            raise DataError(f"unknown column role {role!r}; use one of {', '.join(CSV_COLUMNS)}")
        if column.strip().lower() not in lowered:
            raise DataError(f"no column named {column!r} (found {', '.join(repr(c[:40]) for c in columns[:20])})")
        found[role] = columns[lowered.index(column.strip().lower())]
    for role in ROLES:
        if role in found:
            continue
        for candidate in CSV_COLUMNS[role]:
            if candidate in lowered:
                found[role] = columns[lowered.index(candidate)]
                break
    if "src_port" not in found and "dst_port" not in found:
        shown = ", ".join(repr(c[:40]) for c in columns[:20] if not c.startswith(_HIDDEN)) or "none"
        raise DataError(
            f"no port column (looked for dst_port/dport/id.resp_p/src_port/sport/...; found {shown}); "
            "name the columns, e.g. dst_port='YourColumn'"
        )
    return {role: found[role] for role in ROLES if role in found}


def annotate(
    df: DataFrame,
    *,
    table: PortTable | None = None,
    src_port: str | None = None,
    dst_port: str | None = None,
    proto: str | None = None,
    responder_known: bool | None = None,
) -> DataFrame:
    """``df`` with ``service``, ``service_port``, ``service_proto``, ``alternatives``, ``confidence``, ``risk``.

    Columns are found by the recognised names (``proto``/``protocol``..., ``sport``/``src_port``/``id.orig_p``...,
    ``dport``/``dst_port``/``id.resp_p``...) unless named here. ``responder_known`` says whether the destination
    column is the responder's port (default: when it is named ``id.resp_p`` or ``resp_p``, as Zeek's are). An
    input column named like an added one is renamed ``input_<name>``. Rows are never dropped: an unreadable port
    counts as no port. ``table`` defaults to the port table of the default knowledge base.
    """
    mapping = {"src_port": src_port, "dst_port": dst_port, "proto": proto}
    return _annotate(df, table, mapping, responder_known, flag_bad=False)


def _annotate(
    df: DataFrame,
    table: PortTable | None,
    mapping: Mapping[str, str | None],
    responder_known: bool | None,
    flag_bad: bool,
) -> DataFrame:
    from pyspark.sql import functions as F

    roles = find_columns(df.columns, mapping)
    dtypes = {field.name: field.dataType for field in df.schema.fields}
    keys, records = table_frames(df.sparkSession, table or _default_table())
    transports = TABLE_TRANSPORTS

    ports = {role: _port(_col(roles[role]), dtypes[roles[role]]) for role in ("src_port", "dst_port") if role in roles}
    if "proto" in roles:
        name = F.lower(F.trim(_col(roles["proto"]).cast("string")))
        index: Column = F.lit(None).cast("long")
        for number, transport in reversed(list(enumerate(transports))):
            spellings = [transport, *(n for n, t in PROTO_NUMBERS.items() if t == transport)]
            index = F.when(name.isin(spellings), F.lit(number).cast("long")).otherwise(index)
    else:
        index = F.lit(None).cast("long")  # no protocol: no transport the table covers, as in the Python reader
    none = F.lit(None).cast("long")
    work = df.select(
        "*",
        (index * PORTS + ports["src_port"]).alias(f"{_HIDDEN}ks")
        if "src_port" in ports
        else none.alias(f"{_HIDDEN}ks"),
        (index * PORTS + ports["dst_port"]).alias(f"{_HIDDEN}kd")
        if "dst_port" in ports
        else none.alias(f"{_HIDDEN}kd"),
    )
    if flag_bad:
        bad = F.lit(False)
        for role, parsed in ports.items():
            raw = _col(roles[role])
            given = raw.isNotNull() & (F.trim(raw.cast("string")) != "")
            bad = bad | (given & parsed.isNull())
        work = work.withColumn(f"{_HIDDEN}bad", bad)

    ks, kd = F.col(f"{_HIDDEN}ks"), F.col(f"{_HIDDEN}kd")
    if responder_known is None:
        responder_known = "dst_port" in roles and roles["dst_port"].strip().lower() in RESPONDER_COLUMNS

    # Every lookup joins the same cached frame under its own alias (one frame of long keys, not one per side);
    # the table's columns carry the hidden prefix, so the input's own columns stay unambiguous.
    def looked_up(alias: str, column: str) -> Column:
        return F.col(f"{_HIDDEN}{alias}.{_HIDDEN}{column}")

    if responder_known:
        work = work.withColumn(f"{_HIDDEN}chosen", F.coalesce(kd, ks))  # the responder; the other port if it lacks one
        work = work.join(
            F.broadcast(keys.alias(f"{_HIDDEN}c")), F.col(f"{_HIDDEN}chosen") == looked_up("c", "key"), "left"
        )
        record = looked_up("c", "record")
    else:
        work = work.join(F.broadcast(keys.alias(f"{_HIDDEN}s")), ks == looked_up("s", "key"), "left")
        work = work.join(F.broadcast(keys.alias(f"{_HIDDEN}d")), kd == looked_up("d", "key"), "left")
        destination = ks.isNull() | (looked_up("d", "side_key") >= looked_up("s", "side_key"))
        work = work.withColumn(f"{_HIDDEN}chosen", F.when(destination, kd).otherwise(ks))
        record = F.when(destination, looked_up("d", "record")).otherwise(looked_up("s", "record"))
    work = work.withColumn(f"{_HIDDEN}rec", record)
    work = work.join(
        F.broadcast(records.alias(f"{_HIDDEN}i")), F.col(f"{_HIDDEN}rec") == looked_up("i", "record"), "left"
    )

    key = F.col(f"{_HIDDEN}chosen")
    proto_name = F.lit("")
    for number, transport in reversed(list(enumerate(transports))):
        proto_name = F.when(F.floor(key / PORTS) == number, F.lit(transport)).otherwise(proto_name)
    kept = [c for c in df.columns if not c.startswith(_HIDDEN)]
    hidden = [c for c in df.columns if c.startswith(_HIDDEN)] + ([f"{_HIDDEN}bad"] if flag_bad else [])
    return work.select(
        *(_col(c).alias(f"input_{c}" if c in ADDED else c) for c in kept),
        F.coalesce(looked_up("i", "service"), F.lit("")).alias("service"),
        (key % PORTS).cast("int").alias("service_port"),
        F.when(key.isNull(), F.lit("")).otherwise(proto_name).alias("service_proto"),
        F.coalesce(looked_up("i", "alternatives"), F.lit("")).alias("alternatives"),
        F.coalesce(looked_up("i", "confidence"), F.lit(0.0)).alias("confidence"),
        F.coalesce(looked_up("i", "risk"), F.lit("")).alias("risk"),
        *(_col(c) for c in hidden),
    )


def _col(name: str) -> Column:
    """A column by its exact name (Zeek's ``id.orig_p`` has a dot that Spark would read as a struct field)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def _port(column: Column, dtype: DataType) -> Column:
    """The port as an int, or null when the value is missing or not a port (the Python reader's ``_port``)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    in_range = (column >= 0) & (column <= PORTS - 1)
    if isinstance(dtype, T.StringType):
        text = F.trim(column)
        # at most five digits, so the cast cannot fail under ANSI mode
        return F.when(text.rlike("^[0-9]{1,5}$") & (text.cast("int") <= PORTS - 1), text.cast("int"))
    if isinstance(dtype, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return F.when(in_range, column.cast("int"))
    if isinstance(dtype, (T.FloatType, T.DoubleType, T.DecimalType)):
        return F.when(in_range & (column == F.floor(column)), column.cast("int"))
    return F.lit(None).cast("int")  # booleans, structs...: not a port, as in the Python reader


def _default_table() -> PortTable:
    from anyport.api import knowledge_base
    from anyport.traffic.porttable import load_or_build

    return load_or_build(knowledge_base())


def table_frames(spark: SparkSession, table: PortTable) -> tuple[DataFrame, DataFrame]:
    """The table as (keys, records) DataFrames of ``spark``, made once per session and table."""
    stamp = f"{table.index_name}:{table.code}:{id(table)}"
    cached = _FRAMES.get(id(spark))
    if cached is not None and cached[0] is spark and cached[1] == stamp:
        return cached[2], cached[3]
    import importlib

    pa: Any = importlib.import_module("pyarrow")  # untyped; imported by name so mypy --strict need not know it

    dense = table.dense_columns()
    transports = TABLE_TRANSPORTS
    numbers: dict[tuple[str, str, float, str], int] = {}
    record_column = []
    key_column = []
    for transport, port, service, alternatives, confidence, risk in zip(
        dense["transport"],
        dense["port"],
        dense["service"],
        dense["alternatives"],
        dense["confidence"],
        dense["risk"],
        strict=True,
    ):
        record_column.append(numbers.setdefault((service, alternatives, confidence, risk), len(numbers)))
        key_column.append(transports.index(transport) * PORTS + port)
    keys = spark.createDataFrame(
        pa.table(
            {
                f"{_HIDDEN}key": pa.array(key_column, pa.int64()),
                f"{_HIDDEN}side_key": pa.array(dense["side_key"], pa.int64()),
                f"{_HIDDEN}record": pa.array(record_column, pa.int32()),
            }
        )
    ).cache()
    distinct = list(numbers)
    records = spark.createDataFrame(
        pa.table(
            {
                f"{_HIDDEN}record": pa.array(range(len(distinct)), pa.int32()),
                f"{_HIDDEN}service": pa.array([r[0] for r in distinct], pa.string()),
                f"{_HIDDEN}alternatives": pa.array([r[1] for r in distinct], pa.string()),
                f"{_HIDDEN}confidence": pa.array([r[2] for r in distinct], pa.float64()),
                f"{_HIDDEN}risk": pa.array([r[3] for r in distinct], pa.string()),
            }
        )
    ).cache()
    keys.count()  # materialise the cache now, once, rather than inside the first annotation
    records.count()
    while len(_FRAMES) >= _KEEP_SESSIONS:
        _FRAMES.pop(next(iter(_FRAMES)))
    _FRAMES[id(spark)] = (spark, stamp, keys, records)
    return keys, records


# -- sessions -----------------------------------------------------------------------------------------------


def session(master: str | None = None) -> tuple[SparkSession, bool]:
    """(a Spark session, whether this call started it).

    An active session (a program's own, or spark-submit's) is used as it is; otherwise ``master`` decides
    (``sc://...`` is a Spark Connect server), then ``SPARK_REMOTE``, then ``local[*]``.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise DataError(f"the spark engine needs pyspark: {INSTALL}") from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active, False
    remote = master if master and master.startswith("sc://") else None
    if master and not remote and os.environ.get("SPARK_REMOTE"):
        raise QueryError(f"SPARK_REMOTE is set and a master {master!r} was given; use one of them")
    remote = remote or os.environ.get("SPARK_REMOTE")
    submitted = "PYSPARK_GATEWAY_PORT" in os.environ  # spark-submit started the JVM and set its master
    if not remote and not submitted and not _java():
        raise DataError(f"Spark needs Java, and no java was found on PATH or in JAVA_HOME; {INSTALL}")
    builder = SparkSession.builder.appName("anyport annotate")
    if remote:
        builder = builder.remote(remote)
    elif master or not submitted:
        builder = builder.master(master or "local[*]")
    try:
        spark = builder.getOrCreate()
    except ImportError as exc:  # Spark Connect's own dependencies (grpcio...)
        raise DataError(f"Spark Connect needs more packages ({exc}); pip install 'pyspark[connect]'") from None
    except Exception as exc:  # the JVM or the server did not start: say why in one line
        raise DataError(f"cannot start Spark ({_first_line(exc)}); {INSTALL}") from None
    return spark, True


def _java() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return True
    return shutil.which("java") is not None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# -- files --------------------------------------------------------------------------------------------------


class SparkRun:
    """What :func:`annotate_paths` did: input rows, bad rows (dropped, as the Python readers do), written rows."""

    def __init__(self, output: str, fmt: str, master: str) -> None:
        self.output = output
        self.format = fmt
        self.master = master
        self.inputs: list[tuple[str, str]] = []  # (path, input format)
        self.rows = 0
        self.bad = 0
        self.identified = 0
        self.seconds = 0.0
        self.startup_seconds = 0.0

    @property
    def written(self) -> int:
        return self.rows - self.bad

    def report(self) -> str:
        lines = [f"{path}: {fmt}" for path, fmt in self.inputs]
        if self.bad:
            lines.append(f"{self.bad} bad rows skipped (wrong field count, unreadable JSON or a port that is no port)")
        lines.append(
            f"{self.written} flows annotated ({self.identified} with a service) into {self.output} ({self.format}, "
            f"a directory of part files) in {self.seconds:.2f}s on Spark {self.master} "
            f"(session start {self.startup_seconds:.2f}s)"
        )
        return "\n".join(lines)


def annotate_paths(
    inputs: Iterable[str],
    output: str,
    fmt: str,
    columns: Mapping[str, str] | None = None,
    master: str | None = None,
    input_format: str | None = None,
    table: PortTable | None = None,
) -> SparkRun:
    """Read flow files with Spark, annotate them and write ``output`` (a directory) as parquet, csv or jsonl.

    Inputs are CSV, Parquet, JSON lines or Zeek TSV (detected from the content of local files, from the name
    of remote ones, or ``input_format``); ``columns`` maps roles to column names as for the Python engine.
    Rows with a wrong field count, unreadable JSON or an unreadable port are counted and skipped.
    """
    if fmt not in OUTPUT_FORMATS:
        raise QueryError(f"unknown output format {fmt!r} for the spark engine; use parquet, csv or jsonl")
    if input_format in ("nfdump", "netfilter"):
        raise DataError(f"the spark engine reads flow tables, not {input_format} output; use the default engine")
    input_format = {"zeek-json": "json"}.get(input_format or "", input_format)
    if input_format is not None and input_format not in INPUT_FORMATS:
        raise QueryError(f"unknown input format {input_format!r}; use one of {', '.join(INPUT_FORMATS)}")
    if not output or output == "-":
        raise QueryError("the spark engine writes a directory of part files: give an output path (-o DIR)")
    paths = list(inputs)
    if not paths:
        raise QueryError("no input files")
    for path in paths:
        if _local(path) and not os.path.exists(_strip_scheme(path)):
            raise DataError(f"cannot read {path}: no such file or directory")
    if _local(output) and os.path.exists(_strip_scheme(output)):
        raise DataError(f"{output} exists; the spark engine writes a new directory there, so remove it first")
    started = time.perf_counter()
    spark, started_here = session(master)
    run = SparkRun(output, "jsonl" if fmt == "json" else fmt, _master(spark))
    run.startup_seconds = time.perf_counter() - started
    try:
        _run(spark, paths, output, run, columns, input_format, table)
    finally:
        if started_here:
            spark.stop()
    run.seconds = time.perf_counter() - started
    return run


def _run(
    spark: SparkSession,
    paths: list[str],
    output: str,
    run: SparkRun,
    columns: Mapping[str, str] | None,
    input_format: str | None,
    table: PortTable | None,
) -> None:
    from pyspark.errors import PySparkException
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    try:
        frames = []
        for path in paths:
            kind = input_format or _detect(spark, path)
            run.inputs.append((path, kind))
            frames.append(_read(spark, path, kind))
        df = frames[0]
        for other in frames[1:]:
            df = df.unionByName(other, allowMissingColumns=True)
        corrupt = F.lit(False)
        if _CORRUPT in df.columns:
            corrupt = F.col(_CORRUPT).isNotNull()
            df = df.withColumn(f"{_HIDDEN}corrupt", corrupt).drop(_CORRUPT)
            corrupt = F.col(f"{_HIDDEN}corrupt")
        annotated = _annotate(df, table, dict(columns or {}), None, flag_bad=True)
        bad = corrupt | F.col(f"{_HIDDEN}bad")
        observation = Observation("anyport")
        annotated = annotated.observe(
            observation,
            F.count(F.lit(1)).alias("rows"),
            F.count(F.when(bad, 1)).alias("bad"),
            F.count(F.when(~bad & (F.col("service") != ""), 1)).alias("identified"),
        )
        annotated = annotated.filter(~bad).drop(*(c for c in annotated.columns if c.startswith(_HIDDEN)))
        _write(annotated, output, run.format)
        metrics = observation.get
    except PySparkException as exc:
        raise DataError(f"Spark could not annotate {', '.join(paths)}: {_first_line(exc)}") from None
    run.rows, run.bad, run.identified = int(metrics["rows"]), int(metrics["bad"]), int(metrics["identified"])


def _write(df: DataFrame, output: str, fmt: str) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if fmt == "parquet":
        df.write.parquet(output)
    elif fmt == "csv":
        # CSV holds no nested values: arrays and structs (Zeek JSON's tunnel_parents) are written as JSON text
        nested = (T.ArrayType, T.MapType, T.StructType)
        df = df.select(
            *(
                F.to_json(_col(f.name)).alias(f.name) if isinstance(f.dataType, nested) else _col(f.name)
                for f in df.schema
            )
        )
        # quotes doubled inside quoted fields (RFC 4180, what Python's csv and the default engine write), not
        # Spark's default backslash escapes
        df.write.option("header", "true").option("escape", '"').csv(output)
    else:
        df.write.option("ignoreNullFields", "false").json(output)  # a null service_port stays in the record


def _master(spark: SparkSession) -> str:
    try:
        return str(spark.conf.get("spark.master"))
    except Exception:  # Spark Connect does not expose the server's master
        return os.environ.get("SPARK_REMOTE", "connect")


def _local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def _strip_scheme(path: str) -> str:
    return path.removeprefix("file://")


def _detect(spark: SparkSession, path: str) -> str:
    """The input format of ``path`` from its first bytes (local files), else from its name or first lines."""
    head = _local_head(path) if _local(path) else None
    if head is None:
        lower = path.lower().removesuffix(".gz")
        if lower.endswith((".parquet", ".pq")):
            return "parquet"
        head = "\n".join(_remote_lines(spark, path)).encode()
    from anyport.traffic.capture import is_capture_head
    from anyport.traffic.readers import PARQUET_MAGIC, detect_format

    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if is_capture_head(head):
        raise DataError(f"{path} is a capture; the spark engine reads flow tables, so use the default engine")
    found = detect_format(head)
    if found in ("nfdump", "netfilter"):
        raise DataError(f"{path} is {found} output; the spark engine reads flow tables, so use the default engine")
    return {"zeek-json": "json"}.get(found, found)


def _local_head(path: str) -> bytes | None:
    """The first bytes of a local file, or of the first data file of a local directory (Spark's output)."""
    import gzip
    import zlib

    target = _strip_scheme(path)
    if os.path.isdir(target):
        names = sorted(n for n in os.listdir(target) if not n.startswith(("_", ".")))
        if not names:
            raise DataError(f"{path} is a directory without data files")
        target = os.path.join(target, names[0])
        if os.path.isdir(target):
            return None  # partitioned layout: go by the name
    try:
        with open(target, "rb") as handle:
            head = handle.read(8192)
        if head.startswith(b"\x1f\x8b"):
            with gzip.open(target, "rb") as packed:
                head = packed.read(8192)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if not head.strip():
        raise DataError(f"{path} is empty")
    return head


def _remote_lines(spark: SparkSession, path: str, count: int = 20) -> list[str]:
    return [str(row[0]) for row in spark.read.text(path).limit(count).collect()]


def _head_lines(spark: SparkSession, path: str) -> list[str]:
    head = _local_head(path) if _local(path) else None
    if head is None:
        return _remote_lines(spark, path)
    lines = head.decode("utf-8", errors="replace").splitlines()
    return lines[:-1] if len(lines) > 1 and not head.endswith(b"\n") else lines  # the last one may be cut


def _read(spark: SparkSession, path: str, kind: str) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    if kind == "parquet":
        return spark.read.parquet(path)
    if kind == "json":
        df = spark.read.option("columnNameOfCorruptRecord", _CORRUPT).json(path)
        fields = {f.name: f.dataType for f in df.schema.fields}
        if isinstance(fields.get("id"), T.StructType):  # Zeek's nested {"id": {"orig_p": ...}} as id.orig_p
            inner = [f.name for f in fields["id"].fields]  # type: ignore[attr-defined]
            df = df.select(
                *(F.col(f"id.`{name}`").alias(f"id.{name}") for name in inner),
                *(_col(c) for c in df.columns if c != "id"),
            )
        return df
    lines = _head_lines(spark, path)
    if kind == "zeek":
        return _read_zeek(spark, path, lines)
    header_line = next((line for line in lines if line.strip() and not line.startswith("#")), None)
    if header_line is None:
        raise DataError(f"{path} has no CSV header line")
    from anyport.traffic.readers import _dialect

    delimiter = str(_dialect(header_line).delimiter)
    import csv

    header = next(csv.reader([header_line], delimiter=delimiter))
    schema = T.StructType([T.StructField(name, T.StringType()) for name in [*header, _CORRUPT]])
    return (
        spark.read.option("header", "true")
        .option("sep", delimiter)
        .option("escape", '"')  # "" inside a quoted field, as Python's csv reads it
        .option("comment", "#")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .schema(schema)
        .csv(path)
    )


def _read_zeek(spark: SparkSession, path: str, lines: list[str]) -> DataFrame:
    """A Zeek TSV with the ``#fields`` of its header: unset fields are null, ``(empty)`` is ''."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    separator, unset, empty, fields = "\t", "-", "(empty)", None
    for line in lines:
        if line.startswith("#separator"):
            value = line.partition(" ")[2].strip()
            separator = value.encode("latin-1", "replace").decode("unicode_escape") if value else "\t"
        elif line.startswith("#unset_field"):
            unset = line.partition(separator)[2]
        elif line.startswith("#empty_field"):
            empty = line.partition(separator)[2]
        elif line.startswith("#fields"):
            fields = line.split(separator)[1:]
    if not fields:  # old Bro logs without a header: the layout follows from the field count
        from anyport.traffic.readers import HEADERLESS

        first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
        fields = HEADERLESS.get(first.count(separator) + 1)
        if not fields:
            raise DataError(f"{path}: no #fields line in the Zeek header")
    schema = T.StructType([T.StructField(name, T.StringType()) for name in [*fields, _CORRUPT]])
    df = (
        spark.read.option("sep", separator)
        .option("header", "false")
        .option("comment", "#")
        .option("quote", "")  # Zeek does not quote; a '"' in a field is text
        .option("nullValue", unset)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .schema(schema)
        .csv(path)
    )
    return df.select(
        *(F.when(_col(name) == empty, F.lit("")).otherwise(_col(name)).alias(name) for name in fields), _col(_CORRUPT)
    )
