"""Throughput and latency of the JSON API, and the render time of the services page, over loopback.

Run: ``.venv/bin/python benchmarks/bench_web.py [--workers 2] [--connections 64] [--duration 30]``.

Starts ``anyport serve`` on 127.0.0.1 on a free port with the given number of workers (a fresh index cache in a
temporary directory), waits for /api/v1/health, warms every worker up, then loads
``/api/v1/lookup?q=443`` with ``wrk`` (Debian package ``wrk``) for the given time and connections, and reports
requests/s, p50/p99 latency and errors (socket errors plus non-200 answers). Without wrk, a Python load generator
with the same semantics runs instead (persistent HTTP/1.1 connections, each sending its next request as soon as
the answer is read; every answer's status and length checked); its figures are lower, since it shares the two
cores with the server and is much slower than wrk. ``--spread`` adds a run in which every request asks another
port (0-65535 in turn), so most answers are computed, not cached. Then ``GET /services`` (the full services table
page) is timed sequentially: median of ``--pages`` requests after three unmeasured ones.

Target on the 2-core reference machine: at least 2,000 requests/s with p99 at most 20 ms and no errors.
Only loopback traffic; every run is bounded (at most 120 s each); the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

HOST = "127.0.0.1"
PATH = "/api/v1/lookup?q=443"
MAX_DURATION = 120
SPREAD_LABEL = "/api/v1/lookup?q=<0-65535 in turn>"
TARGET_RPS = 2000
TARGET_P99_MS = 20.0
SPREAD_LUA = """
local threads = 0
function setup(thread)
  thread:set("first", threads * 32768)
  threads = threads + 1
end
function init(args)
  n = first
end
function request()
  n = (n + 1) % 65536
  return wrk.format("GET", "/api/v1/lookup?q=" .. n)
