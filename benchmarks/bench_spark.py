"""anyport.spark.annotate against a plain Spark broadcast join, on the same flows, in the same session.

Run: ``.venv/bin/python benchmarks/bench_spark.py [--rows 10000000] [--flows FILE.parquet] [--master local[2]]``

The flows come from ``benchmarks/gen_flows.py`` (deterministic, 10 M rows by default, a quarter with the server
as the source) unless ``--flows`` gives a Parquet file. In one Spark session the script times:

* session start-up (``getOrCreate``), reported on its own;
* anyport's table frames (the dense port table made into two cached Spark DataFrames, once per session);
* the baseline: the flows left-joined to a dense (transport, port) table on (proto, dport), broadcast, written
  to Parquet; it reads ``dport`` only, so it answers wrongly for swapped flows;
* ``anyport.spark.annotate`` (both ports, the service-side rule, added columns) written to Parquet.

The baseline and anyport runs alternate ``--repeat`` times; the figure is the ratio of the best runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--flows", type=Path, help="an existing Parquet flow table (sport, dport, proto)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="anyport-bench-spark-"))
    try:
        return run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    print(f"before: {load()}")
    flows = args.flows
    if flows is None:
        sys.path.insert(0, str(HERE))
        from gen_flows import generate

        flows = work / "flows.parquet"
        seconds = generate(flows, args.rows, "parquet")
        print(f"generated {args.rows:,} flows ({flows.stat().st_size / 1e6:.0f} MB Parquet) in {seconds:.1f}s")

    from anyport import spark as anyport_spark
    from anyport.api import knowledge_base
    from anyport.traffic.porttable import load_or_build

    started = time.perf_counter()
    table = load_or_build(knowledge_base())
    print(f"port table loaded in {time.perf_counter() - started:.2f}s")

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    started = time.perf_counter()
    spark = (
        SparkSession.builder.master(args.master)
        .appName("anyport bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    startup = time.perf_counter() - started
    print(f"Spark session start-up ({args.master}): {startup:.2f}s")

    started = time.perf_counter()
    anyport_spark.table_frames(spark, table)  # what the first annotate() of a session pays once
    print(f"anyport table frames (once per session): {time.perf_counter() - started:.2f}s")

    dense = table.dense_columns()
    keep = ("transport", "port", "service", "alternatives", "confidence", "risk")
    import importlib

    pa = importlib.import_module("pyarrow")
    baseline_table = spark.createDataFrame(pa.table({name: dense[name] for name in keep})).cache()
    baseline_table.count()

    source = spark.read.parquet(str(flows))
    rows = source.count()

    def baseline(out: Path) -> None:
        joined = source.join(
            F.broadcast(baseline_table),
            (source["proto"] == baseline_table["transport"]) & (source["dport"] == baseline_table["port"]),
            "left",
        ).drop("transport", "port")
        joined.write.parquet(str(out))

    def anyport(out: Path) -> None:
        anyport_spark.annotate(source, table=table).write.parquet(str(out))

    best: dict[str, float] = {}
    for number in range(args.repeat):
        for name, job in (("baseline broadcast join", baseline), ("anyport spark.annotate", anyport)):
            out = work / f"{name.split()[0]}-{number}.parquet"
            started = time.perf_counter()
            job(out)
            seconds = time.perf_counter() - started
            print(f"{name}: {seconds:.2f}s ({rows / seconds / 1e6:.2f} M flows/s)")
            best[name] = min(best.get(name, seconds), seconds)
            shutil.rmtree(out, ignore_errors=True)
    spark.stop()
    ratio = best["anyport spark.annotate"] / best["baseline broadcast join"]
    print(
        f"{rows:,} flows on {args.master}: anyport {best['anyport spark.annotate']:.2f}s, "
        f"baseline {best['baseline broadcast join']:.2f}s, ratio anyport/baseline {ratio:.2f} "
        f"(session start-up {startup:.2f}s, not included)"
    )
    print(f"after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
