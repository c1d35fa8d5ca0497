"""`anyport update` and `anyport diff` against a loopback HTTP server serving real registry files.

The candidate files are the shipped IANA CSVs with the patches in tests/data/update/ applied (a new assignment on
48620, a changed and a removed one). Every failed update must leave the data in use answering exactly as before.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from anyport import __version__, datafiles
from anyport.errors import UpdateError
from anyport.registries import IANA_COLUMNS
from anyport.update import userdata
from anyport.update.fetch import fetch
from anyport.update.verify import PROTOCOL_COLUMNS
from conftest import run_cli

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "data" / "update"
NEW_PORT = "48620/tcp"


# -- candidate files ------------------------------------------------------------------------------------------------


def _patched(shipped: str, patch: Path, columns: tuple[str, ...], key_columns: tuple[str, ...], number: str) -> bytes:
    with open(shipped, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    with patch.open(newline="", encoding="utf-8") as handle:
        changes = list(csv.DictReader(handle))
    keys = [columns.index(c) for c in key_columns]
    at_number = columns.index(number)

    def key(row: list[str]) -> tuple[str, ...]:
        return tuple(row[i] for i in keys)

    for change in changes:
        row = [change[c] for c in columns]
        found = [i for i, old in enumerate(rows) if key(old) == key(row)]
        if change["Action"] == "add":
            assert not found, row
            start = int(row[at_number].partition("-")[0])
            at = next(
                i for i, old in enumerate(rows) if old[at_number] and int(old[at_number].partition("-")[0]) > start
            )
            rows.insert(at, row)
        else:
            assert len(found) == 1, row
            if change["Action"] == "change":
                rows[found[0]] = row
            else:
                del rows[found[0]]
    return _csv([list(columns), *rows])


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every candidate file, written once for the module."""
    directory = tmp_path_factory.mktemp("candidates")
    good = _patched(
        datafiles.IANA_SERVICES_CSV,
        FIXTURES / "services-patch.csv",
        IANA_COLUMNS,
        ("Service Name", "Port Number", "Transport Protocol"),
        "Port Number",
    )
    rows = list(csv.reader(io.StringIO(good.decode(), newline="")))
    content = {
        "good.csv": good,
        "good.csv.gz": gzip.compress(good, mtime=0),
        "protocols.csv": _patched(
            datafiles.IANA_PROTOCOLS_CSV, FIXTURES / "protocols-patch.csv", PROTOCOL_COLUMNS, ("Decimal",), "Decimal"
        ),
        # cut in the middle of a row, and cut at a line break (then only the record count gives it away)
        "truncated-mid.csv": good[: len(good) * 6 // 10 // 1000 * 1000 + 7],
        "truncated-line.csv": _csv(rows[: len(rows) * 6 // 10]),
        "wrong-columns.csv": good.replace(b"Port Number", b"Port", 1),
        # every 30th record gone: about 3 % fewer, over the 2 % limit
        "shrunk.csv": _csv([row for i, row in enumerate(rows) if i == 0 or i % 30]),
        "binary.csv": bytes(range(256)) * 100,
        "tiny.csv": _csv(rows[:200]),
        "no-http.csv": _csv([row for row in rows if row[:3] != ["http", "80", "tcp"]]),
        "error-page.html": (FIXTURES / "error-page.html").read_bytes(),
        "shipped.csv": Path(datafiles.IANA_SERVICES_CSV).read_bytes(),
    }
    for name, data in content.items():
        (directory / name).write_bytes(data)
    return {name: directory / name for name in content}


# -- the loopback server --------------------------------------------------------------------------------------------


class Server:
    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self.release = threading.Event()  # lets stalled responses finish at teardown
        self.half_sent = threading.Event()
        self.user_agents: list[str] = []
        self.conditions: list[str] = []  # If-None-Match of each request for /etag.csv
        self.url = ""

    def data(self, name: str) -> bytes:
        return self.files[name].read_bytes()


def _handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return None

        def send(self, status: int, body: bytes, content_type: str = "text/csv", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", headers.pop("length", str(len(body))))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            server.user_agents.append(self.headers.get("User-Agent", ""))
            path = self.path
            good = server.data("good.csv")
            if path in ("/good.csv", "/protocols.csv", "/truncated-mid.csv", "/wrong-columns.csv", "/shrunk.csv"):
                self.send(200, server.data(path[1:]), Last_Modified="Fri, 20 Nov 2026 10:00:00 GMT", ETag='"v2"')
            elif path == "/etag.csv":
                server.conditions.append(self.headers.get("If-None-Match", ""))
                if self.headers.get("If-None-Match") == '"v2"':
                    self.send(304, b"", ETag='"v2"')
                else:
                    self.send(200, good, ETag='"v2"')
            elif path == "/truncated-line.csv":
                self.send(200, server.data("truncated-line.csv"))
            elif path == "/gzip-encoded.csv":
                self.send(200, gzip.compress(good), Content_Encoding="gzip")
            elif path == "/good.csv.gz":
                self.send(200, server.data("good.csv.gz"), "application/gzip")
            elif path == "/html-200":
                self.send(200, server.data("error-page.html"), "text/html; charset=utf-8")
            elif path == "/html-as-csv":
                self.send(200, server.data("error-page.html"), "text/csv")
            elif path == "/html-500":
                self.send(500, server.data("error-page.html"), "text/html")
            elif path == "/redirect":
                self.send(302, b"", Location="/good.csv")
            elif path.startswith("/loop"):
                self.send(302, b"", Location=f"/loop{len(path)}")
            elif path == "/cut-short":
                self.send(200, good[:1000], length=str(len(good)))
            elif path == "/huge":
                self.send(200, b"", length=str(10**10))
            elif path == "/stall":
                self.send(200, good[:5000], length=str(len(good)))
                self.wfile.flush()
                server.release.wait(20)
            elif path == "/stall-half":
                self.send(200, good[: len(good) // 2], length=str(len(good)))
                self.wfile.flush()
                server.half_sent.set()
                server.release.wait(20)
            elif path == "/trickle":
                self.send(200, good[:10], length=str(len(good)))
                for byte in good[10:400]:
                    if server.release.wait(0.05):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
            else:
                self.send(404, b"not found", "text/plain")

    return Handler


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return None  # clients that give up (timeouts, killed updates) are part of the tests


@pytest.fixture(scope="module")
def server(files: dict[str, Path]) -> Iterator[Server]:
    state = Server(files)
    httpd = _Quiet(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


# -- running anyport ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index cache holding only the index of the shipped data."""
    directory = tmp_path_factory.mktemp("shipped-cache")
    full = dict(os.environ, ANYPORT_CACHE_DIR=str(directory), ANYPORT_DATA_DIR=str(directory / "no-data"))
    subprocess.run([sys.executable, "-m", "anyport", "443"], capture_output=True, env=full, check=True)
    return directory


@pytest.fixture(scope="module")
def cache(shipped_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One index cache for the module: indexes are named after their content, so tests share them."""
    directory = tmp_path_factory.mktemp("update-cache") / "cache"
    shutil.copytree(shipped_cache, directory)
    return directory


def fresh_cache(shipped_cache: Path, tmp_path: Path) -> str:
    """A cache without the index of the candidate data, so an update has to build it."""
    directory = tmp_path / "fresh-cache"
    shutil.copytree(shipped_cache, directory)
    return str(directory)


@pytest.fixture
def env(tmp_path: Path, cache: Path) -> dict[str, str]:
    data = tmp_path / "data"
    return {"ANYPORT_DATA_DIR": str(data), "ANYPORT_CACHE_DIR": str(cache), "NO_PROXY": "*", "no_proxy": "*"}


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(env: dict[str, str]) -> Run:
    def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, cwd=cwd)

    return run


def lookup(run: Run, query: str = NEW_PORT) -> str:
    result = run(query, "--json")
    assert result.returncode == 0, result.stderr
    return result.stdout


def names(output: str) -> set[str]:
    return {m["name"] for m in json.loads(output)["matches"]}


@pytest.fixture(scope="module")
def baseline(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Lookups answered by the shipped data."""
    full = dict(os.environ, ANYPORT_CACHE_DIR=str(cache), ANYPORT_DATA_DIR=str(tmp_path_factory.mktemp("none")))
    answers = {}
    for query in (NEW_PORT, "70/tcp", "ip:148"):
        result = subprocess.run(
            [sys.executable, "-m", "anyport", query, "--json"], capture_output=True, text=True, env=full, check=True
        )
        answers[query] = result.stdout
    assert "anyport-demo" not in answers[NEW_PORT]
    return answers


def assert_refused(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("anyport: "), result.stderr
    assert fragment in last, result.stderr
    assert result.stdout == ""


def assert_unchanged(run: Run, env: dict[str, str], baseline: dict[str, str]) -> None:
    assert not (Path(env["ANYPORT_DATA_DIR"]) / "iana" / "manifest.json").exists()
    assert lookup(run) == baseline[NEW_PORT]
    assert lookup(run, "70/tcp") == baseline["70/tcp"]


def manifest(env: dict[str, str]) -> dict[str, object]:
    return json.loads((Path(env["ANYPORT_DATA_DIR"]) / "iana" / "manifest.json").read_text())  # type: ignore[no-any-return]


def assert_manifest_files_intact(env: dict[str, str]) -> None:
    """Every copy the manifest names exists and has the recorded hash (nothing half-written is in use)."""
    path = Path(env["ANYPORT_DATA_DIR"]) / "iana" / "manifest.json"
    if not path.exists():
        return
    for entry in json.loads(path.read_text())["files"].values():
        data = (path.parent / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["size"]


# -- updates that succeed -------------------------------------------------------------------------------------------


def test_update_from_url_switches_lookups_to_the_new_data(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    assert lookup(run) == baseline[NEW_PORT]
    result = run("update", "--from", f"{server.url}/good.csv")
    assert result.returncode == 0, result.stderr
    assert "IANA service names: 14,499 -> 14,500 records, 3 new, 2 changed, 2 removed" in result.stdout
    assert "now in use" in result.stdout
    assert server.user_agents[-1] == f"anyport/{__version__}"
    assert "anyport-demo" in names(lookup(run))
    entry = manifest(env)["files"]["services"]  # type: ignore[index]
    assert entry["source"] == f"{server.url}/good.csv"
    assert entry["records"] == 14500
    assert entry["newest_modification"] == "2026-11-20"
    assert entry["etag"] == '"v2"'
    assert "protocols" not in manifest(env)["files"]  # type: ignore[operator]
    assert_manifest_files_intact(env)

    info = run("info", "--json")
    assert info.returncode == 0, info.stderr
    services = json.loads(info.stdout)["datasets"][0]
    assert services["origin"] == "updated"
    assert services["source"] == f"{server.url}/good.csv"
    assert services["dates"]["newest modification"] == "2026-11-20"
    assert services["records"] == 14500

    shipped = run("diff", "--shipped", "--json")
    assert shipped.returncode == 0, shipped.stderr
    added = json.loads(shipped.stdout)["registries"][0]["new_assignments"]
    assert {(a["name"], a["port"], a["transport"]) for a in added} >= {("anyport-demo", "48620", "tcp")}


@pytest.mark.parametrize("path", ["/gzip-encoded.csv", "/good.csv.gz", "/redirect"])
def test_gzip_and_redirects_are_followed(run: Run, env: dict[str, str], server: Server, path: str) -> None:
    result = run("update", "--from", server.url + path)
    assert result.returncode == 0, result.stderr
    assert "anyport-demo" in names(lookup(run))
    entry = manifest(env)["files"]["services"]  # type: ignore[index]
    assert entry["sha256"] == hashlib.sha256(Path(server.files["good.csv"]).read_bytes()).hexdigest()
    if path == "/redirect":
        assert entry["final_url"] == f"{server.url}/good.csv"


@pytest.mark.parametrize("name", ["good.csv", "good.csv.gz"])
def test_update_from_a_local_file_works_offline(run: Run, files: dict[str, Path], name: str) -> None:
    result = run("update", "--from", str(files[name]))
    assert result.returncode == 0, result.stderr
    assert "anyport-demo" in names(lookup(run))


def test_protocol_numbers_update_on_their_own(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    result = run("update", "--from", f"{server.url}/protocols.csv")
    assert result.returncode == 0, result.stderr
    assert "IANA protocol numbers: 152 -> 153 records, 2 new, 0 changed, 1 removed" in result.stdout
    assert "DEMO" in lookup(run, "ip:148")
    assert lookup(run) == baseline[NEW_PORT]  # the service names are still the shipped ones
    assert set(manifest(env)["files"]) == {"protocols"}  # type: ignore[arg-type]
    # a later service-names update keeps the protocol numbers already updated
    assert run("update", "--from", f"{server.url}/good.csv").returncode == 0
    assert set(manifest(env)["files"]) == {"protocols", "services"}  # type: ignore[arg-type]
    assert "DEMO" in lookup(run, "ip:148")


def test_shrink_beyond_the_limit_needs_force(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    refused = run("update", "--from", f"{server.url}/shrunk.csv")
    assert_refused(refused, "% fewer than the 14,499 in use (more than 2%); nothing was changed")
    assert "--force" in refused.stderr
    assert_unchanged(run, env, baseline)
    forced = run("update", "--from", f"{server.url}/shrunk.csv", "--force")
    assert forced.returncode == 0, forced.stderr
    assert manifest(env)["files"]["services"]["records"] < 14499 * 0.98  # type: ignore[index]


def test_check_compares_and_changes_nothing(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    result = run("update", "--check", "--from", f"{server.url}/good.csv", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["switched"] is False
    assert report["registries"][0]["counts"] == {"new": 3, "changed": 2, "removed": 2}
    assert_unchanged(run, env, baseline)


def test_an_unchanged_url_is_not_downloaded_again(run: Run, env: dict[str, str], server: Server) -> None:
    assert run("update", "--from", f"{server.url}/etag.csv").returncode == 0
    before = manifest(env)
    again = run("update", "--from", f"{server.url}/etag.csv")
    assert again.returncode == 0, again.stderr
    assert server.conditions[-2:] == ["", '"v2"']
    assert "has not changed since the copy in use" in again.stderr
    assert "IANA service names: 14,500 -> 14,500 records, no changes" in again.stdout
    assert "already up to date" in again.stdout
    assert manifest(env) == before
    assert "anyport-demo" in names(lookup(run))


def test_same_data_is_already_up_to_date(run: Run, env: dict[str, str], files: dict[str, Path]) -> None:
    result = run("update", "--from", str(files["shipped.csv"]))
    assert result.returncode == 0, result.stderr
    assert "already up to date" in result.stdout
    assert not (Path(env["ANYPORT_DATA_DIR"]) / "iana" / "manifest.json").exists()


def test_rollback_returns_to_the_shipped_data(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    assert run("update", "--from", f"{server.url}/good.csv").returncode == 0
    assert "anyport-demo" in names(lookup(run))
    result = run("update", "--rollback")
    assert result.returncode == 0, result.stderr
    assert "shipped data is in use again" in result.stdout
    assert_unchanged(run, env, baseline)
    again = run("update", "--rollback")
    assert "already using the shipped data" in again.stdout


def test_a_damaged_copy_falls_back_to_the_shipped_data(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    assert run("update", "--from", f"{server.url}/good.csv").returncode == 0
    directory = Path(env["ANYPORT_DATA_DIR"]) / "iana"
    copy = directory / manifest(env)["files"]["services"]["file"]  # type: ignore[index]
    copy.write_bytes(copy.read_bytes()[:1000])
    assert lookup(run) == baseline[NEW_PORT]
    info = json.loads(run("info", "--json").stdout)
    assert info["datasets"][0]["origin"] == "shipped"
    assert "the updated services file is missing or damaged" in info["notes"][0]
    (directory / "manifest.json").write_text("{not json")
    assert lookup(run) == baseline[NEW_PORT]
    assert "unreadable" in json.loads(run("info", "--json").stdout)["notes"][0]


# -- updates that fail and change nothing ---------------------------------------------------------------------------


REFUSED = {
    "/truncated-mid.csv": "fields instead of 12 (is the file cut short?)",
    "/truncated-line.csv": "% fewer than the 14,499 in use",
    "/wrong-columns.csv": "not IANA's service-names CSV: the columns are Service Name, Port, Transport Protocol",
    "/html-200": "is an HTML page titled '503 Service Temporarily Unavailable', not a CSV file",
    "/html-as-csv": "is an HTML page titled '503 Service Temporarily Unavailable', not a CSV file",
    "/html-500": "the server answered 500 Internal Server Error",
    "/missing.csv": "the server answered 404 Not Found",
    "/loop": "too many redirects",
    "/cut-short": "the download was cut short after 1,000 bytes",
    "/huge": "announces 10,000,000,000 bytes",
    "/stall": "the server stopped sending for 1 s (--timeout)",
    "/trickle": "the download took longer than 1 s (--timeout)",
}


@pytest.mark.parametrize("path", sorted(REFUSED))
def test_a_bad_download_is_refused_and_changes_nothing(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str], path: str
) -> None:
    result = run("update", "--from", server.url + path, "--timeout", "1")
    assert_refused(result, REFUSED[path])
    assert_unchanged(run, env, baseline)


@pytest.mark.parametrize(
    ("location", "fragment"),
    [
        ("ftp://example.org/x.csv", "only http:// and https:// URLs and local files"),
        ("/nonexistent/registry.csv", "cannot read /nonexistent/registry.csv: No such file or directory"),
        ("binary.csv", "not UTF-8 text"),
        ("tiny.csv", "only 199 records; IANA's registry has more than 5,000"),
        ("no-http.csv", "well-known assignments are missing (http 80/tcp); not IANA's registry"),
        ("error-page.html", "is an HTML page"),
        ("http://127.0.0.1:9/x.csv", "cannot reach http://127.0.0.1:9/x.csv"),
    ],
)
def test_bad_sources_are_refused(
    run: Run, env: dict[str, str], files: dict[str, Path], baseline: dict[str, str], location: str, fragment: str
) -> None:
    result = run("update", "--from", str(files[location]) if location in files else location)
    assert_refused(result, fragment)
    assert_unchanged(run, env, baseline)


def test_a_failed_update_keeps_the_previous_update(run: Run, env: dict[str, str], server: Server) -> None:
    assert run("update", "--from", f"{server.url}/good.csv").returncode == 0
    before = (lookup(run), manifest(env))
    assert_refused(run("update", "--from", f"{server.url}/truncated-mid.csv"), "cut short")
    assert (lookup(run), manifest(env)) == before


def test_one_update_at_a_time(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANYPORT_DATA_DIR", env["ANYPORT_DATA_DIR"])
    with userdata.update_lock():
        result = run("update", "--from", f"{server.url}/good.csv")
    assert_refused(result, "another anyport update is running")
    assert_unchanged(run, env, baseline)


def test_size_caps_hold_for_gzip_bombs(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip.compress(b"0" * 5_000_000))
    with pytest.raises(UpdateError, match="unpacks to more than 1,000,000 bytes"):
        fetch(str(bomb), max_bytes=1_000_000)
    with pytest.raises(UpdateError, match="larger than 100 bytes"):
        fetch(str(bomb), max_bytes=100)


# -- killed updates -------------------------------------------------------------------------------------------------


def _start_update(env: dict[str, str], url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "anyport", "update", "--from", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, **env),
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def _wait_for(process: subprocess.Popen[str], message: str) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        if message in line:
            return
    raise AssertionError(f"the update ended before {message!r}")


def test_killed_during_the_download_leaves_the_old_data(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str]
) -> None:
    server.half_sent.clear()
    process = _start_update(env, f"{server.url}/stall-half")
    assert server.half_sent.wait(30)
    _kill(process)
    assert_unchanged(run, env, baseline)


def test_killed_during_the_index_build_leaves_the_old_data(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str], shipped_cache: Path, tmp_path: Path
) -> None:
    env["ANYPORT_CACHE_DIR"] = fresh_cache(shipped_cache, tmp_path)
    process = _start_update(env, f"{server.url}/good.csv")
    _wait_for(process, "building the index")
    half_built: list[Path] = []
    deadline = time.monotonic() + 30
    while not half_built and time.monotonic() < deadline:
        half_built = list((tmp_path / "fresh-cache").glob("index-*.sqlite.tmp-*"))
        time.sleep(0.01)
    time.sleep(0.1)
    _kill(process)
    assert half_built
    assert half_built[0].exists()  # killed while the new index was being written
    assert_unchanged(run, env, baseline)
    # the next update cleans up after the killed one and succeeds
    result = run("update", "--from", f"{server.url}/good.csv")
    assert result.returncode == 0, result.stderr
    assert "anyport-demo" in names(lookup(run))
    leftovers = [p.name for d in (tmp_path / "fresh-cache", Path(env["ANYPORT_DATA_DIR"], "iana")) for p in d.iterdir()]
    assert not [name for name in leftovers if ".tmp-" in name], leftovers


def test_killed_at_the_switch_answers_old_or_new(
    run: Run, env: dict[str, str], server: Server, baseline: dict[str, str], shipped_cache: Path, tmp_path: Path
) -> None:
    env["ANYPORT_CACHE_DIR"] = fresh_cache(shipped_cache, tmp_path)
    process = _start_update(env, f"{server.url}/good.csv")
    _wait_for(process, "switching to the new data")
    _kill(process)
    assert_old_or_new(run, env, baseline)


def assert_old_or_new(run: Run, env: dict[str, str], baseline: dict[str, str]) -> None:
    """The manifest's rename is the switch: before it the old data answers, after it the new data, nothing between."""
    assert_manifest_files_intact(env)
    answer = lookup(run)
    if (Path(env["ANYPORT_DATA_DIR"]) / "iana" / "manifest.json").exists():
        assert "anyport-demo" in names(answer)
    else:
        assert answer == baseline[NEW_PORT]


@pytest.mark.parametrize("delay", [0.1, 0.5, 0.9, 1.3, 1.8, 2.4])
def test_killed_at_any_moment_answers_old_or_new(
    run: Run,
    env: dict[str, str],
    server: Server,
    baseline: dict[str, str],
    shipped_cache: Path,
    tmp_path: Path,
    delay: float,
) -> None:
    env["ANYPORT_CACHE_DIR"] = fresh_cache(shipped_cache, tmp_path)
    process = _start_update(env, f"{server.url}/good.csv")
    time.sleep(delay)
    _kill(process)
    assert_old_or_new(run, env, baseline)


# -- diff -----------------------------------------------------------------------------------------------------------


def test_diff_lists_new_changed_and_removed_assignments(run: Run, files: dict[str, Path], golden) -> None:  # type: ignore[no-untyped-def]
    result = run("diff", "good.csv", "protocols.csv", cwd=files["good.csv"].parent)
    assert result.returncode == 0, result.stderr
    golden("diff-services-protocols.txt", result.stdout)


def test_diff_as_json(run: Run, files: dict[str, Path]) -> None:
    result = run("diff", str(files["good.csv"]), "--json")
    assert result.returncode == 0, result.stderr
    (services,) = json.loads(result.stdout)["registries"]
    assert services["counts"] == {"new": 3, "changed": 2, "removed": 2}
    assert services["old"] == {"source": "shipped data", "records": 14499}
    changed = {c["key"]: c["fields"] for c in services["changed_assignments"]}
    assert changed["gopher 70/tcp"] == {"modified": ["", "2026-11-20"], "reference": ["", "[RFC1436]"]}
    removed = {(r["name"], r["port"], r["transport"]) for r in services["removed_assignments"]}
    assert removed == {("finger", "79", "udp"), ("", "48620-48652", "")}


def test_diff_without_changes_and_against_a_bad_file(run: Run, files: dict[str, Path]) -> None:
    same = run("diff", str(files["shipped.csv"]))
    assert same.returncode == 0
    assert "no changes" in same.stdout
    assert_refused(run("diff", str(files["wrong-columns.csv"])), "not IANA's service-names CSV")


# -- start-up -------------------------------------------------------------------------------------------------------


def test_lookups_with_updated_data_do_not_import_the_update_machinery(
    run: Run, env: dict[str, str], files: dict[str, Path]
) -> None:
    assert run("update", "--from", str(files["good.csv"])).returncode == 0
    lookup(run)  # the first lookup after a switch may hash the sources
    full = dict(os.environ, **env)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "anyport", "443"],
        capture_output=True,
        text=True,
        env=full,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] in ("urllib", "hashlib", "http")}
    assert not {m for m in imported if m.startswith("anyport.update")}
    assert "anyport.datafiles" in imported
