"""Ordered output on several threads: pieces of one input side by side, Parquet parts joined, columns widened.

Every fast path is compared with the plain one-query run of the same engine, byte for byte for text and value
for value for Parquet.
"""

from __future__ import annotations

import csv
import filecmp
import itertools
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anyport.errors import DataError
from anyport.query.kb import KnowledgeBase
from anyport.traffic import columnar, parquetjoin, pieces
from anyport.traffic.annotate import annotate_files
from conftest import flow_files

ROWS = 120_000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("pieces")
    files = flow_files(base, ROWS)
    # Parquet in row groups of 20,480 rows (six of them), so that it can be cut between row groups
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{files['parquet']}')) TO '{base / 'groups.parquet'}' "
        "(FORMAT parquet, ROW_GROUP_SIZE 20480)"
    )
    files["parquet"] = base / "groups.parquet"
    # a CSV with broken lines in both halves: their line numbers must be the file's, not the piece's
    lines = files["csv"].read_text("utf-8").splitlines(keepends=True)
    for at in (5, ROWS - 7):
        lines[at] = "this,line,is,broken\n"
    files["bad-csv"] = base / "bad.csv"
    files["bad-csv"].write_text("".join(lines), "utf-8")
    return files


def one_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(columnar, "_pieces", lambda *args: None)
    monkeypatch.setattr(columnar, "_annotate_widened", lambda *args: None)


def rows_of(path: Path) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in pq.read_table(path).to_pylist()]


