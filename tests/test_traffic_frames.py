"""Annotated flows in memory (anyport.traffic.frames) against the Python reference and the file engine."""

from __future__ import annotations

import csv
import io
import threading
from pathlib import Path

import pandas
import pyarrow
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings

from anyport.errors import DataError, QueryError
from anyport.query.kb import KnowledgeBase
from anyport.traffic.annotate import ADDED, annotate, annotate_files
from anyport.traffic.frames import annotate_frame, read_annotated
from anyport.traffic.porttable import PortTable
from anyport.traffic.readers import ReadStats, read_flows
from conftest import run_cli
from test_traffic_engines import ZEEK_TSV, _norm, csv_tables, python_rows

DATA = Path(__file__).resolve().parent / "data"


def added(result: pyarrow.Table) -> list[tuple[object, ...]]:
    return [_norm(row) for row in result.select(list(ADDED)).to_pylist()]


@pytest.mark.parametrize("kind", ["csv", "parquet", "zeek"])
def test_read_annotated_equals_the_reference(
    kind: str, generated: dict[str, Path], table: PortTable, kb: KnowledgeBase, tmp_path: Path
) -> None:
    result, stats = read_annotated(generated[kind], kb=kb)
    assert stats.engine == "duckdb"
    assert (stats.rows, stats.bad, result.num_rows) == (3000, 0, 3000)
    assert added(result) == python_rows(table, generated["csv" if kind == "parquet" else kind])
    assert stats.identified == sum(1 for row in result.column("service").to_pylist() if row)
    # the input's columns are the file engine's, value for value
    out = tmp_path / "out.parquet"
    annotate_files([str(generated[kind])], str(out), "parquet", kb=kb, engine="duckdb")
    written = pq.read_table(out)
    assert result.column_names == written.column_names
    assert result.drop_columns(list(ADDED)).to_pylist() == written.drop_columns(list(ADDED)).to_pylist()


@pytest.mark.parametrize("path", ZEEK_TSV, ids=lambda p: p.name)
def test_read_annotated_on_real_zeek_logs(path: Path, table: PortTable, kb: KnowledgeBase) -> None:
    result, _ = read_annotated(str(path), kb=kb)
    assert added(result) == python_rows(table, path)


@pytest.mark.parametrize("name", ["zeek/zat_conn.json.log", "pcap/pop3.pcap"])
def test_what_only_python_reads_comes_through_it(name: str, kb: KnowledgeBase, tmp_path: Path) -> None:
    result, stats = read_annotated(DATA / name, kb=kb)
    assert stats.engine == "python"
    out = tmp_path / "out.parquet"
    annotate_files([str(DATA / name)], str(out), "parquet", kb=kb, engine="python")
    assert result.to_pylist() == pq.read_table(out).to_pylist()
    assert result.num_rows == stats.rows > 0


