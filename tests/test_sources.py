"""Every answer can show where it comes from: ``--sources`` on the command line, ``sources=true`` in the API, and
sources with as-of dates on the service and port pages."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from anyport import api
from anyport.cli.main import normalise_argv, quick_lookup_args
from anyport.query.kb import KnowledgeBase
from conftest import run_cli

SEED = "Any Port in a Datastorm: Ports for Internet Services"
IANA_URL = "https://www.iana.org/assignments/service-names-port-numbers/"


def test_lookup_sources_in_the_terminal() -> None:
    result = run_cli("1337", "--sources")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sources of WASTE (as of 2026-11-26):\n  - " + SEED in out
    assert f"sources of menandmice DNS (as of 2026-02-13):\n  - IANA: menandmice-dns <{IANA_URL}>" in out
    assert "OpenVAS trojan_horses.nasl list" in out
    assert "sources of" not in run_cli("1337").stdout


def test_the_fast_lookup_path_takes_sources_without_argparse() -> None:
    args = quick_lookup_args(normalise_argv(["1337", "--sources", "--json"]))
    assert args is not None
    assert args.sources is True
    assert args.fmt == "json"
    assert args.queries == ["1337"]
    plain = quick_lookup_args(normalise_argv(["1337"]))
    assert plain is not None
    assert plain.sources is False
    code = (
        "import sys; from anyport.cli.main import main; main(['1337', '--sources']); "
        "bad = [m for m in ('argparse', 'dataclasses', 'rich') if m in sys.modules]; "
        "sys.stderr.write(repr(bad))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stderr.strip() == "[]", done.stderr


def test_lookup_json_carries_sources_only_when_asked() -> None:
    plain = json.loads(run_cli("1723/tcp", "--json").stdout)
    assert all("sources" not in m and "as_of" not in m for m in plain["matches"])  # the contract is unchanged
    data = json.loads(run_cli("1723/tcp", "--json", "--sources").stdout)
    pptp = next(m for m in data["matches"] if m["name"] == "pptp")
    service = json.loads(run_cli("service", "pptp", "--json").stdout)
    assert pptp["sources"] == service["sources"]
    assert pptp["as_of"] == service["as_of"] == "2026-11-26"
    assert {"kind": "rfc", "value": "2637", "url": "https://www.rfc-editor.org/rfc/rfc2637"} in pptp["sources"]
    other = json.loads(run_cli("1337/tcp", "--json", "--sources").stdout)
    iana = next(m for m in other["matches"] if m["source"] == "iana")
    assert iana["sources"] == [{"kind": "iana", "value": iana["name"], "url": IANA_URL}]
    assert iana["as_of"]
    protocol = json.loads(run_cli("ip:47", "--json", "--sources").stdout)
    assert all(m["sources"] for m in protocol["matches"])


def test_lookup_csv_gets_two_more_columns() -> None:
    rows = list(csv.DictReader(io.StringIO(run_cli("1337/tcp", "--csv", "--sources").stdout)))
    waste = next(r for r in rows if r["name"] == "waste")
    assert waste["sources"] == SEED
    assert waste["as_of"] == "2026-11-26"
    assert "sources" not in next(csv.reader(io.StringIO(run_cli("1337/tcp", "--csv").stdout)))


def test_search_sources() -> None:
    text = run_cli("search", "waste", "--sources").stdout
    assert f"sources, as of 2026-11-26: {SEED}" in text
    data = json.loads(run_cli("search", "men and mice", "--json", "--sources").stdout)
    by_source = {r["source"]: r for r in data["results"]}
    assert by_source["catalog"]["sources"]
    assert by_source["catalog"]["as_of"] == "2026-11-26"
    assert by_source["iana"]["sources"][0]["kind"] == "iana"
    assert "sources" not in json.loads(run_cli("search", "waste", "--json").stdout)["results"][0]


def test_service_sources_include_what_it_uses() -> None:
    text = run_cli("service", "pptp", "--sources").stdout
    assert "  sources:\n    - Any Port in a Datastorm: Network Protocols" in text
    assert "sources of GRE (Generic Routing Encapsulation) (gre), as of 2026-11-26:" in text
    assert "RFC 2784 <https://www.rfc-editor.org/rfc/rfc2784>" in text
    assert "sources of GRE" not in run_cli("service", "pptp").stdout


def test_library_flag(kb: KnowledgeBase) -> None:
    result = api.lookup("2705/tcp", sources=True, kb=kb)
    sharedirect = next(m for m in result.matches if m.name == "sharedirect")
    assert sharedirect.sources == [{"kind": "seed", "value": "Ports for Internet Services"}]
    assert sharedirect.to_dict()["as_of"] == "2026-11-26"
    assert api.lookup("2705/tcp", kb=kb).matches[0].sources is None


# -- the API and the pages -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase):  # type: ignore[no-untyped-def]
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from anyport.web.app import create_app

    with TestClient(create_app(kb)) as test_client:
        yield test_client


def conforms(client, path: str, body: object) -> None:  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    document = client.get("/api/v1/openapi.json").json()
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(body, {**schema, "components": document["components"]})


def test_api_sources_parameter(client) -> None:  # type: ignore[no-untyped-def]
    with_sources = client.get("/api/v1/lookup", params={"q": "1337", "sources": "true"}).json()
    assert with_sources["matches"][0]["sources"] == [{"kind": "seed", "value": "Ports for Internet Services"}]
    conforms(client, "/api/v1/lookup", with_sources)
    without = client.get("/api/v1/lookup", params={"q": "1337"}).json()
    assert "sources" not in without["matches"][0]
    hits = client.get("/api/v1/search", params={"q": "men and mice", "sources": "true"}).json()
    assert all(h["sources"] for h in hits["results"])
    conforms(client, "/api/v1/search", hits)
    bad = client.get("/api/v1/lookup", params={"q": "1337", "sources": "maybe"})
    assert bad.status_code == 422
    assert bad.json()["error"]["type"] == "invalid_parameter"


def test_pages_show_sources_and_dates(client) -> None:  # type: ignore[no-untyped-def]
    port = client.get("/port/1337").text
    section = port.split('id="sources-title"', 1)[1].split("</section>", 1)[0]
    assert 'href="/service/waste"' in section
    assert SEED in section
    assert "as of 2026-11-26" in section
    assert 'href="/conflicts?port=1337"' in section
    service = client.get("/service/pptp").text
    assert "RFC 2637" in service
    assert "Facts as of 2026-11-26." in service
