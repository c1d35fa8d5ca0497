"""Annotating 10 M flows: anyport's DuckDB engine against plain copies and pandas/zat, in the same run.

Run: ``.venv/bin/python benchmarks/bench_annotate.py [--rows 10000000] [--dir /tmp/anyport-bench] [--runs 1]``

The flows come from ``benchmarks/gen_flows.py`` (deterministic; generated into ``--dir`` when missing) as
Parquet, CSV and a Zeek conn.log. Every measurement runs in a fresh process (so peak RSS is that job's own),
interleaved, best of ``--runs``:

- ``copy``: DuckDB reading the file and writing it back unchanged in the same format (``COPY (SELECT *) TO``
  with DuckDB's defaults: snappy for Parquet), Zeek TSV read with the same options anyport uses and written as
  CSV - the floor for any annotation;
- ``anyport``: ``anyport.traffic.annotate.annotate_files(..., engine="duckdb")`` into the same format, and from
  CSV and Zeek TSV into Parquet (the port table already cached, as after the first run), rows in input order
  (the default), and the same with ``ordered=False`` (``--any-order``, cases ending in ``-any-order``);
- ``anyport-*-to-arrow``: the same into an Arrow IPC file (``-o x.arrow``, uncompressed);
- ``memory``: ``anyport.traffic.frames.read_annotated`` - the flows annotated into a ``pyarrow.Table`` in
  memory, nothing written (``memory-csv-pandas``: and made a pandas DataFrame with ``to_pandas()``);
- ``pandas``: ``pandas.read_csv`` + ``merge`` with the dense port table on (proto, dport) (no write) - when
  pandas is installed (part of the dev set-up); ``pandas-to-parquet`` also writes the result (``to_parquet``),
  which is the work anyport does;
- ``zat``: loading the conn.log with zat's pandas reader (``LogToDataFrame``) - when zat is installed.

Targets (issue: traffic annotation): Parquet at >= 0.8x the copy's speed with peak RSS <= 1 GB; CSV and Zeek
TSV within 1.5x of their copy; >= 2x faster than pandas; >= 10x faster than zat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(case: str, path: str, out: str) -> None:
    """Run one measurement in this process and print {"seconds", "rss_mb"} as JSON."""
    started = time.perf_counter()
    if case.startswith("copy-"):
        import duckdb

        from anyport.traffic.columnar import source_sql

        kind = case.removeprefix("copy-")
        con = duckdb.connect()
        source = f"read_parquet('{path}')" if kind == "parquet" else source_sql([path], kind)
        options = "FORMAT parquet" if kind == "parquet" else "FORMAT csv, HEADER true"
        con.execute(f"COPY (SELECT * FROM {source}) TO '{out}' ({options})")
    elif case.startswith("anyport-"):
        from anyport.traffic.annotate import annotate_files

        ordered = not case.endswith(ANY_ORDER)
        annotate_files([path], out, out.rsplit(".", 1)[1], engine="duckdb", ordered=ordered)
    elif case.startswith("memory-"):  # annotated into an Arrow table in memory, nothing written
        from anyport.traffic.frames import read_annotated

        table, _ = read_annotated(path)
        if case.endswith("-pandas"):
            frame = table.to_pandas()
            assert len(frame) == table.num_rows
    elif case in ("pandas", "pandas-to-parquet"):
        import pandas

        from anyport.traffic.annotate import _table

        dense = pandas.DataFrame(_table(None).dense_columns())
        dense = dense.rename(columns={"transport": "proto", "port": "dport"})
        flows = pandas.read_csv(path)
        merged = flows.merge(dense, on=["proto", "dport"], how="left")
        assert len(merged) == len(flows)
        if case == "pandas-to-parquet":  # the same work as anyport's: the result written out
            merged.to_parquet(out)
    elif case == "zat":
        from zat.log_to_dataframe import LogToDataFrame

        frame = LogToDataFrame().create_dataframe(path)
        assert len(frame) > 0
    else:
        raise SystemExit(f"unknown case {case}")
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss}))


ANY_ORDER = "-any-order"


def output_of(case: str) -> str:
    case = case.removesuffix(ANY_ORDER)
    return "parquet" if case.endswith("parquet") else "arrow" if case.endswith("arrow") else "csv"


def measure(case: str, path: Path, out: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", case, str(path), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{case} failed:\n{done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/anyport-bench"))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        help="leave out a case (pandas, zat, csv, zeek, arrow, memory, any-order)",
    )
    parser.add_argument("--only", action="append", default=[], help="run only this case (repeat for more)")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from gen_flows import ensure

    from anyport.traffic.annotate import _table

    files = {fmt: ensure(args.dir, args.rows, fmt) for fmt in ("parquet", "csv", "zeek")}
    _table(None)  # build and cache the port table outside the timings

    cases: list[tuple[str, str]] = [("copy-parquet", "parquet"), ("anyport-parquet", "parquet")]
    if "csv" not in args.skip:
        cases += [("copy-csv", "csv"), ("anyport-csv", "csv"), ("anyport-csv-to-parquet", "csv")]
    if "zeek" not in args.skip:
        cases += [("copy-zeek", "zeek"), ("anyport-zeek", "zeek"), ("anyport-zeek-to-parquet", "zeek")]
    if "arrow" not in args.skip:  # Arrow IPC out: no join, always in input order (no --any-order variant)
        cases += [("anyport-parquet-to-arrow", "parquet")]
        cases += [("anyport-csv-to-arrow", "csv")] if "csv" not in args.skip else []
        cases += [("anyport-zeek-to-arrow", "zeek")] if "zeek" not in args.skip else []
    if "any-order" not in args.skip:  # the same with --any-order
        cases += [(case + ANY_ORDER, fmt) for case, fmt in cases if case.startswith("anyport-") and "arrow" not in case]
    if "memory" not in args.skip:
        cases += [("memory-csv", "csv"), ("memory-zeek", "zeek")]
    if "pandas" not in args.skip and available("pandas"):
        cases += [("memory-csv-pandas", "csv"), ("pandas", "csv"), ("pandas-to-parquet", "csv")]
    if "zat" not in args.skip and available("zat"):
        cases.append(("zat", "zeek"))
    if args.only:
        cases = [(case, fmt) for case, fmt in cases if case in args.only]
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.runs):
        for case, fmt in cases:
            out = args.dir / f"out-{case}.{output_of(case)}"
            result = measure(case, files[fmt], out)
            if case not in best or result["seconds"] < best[case]["seconds"]:
                best[case] = result
            if out.exists():
                out.unlink()
    load = os.getloadavg()
    print(f"\n{args.rows:,} flows, best of {args.runs}; {os.cpu_count()} cores; load average {load[0]:.2f}")
    for case, result in best.items():
        print(f"  {case:<34} {result['seconds']:8.2f} s   peak RSS {result['rss_mb']:7.0f} MB")
    print()

    def ratio(name: str, num: str, den: str, target: str) -> None:
        if num in best and den in best:
            print(f"  {name:<52} {best[num]['seconds'] / best[den]['seconds']:6.2f}x   (target {target})")

    for suffix, label in (("", "in input order (default)"), (ANY_ORDER, "with --any-order")):
        if f"anyport-parquet{suffix}" not in best:
            continue
        print(f"  {label}:")
        ratio(
            "parquet: speed vs plain copy (copy s / anyport s)", "copy-parquet", f"anyport-parquet{suffix}", ">= 0.80x"
        )
        ratio("csv: time vs plain copy (anyport s / copy s)", f"anyport-csv{suffix}", "copy-csv", "<= 1.50x")
        ratio("zeek tsv: time vs plain copy (anyport s / copy s)", f"anyport-zeek{suffix}", "copy-zeek", "<= 1.50x")
        ratio("csv: pandas read_csv+merge s / anyport csv->csv s", "pandas", f"anyport-csv{suffix}", ">= 2x")
        ratio(
            "csv: pandas ...+to_parquet s / anyport csv->parquet s",
            "pandas-to-parquet",
            f"anyport-csv-to-parquet{suffix}",
            "(the same work)",
        )
        ratio(
            "csv: pandas read_csv+merge s / anyport csv->parquet s",
            "pandas",
            f"anyport-csv-to-parquet{suffix}",
            ">= 2x",
        )
        ratio("zeek: zat LogToDataFrame s / anyport zeek->csv s", "zat", f"anyport-zeek{suffix}", ">= 10x")
        ratio(
            "zeek: zat LogToDataFrame s / anyport zeek->parquet s", "zat", f"anyport-zeek-to-parquet{suffix}", ">= 10x"
        )
    print("  into an Arrow IPC file (uncompressed, rows in input order):")
    ratio("csv: pandas read_csv+merge s / anyport csv->arrow s", "pandas", "anyport-csv-to-arrow", ">= 2x")
    ratio("zeek: zat LogToDataFrame s / anyport zeek->arrow s", "zat", "anyport-zeek-to-arrow", ">= 10x")
    ratio(
        "parquet: speed vs plain copy (copy s / anyport ->arrow s)",
        "copy-parquet",
        "anyport-parquet-to-arrow",
        "(context)",
    )
    print("  in memory (nothing written, as pandas and zat):")
    ratio("csv: pandas read_csv+merge s / anyport read_annotated s", "pandas", "memory-csv", ">= 2x")
    ratio("csv: pandas read_csv+merge s / read_annotated+to_pandas s", "pandas", "memory-csv-pandas", "(a DataFrame)")
    ratio("zeek: zat LogToDataFrame s / anyport read_annotated s", "zat", "memory-zeek", ">= 10x")
    if "anyport-parquet" in best:
        rss = best["anyport-parquet"]["rss_mb"]
        print(f"  {'parquet: peak RSS of anyport':<52} {rss:6.0f} MB (target <= 1024 MB)")


if __name__ == "__main__":
    main()