end
"""


@dataclass
class Load:
    path: str
    generator: str
    connections: int
    seconds: float
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    detail: dict[str, int] = field(default_factory=dict)


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    con = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        con.request("GET", path)
        response = con.getresponse()
        return response.status, response.read()
    finally:
        con.close()


@contextlib.contextmanager
def server(workers: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``anyport serve`` in its own process group (uvicorn's workers are its children), stopped on exit."""
    cache = tempfile.mkdtemp(prefix="anyport-bench-web-")
    env = dict(os.environ, ANYPORT_CACHE_DIR=cache)
    cmd = [sys.executable, "-m", "anyport", "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise SystemExit(f"bench_web: the server exited with {proc.returncode}: {err.strip()}")
            with contextlib.suppress(OSError):
                if get(port, "/api/v1/health", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("bench_web: the server did not answer /api/v1/health within 120 s")
            time.sleep(0.2)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        if proc.stderr:
            proc.stderr.close()
        shutil.rmtree(cache, ignore_errors=True)


# --- wrk ---------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"cannot read the wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, load: Load) -> Load:
    """Requests/s, percentiles and errors from ``wrk --latency`` output."""
    load.rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    load.requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    load.p50_ms = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    load.p99_ms = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for name, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups(), strict=True):
            load.detail[name] = int(value)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    load.detail["non-2xx/3xx"] = int(bad.group(1)) if bad else 0
    load.errors = sum(load.detail.values())
    return load


def run_wrk(wrk: str, port: int, path: str, connections: int, seconds: int, threads: int, lua: str = "") -> Load:
    cmd = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency"]
    script = None
    if lua:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - removed below
        script.write(lua)
        script.close()
        cmd += ["-s", script.name]
    try:
        result = subprocess.run(
            [*cmd, f"http://{HOST}:{port}{path}"], capture_output=True, text=True, timeout=seconds + 60, check=True
        )
    finally:
        if script:
            os.unlink(script.name)
    return parse_wrk(result.stdout, Load(path, "wrk " + " ".join(cmd[1:4]), connections, seconds))


# --- the Python load generator (when wrk is missing) --------------------------------------------------------------


async def _client(port: int, paths: list[str], stop: float, latencies: list[float], errors: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    index = 0
    try:
        while time.perf_counter() < stop:
            path = paths[index % len(paths)]
            index += 1
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            if length is None:
                errors["no content-length"] = errors.get("no content-length", 0) + 1
                return
            await reader.readexactly(int(length.group(1)))
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors[f"status {status}"] = errors.get(f"status {status}", 0) + 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def run_python(port: int, paths: list[str], connections: int, seconds: int) -> Load:
    latencies: list[float] = []
    errors: dict[str, int] = {}

    async def main() -> float:
        started = time.perf_counter()
        stop = started + seconds
        offsets = [
            paths[i * len(paths) // connections :] + paths[: i * len(paths) // connections] for i in range(connections)
        ]
        await asyncio.gather(*(_client(port, offsets[i], stop, latencies, errors) for i in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    load = Load(paths[0] if len(paths) == 1 else SPREAD_LABEL, "python", connections, seconds)
    load.requests = len(latencies)
    load.rps = len(latencies) / elapsed
    if latencies:
        ordered = sorted(latencies)
        load.p50_ms = ordered[len(ordered) // 2] * 1000
        load.p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    load.detail = errors
    load.errors = sum(errors.values())
    return load


# --- the page -----------------------------------------------------------------------------------------------------


def time_page(port: int, path: str, runs: int) -> dict[str, object]:
    status, body = get(port, path)
    if status != 200:
        return {"path": path, "status": status, "note": "not measured: the page did not answer 200"}
    for _ in range(2):
        get(port, path)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        status, body = get(port, path)
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            return {"path": path, "status": status, "note": "a measured request did not answer 200"}
    return {
        "path": path,
        "status": 200,
        "runs": runs,
        "bytes": len(body),
        "median_ms": round(statistics.median(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def describe(load: Load) -> str:
    errors = ", ".join(f"{k} {v}" for k, v in load.detail.items() if v) or "none"
    return (
        f"{load.path}  [{load.generator}, {load.connections} connections, {load.seconds} s]\n"
        f"  requests/s {load.rps:10.0f}   requests {load.requests}\n"
        f"  latency    p50 {load.p50_ms:6.2f} ms   p99 {load.p99_ms:6.2f} ms\n"
        f"  errors     {load.errors} ({errors})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=30, help=f"seconds of load per run (at most {MAX_DURATION})")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pages", type=int, default=20, help="timed requests of /services")
    parser.add_argument("--spread", action="store_true", help="also load with a different port in every request")
    parser.add_argument("--python", action="store_true", help="use the Python load generator even if wrk is there")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not 1 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration must be 1-{MAX_DURATION}")
    if not 1 <= args.connections <= 1024:
        parser.error("--connections must be 1-1024")

    wrk = None if args.python else shutil.which("wrk")
    port = free_port()
    spread_paths = [f"/api/v1/lookup?q={n}" for n in range(65536)]
    report: dict[str, object] = {
        "machine": f"{os.cpu_count()} cores, {cpu_model()}",
        "python": platform.python_version(),
        "workers": args.workers,
    }
    with server(args.workers, port):
        # Warm up: every worker computes and caches the answer once, and loads its templates.
        if wrk:
            run_wrk(wrk, port, PATH, args.connections, 2, args.threads)
        else:
            run_python(port, [PATH], args.connections, 2)
        loads = []
        if wrk:
            loads.append(run_wrk(wrk, port, PATH, args.connections, args.duration, args.threads))
            if args.spread:
                loads.append(run_wrk(wrk, port, "/", args.connections, args.duration, args.threads, SPREAD_LUA))
                loads[-1].path = SPREAD_LABEL
        else:
            loads.append(run_python(port, [PATH], args.connections, args.duration))
            if args.spread:
                loads.append(run_python(port, spread_paths, args.connections, args.duration))
        page = time_page(port, "/services", args.pages)
    main_load = loads[0]
    met = main_load.rps >= TARGET_RPS and main_load.p99_ms <= TARGET_P99_MS and main_load.errors == 0
    report["loads"] = [asdict(load) for load in loads]
    report["page"] = page
    report["target"] = (
        f">= {TARGET_RPS} requests/s, p99 <= {TARGET_P99_MS:g} ms, no errors: {'met' if met else 'NOT met'}"
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{report['machine']}; python {report['python']}; anyport serve --workers {args.workers}")
        for load in loads:
            print(describe(load))
        if page.get("status") == 200:
            print(
                f"GET /services (full table page, {page['bytes']} bytes): median {page['median_ms']} ms of {page['runs']}, max {page['max_ms']} ms"
            )
        else:
            print(f"GET /services: {page.get('note')} (status {page.get('status')})")
        print(f"target on {PATH}: {report['target']}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
