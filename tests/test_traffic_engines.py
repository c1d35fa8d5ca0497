"""The DuckDB engine (Parquet, CSV, Zeek TSV) against the Python reference, row by row; zstd; Parquet out; progress."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import duckdb
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.errors import DataError, QueryError
from anyport.query.kb import KnowledgeBase
from anyport.traffic import columnar
from anyport.traffic.annotate import ADDED, annotate, annotate_files, choose_engine
from anyport.traffic.porttable import PortTable
from anyport.traffic.readers import ReadStats, read_flows
from conftest import run_cli

DATA = Path(__file__).resolve().parent / "data"
ZEEK_TSV = sorted(p for p in (DATA / "zeek").glob("*.log") if "json" not in p.name)

KEYS = ("service", "service_port", "service_proto", "alternatives", "confidence", "risk")


def python_rows(table: PortTable, path: Path) -> list[tuple[object, ...]]:
    """The reference: the Python engine's added columns for every flow it keeps."""
    stats = ReadStats(str(path))
    return [_norm(item.row) for item in annotate(table, read_flows(str(path), None, stats))]


def _norm(row: dict[str, object]) -> tuple[object, ...]:
    port = row["service_port"]
    return (
        row["service"],
        None if port in (None, "") else int(str(port)),
        row["service_proto"],
        row["alternatives"],
        round(float(str(row["confidence"])), 6),
        row["risk"],
    )


def duckdb_rows(path: Path, out: Path, kb: KnowledgeBase, fmt: str = "parquet") -> list[tuple[object, ...]]:
    stats = annotate_files([str(path)], str(out), fmt, kb=kb, engine="duckdb")
    assert stats.engine == "duckdb"
    if fmt == "parquet":
        records = pq.read_table(out).to_pylist()
    else:
        with open(out, encoding="utf-8", newline="") as handle:
            records = list(csv.DictReader(handle))
    assert stats.rows == len(records)
    return [_norm(r) for r in records]