def test_rows_keep_the_input_order_with_several_threads(
    large: dict[str, Path], kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYPORT_THREADS", "4")
    for kind, source in large.items():
        result, stats = read_annotated(source, kb=kb)
        assert stats.rows == 300_000
        # the generator numbers its rows in the uid's last eight hex digits
        numbers = [int(uid[-8:], 16) for uid in result.column("uid").to_pylist()]
        assert numbers == list(range(300_000)), f"{kind}: rows out of input order"
    frame = pq.read_table(large["parquet"]).to_pandas()
    result = annotate_frame(frame, kb=kb)
    assert result.column("uid").to_pylist() == frame["uid"].tolist()


def test_bad_lines_are_counted_with_their_numbers(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "flows.csv"
    path.write_text(
        "ts,sport,dport,proto\n1,1234,80,tcp\n2,5,abc,tcp\n3,4,5,6,7\n4,53000,443,udp\n5,70000,22,tcp\n", "utf-8"
    )
    result, stats = read_annotated(path, kb=kb)
    assert result.column("ts").to_pylist() == [1, 4]
    assert (stats.rows, stats.bad) == (2, 3)
    report = stats.report()
    assert "line 4" in report
    assert "dport='abc'" in report
    assert "70000" in report


def test_frames_from_pandas_and_arrow(generated: dict[str, Path], table: PortTable, kb: KnowledgeBase) -> None:
    reference = python_rows(table, generated["csv"])
    frame = pandas.read_csv(generated["csv"])
    from_pandas = annotate_frame(frame, kb=kb)
    assert added(from_pandas) == reference
    assert from_pandas.column_names == [*frame.columns, *ADDED]
    assert added(annotate_frame(pyarrow.Table.from_pandas(frame), kb=kb)) == reference
    reader = pyarrow.Table.from_pandas(frame).to_reader(max_chunksize=500)
    assert added(annotate_frame(reader, kb=kb)) == reference
    converted = from_pandas.to_pandas()
    assert str(converted["service"].dtype) == "category"
    assert converted["service_port"].isna().sum() == sum(1 for row in reference if row[1] is None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=csv_tables())
def test_frames_keep_rows_with_a_broken_port(text: str, table: PortTable, kb: KnowledgeBase, tmp_path: Path) -> None:
    # every row stays; a port that is no port counts as no port on that side, as in anyport.spark.annotate
    rows = list(csv.DictReader(io.StringIO(text)))
    frame = pyarrow.table({name: [row[name] for row in rows] for name in ("proto", "sport", "dport", "note")})
    result = annotate_frame(frame, kb=kb)
    assert result.column("note").to_pylist() == [row["note"] for row in rows]

    def port(text: str) -> str:
        return text if text.isdigit() and int(text) <= 65535 else ""

    cleaned = tmp_path / "cleaned.csv"
    with open(cleaned, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["proto", "sport", "dport", "note"])
        writer.writeheader()
        writer.writerows({**row, "sport": port(row["sport"]), "dport": port(row["dport"])} for row in rows)
    stats = ReadStats(str(cleaned))
    expected = [_norm(item.row) for item in annotate(table, read_flows(str(cleaned), None, stats))]
    assert stats.bad == 0
    assert added(result) == expected


def test_integer_ports_out_of_range_are_no_ports(kb: KnowledgeBase) -> None:
    frame = pyarrow.table({"sport": [1234, -1, 70000, None], "dport": [80, 443, 22, None], "proto": ["tcp"] * 4})
    result = annotate_frame(frame, kb=kb).to_pylist()
    assert [row["service_port"] for row in result] == [80, 443, 22, None]
    assert result[3]["service"] == ""


def test_empty_and_wrong_inputs(kb: KnowledgeBase, tmp_path: Path) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_text("ts,sport,dport,proto\n", "utf-8")
    result, stats = read_annotated(header_only, kb=kb)
    assert (result.num_rows, stats.rows) == (0, 0)
    assert result.column_names[-len(ADDED) :] == list(ADDED)
    no_ports = tmp_path / "noport.csv"
    no_ports.write_text("a,b\n1,2\n", "utf-8")
    with pytest.raises(DataError, match=r"no port column.*found 'a', 'b'"):
        read_annotated(no_ports, kb=kb)
    with pytest.raises(DataError, match="directory"):
        read_annotated(tmp_path, kb=kb)
    with pytest.raises(QueryError, match="no input files"):
        read_annotated([], kb=kb)
    with pytest.raises(QueryError, match="cannot read a list as a table"):
        annotate_frame([1, 2, 3], kb=kb)
    with pytest.raises(DataError, match="no port column"):
        annotate_frame(pandas.DataFrame({"a": [1]}), kb=kb)


def test_a_failure_midway_stops_the_fetching_thread(
    large: dict[str, Path], kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anyport.traffic import frames

    monkeypatch.setattr(frames, "BATCH_ROWS", 20_000)
    calls = []
    add = frames.Answers.add

    def failing(self: frames.Answers, batch: pyarrow.RecordBatch) -> tuple[pyarrow.RecordBatch, int]:
        calls.append(batch.num_rows)
        if len(calls) == 2:
            raise RuntimeError("stop here")
        return add(self, batch)

    monkeypatch.setattr(frames.Answers, "add", failing)
    with pytest.raises(RuntimeError, match="stop here"):
        read_annotated(large["csv"], kb=kb)
    assert not [t for t in threading.enumerate() if t.name == "anyport-fetch"]
    monkeypatch.setattr(frames.Answers, "add", add)
    result, stats = read_annotated(large["csv"], kb=kb)  # and the next run is whole
    assert result.num_rows == stats.rows == 300_000


@pytest.mark.parametrize("kind", ["csv", "parquet", "zeek"])
def test_arrow_files_hold_the_in_memory_table(
    kind: str, generated: dict[str, Path], kb: KnowledgeBase, tmp_path: Path
) -> None:
    # anyport annotate -o x.arrow streams the same batches into an Arrow IPC file (Feather v2)
    out = tmp_path / "out.arrow"
    stats = annotate_files([str(generated[kind])], str(out), "arrow", kb=kb, engine="duckdb")
    written = pyarrow.ipc.open_file(out).read_all()
    expected, read = read_annotated(generated[kind], kb=kb)
    assert written.equals(expected)
    assert (stats.rows, stats.identified) == (3000, read.identified)
    assert pandas.read_feather(out)["service"].tolist() == expected.column("service").to_pylist()
    assert not list(tmp_path.glob("*.tmp"))


def test_arrow_files_from_the_python_engine(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = str(DATA / "pcap" / "pop3.pcap")
    annotate_files([source], str(tmp_path / "a.arrow"), "arrow", kb=kb)
    annotate_files([source], str(tmp_path / "a.parquet"), "parquet", kb=kb)
    written = pyarrow.ipc.open_file(tmp_path / "a.arrow").read_all()
    assert written.to_pylist() == pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert written.num_rows > 0


def test_arrow_output_from_the_command_line(generated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "flows.feather"
    done = run_cli("annotate", str(generated["csv"]), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert pyarrow.ipc.open_file(out).read_all().num_rows == 3000
    done = run_cli("annotate", str(generated["csv"]), "--format", "arrow")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "anyport: an Arrow file is not written to a terminal or pipe; give an output file with -o FILE.arrow"
    )
    empty = tmp_path / "header.csv"
    empty.write_text("ts,sport,dport,proto\n", "utf-8")
    assert run_cli("annotate", str(empty), "-o", str(tmp_path / "e.arrow"), "--engine", "duckdb").returncode == 0
    assert pyarrow.ipc.open_file(tmp_path / "e.arrow").read_all().column_names[-len(ADDED) :] == list(ADDED)


def test_arrow_output_reports_progress(large: dict[str, Path], kb: KnowledgeBase, tmp_path: Path) -> None:
    calls: list[tuple[float, float | None, str]] = []
    out = tmp_path / "out.arrow"
    annotate_files([str(large["csv"])], str(out), "arrow", kb=kb, engine="duckdb", progress=lambda *a: calls.append(a))
    assert calls[-1] == (100.0, 100.0, "percent")
    assert all(0 <= done <= 100 for done, _, _ in calls)
    assert pyarrow.ipc.open_file(out).read_all().num_rows == 300_000
