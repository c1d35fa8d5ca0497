"""`anyport learn` of 10 M flows: the DuckDB engine against the Python engine, in the same run.

Run: ``.venv/bin/python benchmarks/bench_learn.py [--rows 10000000] [--clients 2000] [--dir /tmp/anyport-bench]``

Each engine reads the same generated Zeek conn.log (``benchmarks/gen_flows.py``; generated when missing) in a
fresh process, imports included, and proposes rules for the servers in 192.0.2.0/24 (``--local``). The script
checks that both proposals are the same (apart from the per-file read statistics) and prints the time of each,
their peak RSS and the ratio. The DuckDB engine then reads the same flows as Parquet, which only it reads.

``--clients`` is how many client addresses make the flows: a site's clients come back, and the proposal keeps
each one (or its /24). ``--clients 0`` gives nearly every flow its own client, the worst case for both engines.
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
LOCAL = "192.0.2.0/24"


def child(engine: str, path: str, out: str) -> None:
    from anyport.traffic.learn import learn_files

    started = time.perf_counter()
    result = learn_files([path], engine=engine, local=[LOCAL])
    seconds = time.perf_counter() - started
    data = result.to_dict()
    data.pop("files")
    Path(out).write_text(json.dumps(data, sort_keys=True), "utf-8")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "proposals": len(result.proposals)}))


def run(engine: str, path: Path, out: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(path), str(out)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{engine} failed on {path}:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["proposal"] = out.read_text("utf-8")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/anyport-bench"))
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "INPUT", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from gen_flows import ensure

    zeek = ensure(args.dir, args.rows, "zeek", args.clients)
    results = {engine: run(engine, zeek, args.dir / f"learn-{engine}.json") for engine in ("python", "duckdb")}
    same = results["python"]["proposal"] == results["duckdb"]["proposal"]
    clients = f"{args.clients:,} clients" if args.clients else "a client per flow"
    print(f"\n{args.rows:,} flows (zeek, {clients}); the same proposal from both engines: {same}")
    for engine, result in results.items():
        print(
            f"  {engine:<8} {result['seconds']:8.2f} s   peak RSS {result['rss_mb']:7.0f} MB   "
            f"{result['proposals']:,} ports proposed"
        )
    ratio = float(results["python"]["seconds"]) / float(results["duckdb"]["seconds"])  # type: ignore[arg-type]
    print(f"  duckdb engine vs python engine: {ratio:.1f}x faster")
    parquet = ensure(args.dir, args.rows, "parquet", args.clients)
    alone = run("duckdb", parquet, args.dir / "learn-parquet.json")
    print(f"  duckdb on the same flows as Parquet: {alone['seconds']:.2f} s   peak RSS {alone['rss_mb']:.0f} MB")
    if not same:
        raise SystemExit("the proposals differ")


if __name__ == "__main__":
    main()
