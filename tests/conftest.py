"""Shared fixtures: every test runs against a private cache and config directory, never the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anyport.query.kb import KnowledgeBase
from anyport.traffic.porttable import PortTable, load_or_build

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(scope="session", autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Keep the user's own services, cache and nmap out of the tests."""
    patch = pytest.MonkeyPatch()
    values = {
        "ANYPORT_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "ANYPORT_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "XDG_CONFIG_HOME": str(tmp_path_factory.mktemp("config")),
        "ANYPORT_NMAP_SERVICES": "/nonexistent/nmap-services",
    }
    for key, value in values.items():
        patch.setenv(key, value)
    patch.delenv("ANYPORT_PATH", raising=False)
    patch.delenv("ANYPORT_CATALOG_DIR", raising=False)
    yield values
    patch.undo()


@pytest.fixture(scope="session")
def kb(isolated_env: dict[str, str]) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase.open()
    yield base
    base.close()


HOSTILE = TESTS / "data" / "hostile.yaml"


@pytest.fixture(scope="session")
def kb_hostile(isolated_env: dict[str, str]) -> Iterator[KnowledgeBase]:
    """The knowledge base plus a local service whose texts try to break every output format (tests/data/hostile.yaml)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("ANYPORT_PATH", str(HOSTILE))
    try:
        base = KnowledgeBase.open()  # the index is built with the file; the variable is not needed afterwards
    finally:
        patch.undo()
    yield base
    base.close()


@pytest.fixture(scope="session")
def table(kb: KnowledgeBase) -> PortTable:
    """The port table of the shipped knowledge base."""
    return load_or_build(kb)


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3,000 synthetic flows (a quarter with the server as the source) as CSV, Parquet and Zeek TSV."""
    return flow_files(tmp_path_factory.mktemp("flows"), 3000)


@pytest.fixture(scope="session")
def large(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """300,000 synthetic flows: several read buffers and row groups, so DuckDB splits the scan between threads."""
    return flow_files(tmp_path_factory.mktemp("large"), 300_000)


def flow_files(base: Path, rows: int) -> dict[str, Path]:
    """``rows`` synthetic flows (benchmarks/gen_flows.py: a quarter with the server as the source) written into
    ``base`` as CSV, Parquet and a Zeek conn.log, by kind."""
    benchmarks = str(Path(__file__).resolve().parent.parent / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from gen_flows import generate

    files = {}
    for kind in ("csv", "parquet", "zeek"):
        files[kind] = base / f"flows.{kind}"
        generate(files[kind], rows, kind)
    return files


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m anyport ARGS`` the way a user would, with the test environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "anyport", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Compare text with ``tests/golden/NAME``; ``--update-golden`` rewrites it, a mismatch writes NAME.actual."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        actual = path.with_name(path.name + ".actual")
        if request.config.getoption("--update-golden"):
            path.write_text(text, "utf-8")
            actual.unlink(missing_ok=True)
            return
        if not path.exists():
            actual.write_text(text, "utf-8")
            pytest.fail(f"no golden file {path}; run 'make golden' (pytest --update-golden) to create it")
        expected = path.read_text("utf-8")
        if text != expected:
            actual.write_text(text, "utf-8")
            pytest.fail(f"output differs from {path}; see {actual} (regenerate with 'make golden')")
        actual.unlink(missing_ok=True)

    return check


# -- Chromium through Playwright (the web page and the HTML report) --------------------------------------------

CHROMIUM = os.environ.get("ANYPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; the tests using it skip (saying why) where it cannot start."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    manager = sync_api.sync_playwright().start()
    try:
        try:
            launched = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60000)
        except Exception as exc:  # any launch failure means this machine cannot run the browser tests
            pytest.skip(f"Chromium cannot start here: {str(exc).splitlines()[0]}")
        yield launched
        launched.close()
    finally:
        manager.stop()
