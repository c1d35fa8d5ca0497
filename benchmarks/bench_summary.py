"""`anyport summary` of 10 M flows: the DuckDB engine against the Python engine, in the same run.

Run: ``.venv/bin/python benchmarks/bench_summary.py [--rows 10000000] [--dir /tmp/anyport-bench] [--kind zeek]``

Each engine summarizes the same generated file (``benchmarks/gen_flows.py``; generated when missing) in a fresh
process, imports included; the script checks that both summaries are the same (apart from the per-file read
statistics) and prints the time of each, their peak RSS and the ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(engine: str, path: str, out: str) -> None:
    from anyport.traffic.annotate import summary_files

    started = time.perf_counter()
    summary = summary_files([path], engine=engine)
    seconds = time.perf_counter() - started
    summary.pop("files")
    Path(out).write_text(json.dumps(summary, sort_keys=True), "utf-8")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/anyport-bench"))
    parser.add_argument("--kind", choices=("zeek", "csv"), default="zeek")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from gen_flows import ensure

    path = ensure(args.dir, args.rows, args.kind)
    results = {}
    for engine in ("python", "duckdb"):
        out = args.dir / f"summary-{engine}.json"
        done = subprocess.run(
            [sys.executable, __file__, "--child", engine, str(path), str(out)], capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"{engine} failed:\n{done.stderr[-2000:]}")
        results[engine] = json.loads(done.stdout.strip().splitlines()[-1])
        results[engine]["summary"] = out.read_text("utf-8")
    same = results["python"]["summary"] == results["duckdb"]["summary"]
    print(f"\n{args.rows:,} flows ({args.kind}); the same summary from both engines: {same}")
    for engine in ("python", "duckdb"):
        print(f"  {engine:<8} {results[engine]['seconds']:8.2f} s   peak RSS {results[engine]['rss_mb']:7.0f} MB")
    ratio = results["python"]["seconds"] / results["duckdb"]["seconds"]
    print(f"  duckdb engine vs python engine: {ratio:.1f}x faster")
    if not same:
        raise SystemExit("the summaries differ")


if __name__ == "__main__":
    main()
