"""Cold start of ``anyport lookup 443 --json`` against a bare interpreter, plus the index build time.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_lookup.py [--runs N]``).

Both commands run as new processes in the same loop, interleaved, so machine load affects them alike; the
figure is the ratio of medians. Target: at most 3x the bare interpreter. The package's bytecode is compiled
first (as a pip install does), and the index is warm (built once before timing; its build is timed separately).
whatportis is timed too when it is installed.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyport

BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    compileall.compile_dir(str(Path(anyport.__file__).parent), quiet=1)
    cache = tempfile.mkdtemp(prefix="anyport-bench-")
    env = dict(os.environ, ANYPORT_CACHE_DIR=cache)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        build = timed([str(BIN / "anyport"), "lookup", "443", "--json"], env)  # cold cache: builds the index
        rebuilds = []
        for _ in range(3):
            for name in os.listdir(cache):
                os.unlink(os.path.join(cache, name))
            rebuilds.append(timed([str(BIN / "anyport"), "lookup", "443", "--json"], env))

        commands = {
            "python -c pass (baseline)": [sys.executable, "-c", "pass"],
            "anyport lookup 443 --json": [str(BIN / "anyport"), "lookup", "443", "--json"],
        }
        whatportis = shutil.which("whatportis")
        if whatportis:
            commands["whatportis 443"] = [whatportis, "443"]
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                samples[name].append(timed(cmd, env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    base = statistics.median(samples["python -c pass (baseline)"])
    print(f"runs: {args.runs} each, interleaved; python {sys.version.split()[0]}; {os.cpu_count()} cores")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<30} median {median * 1000:7.1f} ms   ratio {median / base:5.2f}x")
    print(f"{'first run (builds the index)':<30} {build * 1000:7.0f} ms")
    print(f"{'index rebuild, median of 3':<30} {statistics.median(rebuilds) * 1000:7.0f} ms")
    ratio = statistics.median(samples["anyport lookup 443 --json"]) / base
    print(f"target: anyport <= 3.0x the bare interpreter: {'met' if ratio <= 3.0 else 'NOT met'} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