@pytest.mark.parametrize("kind", ["csv", "zeek", "parquet", "bad-csv"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_pieces_write_what_one_query_writes(
    kind: str, fmt: str, inputs: dict[str, Path], kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYPORT_THREADS", "3")
    monkeypatch.setenv("ANYPORT_PIECE_BYTES", "100000")  # cut these small files too
    monkeypatch.setattr(columnar, "_annotate_widened", lambda *args: None)
    calls: list[int] = []
    real = pieces.run

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(len(args[1]))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pieces, "run", counting)
    split = tmp_path / f"split.{fmt}"
    split_stats = annotate_files([str(inputs[kind])], str(split), fmt, kb=kb, engine="duckdb")
    assert calls == [3], "the input was not cut into three pieces"
    one_query(monkeypatch)
    whole = tmp_path / f"whole.{fmt}"
    whole_stats = annotate_files([str(inputs[kind])], str(whole), fmt, kb=kb, engine="duckdb")
    if fmt == "parquet":
        assert rows_of(split) == rows_of(whole)
    else:
        assert filecmp.cmp(split, whole, shallow=False)
    assert split_stats.rows == whole_stats.rows
    assert [f.as_dict() for f in split_stats.files] == [f.as_dict() for f in whole_stats.files]
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p], "parts were left behind"
    if kind == "bad-csv":
        assert [line for line, _why in whole_stats.files[0].examples] == [6, ROWS - 6]  # 1-based, as in the file


def test_a_quoted_csv_is_not_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYPORT_PIECE_BYTES", "1000")
    path = tmp_path / "quoted.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["proto", "sport", "dport", "note"])
        for n in range(2000):
            writer.writerow(["tcp", 40000 + n, 443, "a note\nover two lines" if n == 1000 else "plain"])
    assert pieces.cut(str(path), 2, '"') is None  # a line break may sit inside quotes: one query reads it
    assert pieces.cut(str(path), 2, "") is not None


def test_cut_is_at_line_ends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYPORT_PIECE_BYTES", "10")
    path = tmp_path / "lines.txt"
    path.write_bytes(b"".join(b"line %d\n" % n for n in range(1000)))
    cut = pieces.cut(str(path), 4)
    assert cut is not None
    assert len(cut) == 4
    data = path.read_bytes()
    assert cut[0][0] == 0
    assert cut[-1][1] == len(data)
    for (_a, end), (start, _b) in itertools.pairwise(cut):
        assert end == start
        assert data[end - 1 : end] == b"\n"
    assert pieces.lines_before(str(path), cut[1][0]) == data[: cut[1][0]].count(b"\n")


# -- Parquet parts -------------------------------------------------------------------------------------------


def test_parquet_parts_join_into_one_file(inputs: dict[str, Path], tmp_path: Path) -> None:
    con = duckdb.connect()
    source = f"read_parquet('{inputs['parquet']}')"
    parts = []
    for n, (limit, offset) in enumerate([(50_000, 0), (50_000, 50_000), (20_000, 100_000)]):
        parts.append(tmp_path / f"part{n}.parquet")
        con.execute(f"COPY (SELECT * FROM {source} LIMIT {limit} OFFSET {offset}) TO '{parts[-1]}' (FORMAT parquet)")
    schemas = {pq.read_schema(p) for p in parts}
    if len(schemas) > 1:
        pytest.skip("DuckDB wrote these parts with different schemas")  # covered by the next test
    parquetjoin.join(str(parts[0]), [str(p) for p in parts[1:]])
    assert not parts[1].exists()
    assert not parts[2].exists()
    joined = pq.read_table(parts[0])
    assert joined.to_pylist() == pq.read_table(inputs["parquet"]).to_pylist()
    assert (
        con.execute(f"SELECT count(*), sum(dport) FROM '{parts[0]}'").fetchone()
        == con.execute(f"SELECT count(*), sum(dport) FROM {source}").fetchone()
    )
    assert pq.ParquetFile(parts[0]).metadata.num_row_groups >= 3


def test_parquet_parts_of_another_schema_are_refused_untouched(tmp_path: Path) -> None:
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(pa.table({"x": pa.array([1, 2], pa.int64())}), first)
    pq.write_table(pa.table({"x": pa.array(["a", "b"])}), second)
    before = first.read_bytes(), second.read_bytes()
    with pytest.raises(parquetjoin.CannotJoin, match="another schema"):
        parquetjoin.join(str(first), [str(second)])
    assert (first.read_bytes(), second.read_bytes()) == before


@pytest.mark.parametrize("damage", [b"", b"PAR1", b"not parquet at all", b"PAR1" + b"\x00" * 20 + b"PAR1"])
def test_damaged_parquet_is_a_clear_error(damage: bytes, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": [1]}), good)
    bad.write_bytes(damage)
    with pytest.raises(DataError):
        parquetjoin.join(str(good), [str(bad)])
    with pytest.raises(DataError):
        parquetjoin.join(str(bad), [str(good)])


def test_footers_survive_decoding_and_encoding(inputs: dict[str, Path], tmp_path: Path) -> None:
    written = tmp_path / "pyarrow.parquet"
    pq.write_table(pq.read_table(inputs["parquet"]), written, row_group_size=10_000, write_statistics=True)
    for path in (inputs["parquet"], written):
        size = path.stat().st_size
        with path.open("rb") as handle:
            start, meta = parquetjoin._footer(handle, size, str(path))
            handle.seek(start)
            raw = handle.read(size - 8 - start)
        writer = parquetjoin._Writer()
        writer.struct(meta)
        assert bytes(writer.out) == raw


# -- added columns beside the input's ---------------------------------------------------------------------------


def test_widened_parquet_has_the_rows_of_the_plain_run(
    inputs: dict[str, Path], kb: KnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = parquetjoin.widen
    monkeypatch.setattr(parquetjoin, "widen", lambda *a: calls.append(a[0]) or real(*a))
    wide = tmp_path / "wide.parquet"
    stats = annotate_files([str(inputs["parquet"])], str(wide), "parquet", kb=kb, engine="duckdb")
    assert calls, "the added columns were not written beside the input's"
    one_query(monkeypatch)
    plain = tmp_path / "plain.parquet"
    plain_stats = annotate_files([str(inputs["parquet"])], str(plain), "parquet", kb=kb, engine="duckdb")
    assert rows_of(wide) == rows_of(plain)
    assert pq.read_schema(wide).names == pq.read_schema(plain).names
    assert (stats.rows, stats.identified) == (plain_stats.rows, plain_stats.identified)
    # the input's own column chunks are reused: their encodings and compression are the input's
    source_meta, wide_meta = pq.ParquetFile(inputs["parquet"]).metadata, pq.ParquetFile(wide).metadata
    assert wide_meta.row_group(0).column(0).compression == source_meta.row_group(0).column(0).compression


@pytest.mark.parametrize(
    "write",
    [
        {"row_group_size": 1000},  # row groups DuckDB cannot match (not whole vectors of 2,048)
        {"row_group_size": 4096},  # pyarrow's schema in the key-value metadata
    ],
)
def test_inputs_that_cannot_be_widened_take_the_plain_path(
    write: dict[str, int], inputs: dict[str, Path], kb: KnowledgeBase, tmp_path: Path
) -> None:
    source = tmp_path / "input.parquet"
    pq.write_table(pq.read_table(inputs["parquet"]).slice(0, 20_000), source, **write)  # type: ignore[arg-type]
    out = tmp_path / "out.parquet"
    stats = annotate_files([str(source)], str(out), "parquet", kb=kb, engine="duckdb")
    assert stats.rows == 20_000
    assert pq.read_table(out).column("uid").to_pylist() == pq.read_table(source).column("uid").to_pylist()


def test_a_broken_port_keeps_the_plain_path(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = tmp_path / "ports.parquet"
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT 'tcp' AS proto, 40000 AS sport, CASE WHEN i = 7 THEN 70000 ELSE 443 END AS dport "
        f"FROM range(5000) t(i)) TO '{source}' (FORMAT parquet, ROW_GROUP_SIZE 2048)"
    )
    out = tmp_path / "out.parquet"
    stats = annotate_files([str(source)], str(out), "parquet", kb=kb, engine="duckdb")
    assert stats.rows == 4999
    assert stats.files[0].bad == 1
    assert pq.read_table(out).num_rows == 4999