@pytest.mark.parametrize("path", ZEEK_TSV, ids=lambda p: p.name)
def test_duckdb_equals_python_on_real_zeek_logs(
    path: Path, table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    assert duckdb_rows(path, tmp_path / "out.parquet", kb) == python_rows(table, path)


ODD_CSV = (
    "when,sport,dport,proto,count,flag,ratio,note\n"
    "2026-11-26T10:00:00Z,40000,443,tcp,007,True,1e3,\n"
    '2026-11-26 10:00:01,40001,53,udp,10,False,0.50,"a, quoted note"\n'
    "1764115200.000,40002,,tcp,1,,,\n"
)


@pytest.mark.parametrize("name", [*(p.name for p in ZEEK_TSV), "odd.csv"])
def test_both_engines_write_the_same_csv_bytes(name: str, kb: KnowledgeBase, tmp_path: Path) -> None:
    # input fields as written (0.447460 stays 0.447460, 007 stays 007, Zeek's (empty) becomes an empty field)
    source = DATA / "zeek" / name
    if name == "odd.csv":
        source = tmp_path / name
        source.write_text(ODD_CSV, "utf-8")
    outputs = []
    for engine in ("python", "duckdb"):
        out = tmp_path / f"{engine}.csv"
        annotate_files([str(source)], str(out), "csv", kb=kb, engine=engine)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_duckdb_equals_python_on_generated_flows(
    generated: dict[str, Path], table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    reference = python_rows(table, generated["csv"])
    assert len(reference) == 3000
    assert duckdb_rows(generated["csv"], tmp_path / "a.parquet", kb) == reference
    assert duckdb_rows(generated["parquet"], tmp_path / "b.parquet", kb) == reference
    assert duckdb_rows(generated["csv"], tmp_path / "c.csv", kb, "csv") == reference
    # the swapped rows really exercise the side rule: some services sit on the source port
    with open(generated["csv"], encoding="utf-8") as handle:
        flows = list(csv.DictReader(handle))
    assert sum(int(f["sport"]) == r[1] for f, r in zip(flows, reference, strict=True)) > 500
    zeek = duckdb_rows(generated["zeek"], tmp_path / "d.parquet", kb)
    assert zeek == python_rows(table, generated["zeek"])


def test_input_order_and_columns_are_kept(generated: dict[str, Path], kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    annotate_files([str(generated["parquet"])], str(out), "parquet", kb=kb, engine="duckdb")
    source = pq.read_table(generated["parquet"])
    result = pq.read_table(out)
    assert result.column_names == [*source.column_names, *ADDED]
    assert result.select(source.column_names).to_pylist() == source.to_pylist()
    assert str(result.schema.field("service_port").type) == "int32"


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "arrow"])
def test_rows_keep_the_input_order_with_several_threads(
    fmt: str, large: dict[str, Path], kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's joins are not order-preserving: with more than one thread, chunks of 2,048 rows used to come out
    # interleaved. Four threads even on a one-core machine.
    monkeypatch.setenv("ANYPORT_THREADS", "4")
    for kind, source in large.items():
        out = tmp_path / f"out-{kind}.{fmt}"
        annotate_files([str(source)], str(out), fmt, kb=kb, engine="duckdb")
        if fmt == "parquet":
            uids = pq.read_table(out, columns=["uid"]).column("uid").to_pylist()
        elif fmt == "arrow":
            uids = pyarrow.ipc.open_file(out).read_all().column("uid").to_pylist()
        elif fmt == "csv":
            with open(out, encoding="utf-8", newline="") as handle:
                uids = [row["uid"] for row in csv.DictReader(handle)]
        else:
            with open(out, encoding="utf-8") as handle:
                uids = [json.loads(line)["uid"] for line in handle]
        # the generator numbers its rows in the uid's last eight hex digits
        numbers = [int(uid[-8:], 16) for uid in uids]
        assert numbers == list(range(300_000)), f"{kind} -> {fmt}: rows out of input order"


def test_any_order_keeps_every_row(large: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYPORT_THREADS", "4")
    ordered, any_order = tmp_path / "ordered.csv", tmp_path / "any.csv"
    source = str(large["csv"])
    assert run_cli("annotate", source, "-o", str(ordered), "--engine", "duckdb").returncode == 0
    done = run_cli("annotate", source, "-o", str(any_order), "--engine", "duckdb", "--any-order")
    assert done.returncode == 0, done.stderr
    first, second = (path.read_text("utf-8").splitlines() for path in (ordered, any_order))
    assert first[0] == second[0]  # the header
    assert sorted(first) == sorted(second)  # the same rows, order aside


@st.composite
def csv_tables(draw: st.DrawFn) -> str:
    protos = st.sampled_from(["tcp", "TCP", "udp", "6", "17", "132", "sctp", "icmp", "", "gre"])
    ports = st.one_of(
        st.integers(0, 65535).map(str),
        st.sampled_from(["80", "443", "53", "6881", "5060", "3389", "60000", "33000", "0", ""]),
        st.sampled_from(["70000", "-1", "http", "8.5"]),
    )
    rows = draw(st.lists(st.tuples(protos, ports, ports), min_size=1, max_size=40))
    lines = ["proto,sport,dport,note"]
    lines += [f"{p},{s},{d},n{i}" for i, (p, s, d) in enumerate(rows)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def connection(table: PortTable) -> object:
    # not for the module: while a connection to the cached port tables is open, DuckDB hands every new connection
    # to that file the same database, and the damaged-cache test below would damage it under the later tests
    con = columnar.connect(table)
    yield con
    con.close()  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_tables())
def test_duckdb_equals_python_on_any_csv(text: str, table: PortTable, connection: object, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(text)
    stats = ReadStats(str(path))
    expected = [_norm(item.row) for item in annotate(table, read_flows(str(path), None, stats))]
    con = connection
    source = columnar.source_sql([str(path)], "csv")
    names, types = columnar._columns_of(con, source)
    plan = columnar.annotate_sql(source, names, None, None, types)
    relation = con.execute(plan.select)  # type: ignore[attr-defined]
    header = [d[0] for d in relation.description]
    got = [_norm(dict(zip(header, row, strict=True))) for row in relation.fetchall()]
    assert got == expected
    broken = con.execute(f"SELECT count(*) FROM {source} WHERE {plan.invalid}").fetchone()[0]  # type: ignore[attr-defined]
    assert broken == stats.bad


def test_bad_rows_are_counted_not_lost(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "proto,src,sport,dst,dport\ntcp,a,40000,b,443\ntcp,a,b\nudp,a,70000,b,53\nudp,a,5353,b,5353\n",
        encoding="utf-8",
    )
    stats = annotate_files([str(path)], str(tmp_path / "o.csv"), "csv", kb=kb, engine="duckdb")
    assert (stats.rows, stats.bad) == (2, 2)
    report = stats.report()
    assert "line 3" in report
    assert "70000" in report


@pytest.mark.parametrize("compress", ["gzip", "zstd"])
def test_compressed_inputs_in_both_engines(
    compress: str, generated: dict[str, Path], table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    raw = generated["csv"].read_bytes()
    packed = gzip.compress(raw) if compress == "gzip" else zstandard.ZstdCompressor().compress(raw)
    path = tmp_path / "flows.log"  # no telling extension: detected from content
    path.write_bytes(packed)
    reference = python_rows(table, generated["csv"])
    assert python_rows(table, path) == reference
    assert duckdb_rows(path, tmp_path / "o.parquet", kb) == reference


def test_truncated_zstd_is_counted(generated: dict[str, Path], tmp_path: Path) -> None:
    packed = zstandard.ZstdCompressor().compress(generated["csv"].read_bytes() * 20)
    path = tmp_path / "cut.zst"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    stats = ReadStats(str(path))
    flows = list(read_flows(str(path), None, stats))
    assert flows
    assert stats.bad >= 1
    assert any("truncated" in why for _, why in stats.examples)
    assert stats.lines == stats.records + stats.bad + stats.skipped


def test_python_engine_writes_parquet_from_a_capture(kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "flows.parquet"
    stats = annotate_files([str(DATA / "pcap" / "ssh.pcap")], str(out), "parquet", kb=kb)
    assert stats.engine == "python"
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == stats.rows > 0
    assert rows[0]["service"] == "ssh"
    assert rows[0]["service_port"] == 22


def test_engine_choice(generated: dict[str, Path], tmp_path: Path) -> None:
    assert choose_engine([str(generated["parquet"])], "csv") == "duckdb"
    assert choose_engine([str(generated["csv"])], "csv") == "python"  # small: no DuckDB start-up
    assert choose_engine([str(generated["csv"])], "parquet") == "duckdb"
    assert choose_engine([str(DATA / "pcap" / "ssh.pcap")], "csv") == "python"
    assert choose_engine([str(DATA / "zeek" / "zat_conn.json.log")], "csv") == "python"
    with pytest.raises(QueryError):
        choose_engine([str(generated["csv"])], "csv", "fast")


def test_duckdb_engine_refuses_what_it_cannot_read(kb: KnowledgeBase, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="engine python"):
        annotate_files([str(DATA / "zeek" / "zat_conn.json.log")], str(tmp_path / "o.csv"), "csv", engine="duckdb")
    path = tmp_path / "noports.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no port column"):
        annotate_files([str(path)], str(tmp_path / "o.csv"), "csv", kb=kb, engine="duckdb")
    with pytest.raises(QueryError, match=r"-o FILE\.parquet"):
        annotate_files([str(DATA / "zeek" / "zat_conn.log")], "-", "parquet", kb=kb, engine="duckdb")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\0" * 50)
    with pytest.raises(DataError):
        annotate_files([str(broken)], str(tmp_path / "o.csv"), "csv", kb=kb)


def test_progress_reports_bytes_up_to_the_total(generated: dict[str, Path], kb: KnowledgeBase, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    lines = generated["csv"].read_text().splitlines()
    big.write_text("\n".join([lines[0], *(lines[1:] * 12)]) + "\n")
    calls: list[tuple[float, float | None, str]] = []
    annotate_files(
        [str(big)], str(tmp_path / "o.csv"), "csv", kb=kb, engine="python", progress=lambda *a: calls.append(a)
    )
    size = float(big.stat().st_size)
    assert len(calls) >= 2
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[-1] == (size, size, "bytes")


def test_cli_parquet_round_trip_and_errors(generated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    result = run_cli("annotate", str(generated["parquet"]), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "duckdb engine" in result.stderr
    assert pq.read_table(out).num_rows == 3000
    result = run_cli("annotate", str(generated["parquet"]))
    assert result.returncode == 0, result.stderr
    forced = run_cli("annotate", str(DATA / "pcap" / "ssh.pcap"), "--input-format", "pcap")
    assert forced.returncode == 0, forced.stderr
    assert "25 flows annotated" in forced.stderr
    assert len(list(csv.reader(io.StringIO(result.stdout)))) == 3001
    for args in (
        ["annotate", str(generated["csv"]), "--format", "parquet"],
        ["annotate", str(DATA / "pcap" / "ssh.pcap"), "--engine", "duckdb"],
        ["annotate", str(generated["csv"]), "--input-format", "zeek", "--engine", "duckdb"],
        ["annotate", str(generated["csv"]), "--input-format", "pcap"],
    ):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_duckdb_reads_what_it_wrote(generated: dict[str, Path], kb: KnowledgeBase, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    annotate_files([str(generated["parquet"])], str(out), "jsonl", kb=kb, engine="duckdb")
    count = duckdb.connect().execute(f"SELECT count(*) FROM read_json('{out}') WHERE service <> ''").fetchone()
    assert count is not None
    assert count[0] > 2500


def test_duckdb_port_tables_are_cached_and_rebuilt_when_damaged(
    generated: dict[str, Path], table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    assert table.path
    cache = Path(table.path + columnar.CACHE_SUFFIX)
    reference = duckdb_rows(generated["csv"], tmp_path / "a.parquet", kb)
    assert cache.is_file()
    cache.write_bytes(b"not a duckdb file")  # damaged (or another DuckDB version's): rebuilt, never fatal
    assert duckdb_rows(generated["csv"], tmp_path / "b.parquet", kb) == reference
    con = duckdb.connect(str(cache), read_only=True)
    stamp = con.execute("SELECT stamp FROM anyport_meta").fetchone()
    con.close()
    assert stamp is not None
    assert table.code in stamp[0]
    in_memory = PortTable(table._records, table._columns, table.index_name, table.code)
    in_memory._strings = table._strings
    con = columnar.connect(in_memory)  # no file to cache next to: built in memory
    assert con.execute("SELECT count(*) FROM anyport_keys").fetchone() == (196609,)
    con.close()


def test_summary_reports_progress(generated: dict[str, Path], kb: KnowledgeBase) -> None:
    from anyport.traffic.annotate import summary_files

    calls: list[tuple[float, float | None, str]] = []
    summary = summary_files([str(generated["csv"])], kb=kb, progress=lambda *a: calls.append(a))
    size = float(generated["csv"].stat().st_size)
    assert summary["flows"] == 3000
    assert calls[-1] == (size, size, "bytes")


def test_trailing_delimiters_read_alike(kb: KnowledgeBase, tmp_path: Path) -> None:
    # empty fields past the header (a trailing comma or two) are no data: both engines keep the row; a value there
    # makes the line bad in both
    path = tmp_path / "flows.csv"
    path.write_text("proto,sport,dport\ntcp,40000,443,\nudp,40001,53,,\ntcp,40002,22,5\ntcp,40003,25\n", "utf-8")
    rows = {}
    for engine in ("python", "duckdb"):
        out = tmp_path / f"{engine}.csv"
        stats = annotate_files([str(path)], str(out), "csv", kb=kb, engine=engine)
        assert (stats.rows, stats.bad) == (3, 1)
        rows[engine] = out.read_text("utf-8")
    assert rows["python"] == rows["duckdb"]


def test_a_zeek_count_that_is_no_number_keeps_its_line(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Both engines keep the line as written (its bytes unknown) in CSV output, the summary and learn."""
    from anyport.traffic.annotate import summary_files
    from anyport.traffic.learn import learn_files

    log = tmp_path / "conn.log"
    lines = (ZEEK_TSV[0]).read_text("utf-8").splitlines(keepends=True)
    fields = next(line for line in lines if line.startswith("#fields")).rstrip("\n").split("\t")[1:]
    where = fields.index("orig_bytes")
    data = [i for i, line in enumerate(lines) if not line.startswith("#")]
    assert len(data) > 2
    for number, junk in zip(data[:2], ("12abc", "\u0663"), strict=False):
        values = lines[number].rstrip("\n").split("\t")
        values[where] = junk
        lines[number] = "\t".join(values) + "\n"
    log.write_text("".join(lines), "utf-8")
    outputs = []
    for engine in ("python", "duckdb"):
        out = tmp_path / f"{engine}.csv"
        stats = annotate_files([str(log)], str(out), "csv", kb=kb, engine=engine)
        assert (stats.rows, stats.bad) == (len(data), 0)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert b"12abc" in outputs[0]
    summaries = [summary_files([str(log)], kb=kb, engine=engine) for engine in ("python", "duckdb")]
    assert [s["flows"] for s in summaries] == [len(data)] * 2
    assert summaries[0]["bytes"] == summaries[1]["bytes"]
    assert summaries[0]["by_service"] == summaries[1]["by_service"]
    learned = [learn_files([str(log)], kb=kb, engine=engine).to_dict() for engine in ("python", "duckdb")]
    for proposal in learned:
        del proposal["files"]
    assert learned[0] == learned[1]
    assert learned[0]["flows"] == len(data)
