"""Where the catalog disagrees with IANA: the library over the real index, the CLI, the JSON API and the page.

The examples of the seed page (WASTE on 1337, registered to Men & Mice DNS; ShareDirect on 2705, registered to
Sun's SDS Admin) and the well-known ones (adb on 5555, node_exporter on 9100, Jenkins and friends on 8080) must
come out; names that are the service's own (http-alt for "HTTP on alternate ports") and protocols other entries
build on (HTTPS on 443) must not. A local catalog file proves each rule can fail.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest

from anyport.errors import QueryError
from anyport.query.conflicts import ConflictReport, find_conflicts
from anyport.query.kb import KnowledgeBase
from conftest import run_cli


@pytest.fixture(scope="module")
def report(kb: KnowledgeBase) -> ConflictReport:
    return find_conflicts(kb)


def at(report: ConflictReport, port: int, transport: str = "tcp", kind: str = "practice") -> dict[str, object]:
    found = [c for c in report.conflicts if (c.port, c.transport, c.kind) == (port, transport, kind)]
    assert len(found) == 1, (port, transport, kind, found)
    return found[0].to_dict()


def names(conflict: dict[str, object]) -> tuple[set[str], set[str]]:
    services = conflict["services"]
    iana = conflict["iana"]
    assert isinstance(services, list)
    assert isinstance(iana, list)
    return {s["name"] for s in services}, {i["name"] for i in iana}


@pytest.mark.parametrize(
    ("port", "transport", "catalog", "registered"),
    [
        (1337, "tcp", {"waste"}, {"menandmice-dns"}),
        (1337, "udp", {"waste"}, {"menandmice-dns"}),
        (2705, "tcp", {"sharedirect"}, {"sds-admin"}),
        (5555, "tcp", {"adb"}, {"personal-agent"}),
        (9100, "tcp", {"node-exporter"}, {"pdl-datastream", "hp-pdl-datastr"}),
        (8080, "tcp", {"jenkins", "tomcat"}, {"http-alt"}),
    ],
)
def test_the_known_disagreements_are_found(
    report: ConflictReport, port: int, transport: str, catalog: set[str], registered: set[str]
) -> None:
    conflict = at(report, port, transport)
    services, iana = names(conflict)
    assert catalog <= services
    assert iana == registered
    assert str(port) in str(conflict["why"])
    assert "IANA registers it to" in str(conflict["why"])


def test_a_registration_that_is_the_service_s_own_is_no_conflict(report: ConflictReport) -> None:
    services_8080, _ = names(at(report, 8080))
    assert "http-alt" not in services_8080  # "HTTP on alternate ports" is registered as http-alt itself
    services_5555, _ = names(at(report, 5555))
    assert "personal-agent" not in services_5555  # InfoSeek Personal Agent is IANA's personal-agent
    services_9100, _ = names(at(report, 9100))
    assert "jetdirect" not in services_9100  # raw printing is pdl-datastream
    assert not [c for c in report.conflicts if c.port == 22 and c.kind == "practice"]  # ssh is ssh


def test_protocols_other_entries_build_on_are_no_conflict(report: ConflictReport) -> None:
    # 443 is HTTPS: Slack, Zoom and the rest speak HTTPS there, as registered; the same for SSDP on 1900.
    assert not [c for c in report.conflicts if c.port in (80, 443) and c.transport == "tcp" and c.kind == "practice"]
    assert not [c for c in report.conflicts if (c.port, c.transport) == (1900, "udp") and c.kind == "practice"]


def test_tls_variants_and_clients_of_catalog_services_are_no_conflict(report: ConflictReport) -> None:
    # ads-s is the TLS variant of Beckhoff's ads; Zabbix server connects out to the agents' registered port.
    assert not [c for c in report.conflicts if (c.port, c.transport) == (8016, "tcp")]
    assert not [c for c in report.conflicts if (c.port, c.transport) == (10050, "tcp")]


def test_every_conflict_names_its_sources_and_dates(report: ConflictReport) -> None:
    assert len(report.conflicts) > 100
    counts = report.counts()
    assert counts["practice"] > 100
    assert counts["claim"] >= 1
    assert sum(counts.values()) == len(report.conflicts)
    assert report.as_of
    assert report.iana_as_of
    for conflict in report.conflicts:
        assert conflict.services
        assert conflict.why
        for service in conflict.services:
            assert service.sources, service.name
            assert service.as_of
            assert service.file.endswith(".yaml")
            assert service.line > 0


def test_the_order_is_fixed_and_the_report_is_deterministic(kb: KnowledgeBase, report: ConflictReport) -> None:
    keys = [c.sort_key() for c in report.conflicts]
    assert keys == sorted(keys)
    assert find_conflicts(kb).to_dict() == report.to_dict()


def test_claims_iana_does_not_back(report: ConflictReport) -> None:
    claims = {c.claim: c for c in report.conflicts if c.kind == "claim"}
    # Mumble's DNS-SD name is registered without a port; its port 64738 is unassigned.
    mumble = claims["mumble"]
    assert mumble.port is None
    assert [s.name for s in mumble.services] == ["mumble"]
    assert "without a port" in mumble.why


def test_filters_by_port_and_kind(kb: KnowledgeBase) -> None:
    only = find_conflicts(kb, ["1337"])
    assert [(c.port, c.transport) for c in only.conflicts] == [(1337, "tcp"), (1337, "udp")]
    assert [c.transport for c in find_conflicts(kb, ["1337/udp"]).conflicts] == ["udp"]
    ranged = find_conflicts(kb, ["2700-2710"])
    assert all(2700 <= (c.port or 0) <= 2710 for c in ranged.conflicts)
    assert ranged.conflicts
    claims = find_conflicts(kb, kinds=["claim"])
    assert claims.conflicts
    assert {c.kind for c in claims.conflicts} == {"claim"}


@pytest.mark.parametrize(("ports", "kinds"), [(["ssh"], None), (["70000"], None), (None, ["bogus"])])
def test_bad_filters_are_clear_errors(kb: KnowledgeBase, ports: list[str] | None, kinds: list[str] | None) -> None:
    with pytest.raises(QueryError):
        find_conflicts(kb, ports, kinds)


# -- each rule can fail: a local file of services made to disagree -------------------------------------------

LOCAL = """\
services:
  - id: squatter
    title: Port squatter
    categories: [development]
    description: Listens on the Men & Mice DNS port and on the Sun SDS Admin port.
    ports:
      - tcp: 2705
    registered: [no-such-iana-name]
    sources:
      - url: https://example.com/squatter
        title: Squatter manual
    as_of: 2026-01-02

  - id: agent-poller
    title: Agent poller
    categories: [monitoring]
    description: Polls Zabbix agents, and listens on their port itself.
    ports:
      - tcp: 10050
        direction: outbound
      - tcp: 10050
        direction: inbound
        note: Its own listener.
    sources:
      - rfc: 1157
    as_of: 2026-01-04

  - id: mice-friend
    title: Men and Mice DNS console
    aliases: [menandmice-dns]
    categories: [name-service]
    description: Uses the port IANA registers to it under its own alias.
    ports:
      - tcp: 1337
    registered: [sds-admin]
    sources:
      - rfc: 1035
    as_of: 2026-01-03
"""


@pytest.fixture(scope="module")
def local_kb(tmp_path_factory: pytest.TempPathFactory, isolated_env: dict[str, str]) -> Iterator[KnowledgeBase]:
    path = tmp_path_factory.mktemp("local") / "squat.yaml"
    path.write_text(LOCAL, "utf-8")
    patch = pytest.MonkeyPatch()
    patch.setenv("ANYPORT_PATH", str(path))
    try:
        base = KnowledgeBase.open()
    finally:
        patch.undo()
    yield base
    base.close()


def test_local_services_disagree_in_every_way(local_kb: KnowledgeBase) -> None:
    found = find_conflicts(local_kb)
    practice_2705 = at(found, 2705)
    assert "squatter" in names(practice_2705)[0]
    squatter = next(s for s in practice_2705["services"] if s["name"] == "squatter")  # type: ignore[union-attr]
    assert squatter["origin"] == "local"
    assert squatter["as_of"] == "2026-01-02"
    assert squatter["sources"] == [
        {
            "kind": "url",
            "value": "https://example.com/squatter",
            "title": "Squatter manual",
            "url": "https://example.com/squatter",
        }
    ]
    # connecting out to a catalog service's registered port is no conflict; listening on it is
    poller = [s for s in at(found, 10050)["services"] if s["name"] == "agent-poller"]  # type: ignore[union-attr]
    assert [s["direction"] for s in poller] == ["inbound"]
    # an alias equal to the IANA name makes the port its own
    assert "mice-friend" not in names(at(found, 1337))[0]
    claims = {(c.claim, c.services[0].name): c for c in found.conflicts if c.kind == "claim"}
    unknown = claims[("no-such-iana-name", "squatter")]
    assert unknown.port is None
    assert "no service of that name" in unknown.why
    elsewhere = claims[("sds-admin", "mice-friend")]
    assert (elsewhere.port, elsewhere.transport) == (2705, "tcp")
    assert "does not open" in elsewhere.why


# -- command line, API, page -----------------------------------------------------------------------------------


def test_cli_text_json_and_csv() -> None:
    text = run_cli("conflicts", "1337", "2705")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("4 conflicts between the catalog and IANA (4 practice, 0 claim)")
    assert "1337/tcp is used by WASTE, but IANA registers it to menandmice-dns (menandmice DNS)" in text.stdout
    assert "sources: Any Port in a Datastorm: Ports for Internet Services · as of 2026-11-26" in text.stdout
    data = json.loads(run_cli("conflicts", "1337/tcp", "--json").stdout)
    assert data["count"] == 1
    assert data["conflicts"][0]["services"][0]["name"] == "waste"
    rows = list(csv.DictReader(io.StringIO(run_cli("conflicts", "8080/tcp", "--csv").stdout)))
    assert {r["service"] for r in rows} >= {"jenkins", "tomcat"}
    assert all(r["iana"] == "http-alt" and r["sources"] and r["as_of"] for r in rows)
    full = json.loads(run_cli("conflicts", "--json").stdout)
    print(f"\nconflicts in the shipped data: {full['count']} ({full['counts']})")
    assert full["count"] == len(full["conflicts"]) > 100


@pytest.mark.parametrize(
    ("args", "message"),
    [(("conflicts", "ssh"), "'ssh' is not a port"), (("conflicts", "--kind", "nope"), "invalid choice")],
)
def test_cli_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_api_and_page(kb: KnowledgeBase) -> None:
    pytest.importorskip("fastapi")
    jsonschema = pytest.importorskip("jsonschema")
    from fastapi.testclient import TestClient

    from anyport.web.app import create_app

    with TestClient(create_app(kb)) as client:
        answer = client.get("/api/v1/conflicts", params={"port": "1337", "kind": "practice"})
        assert answer.status_code == 200
        body = answer.json()
        assert body == find_conflicts(kb, ["1337"], ["practice"]).to_dict()
        document = client.get("/api/v1/openapi.json").json()
        schema = document["paths"]["/api/v1/conflicts"]["get"]["responses"]["200"]["content"]["application/json"]
        jsonschema.validate(
            client.get("/api/v1/conflicts").json(), {**schema["schema"], "components": document["components"]}
        )
        bad = client.get("/api/v1/conflicts", params={"port": "ssh"})
        assert bad.status_code == 400
        assert bad.json()["error"]["type"] == "bad_query"
        assert client.get("/api/v1/conflicts", params={"kind": "x"}).json()["error"]["type"] == "invalid_parameter"
        page = client.get("/conflicts", params={"port": "1337"})
        assert page.status_code == 200
        assert "WASTE" in page.text
        assert "menandmice-dns" in page.text
        assert "Ports for Internet Services" in page.text
        assert client.get("/conflicts", params={"kind": "x"}).status_code == 400
        assert 'href="/conflicts"' in client.get("/data").text


def test_static_site_has_the_conflicts_page(kb: KnowledgeBase) -> None:
    pytest.importorskip("fastapi")
    from anyport.web.pages import Links, conflicts_view, render_page
    from anyport.web.site import exported_ports

    html = render_page("conflicts.html", Links("conflicts.html", exported_ports(kb)), **conflicts_view(kb))
    assert 'href="service/waste.html"' in html
    assert 'href="port/1337.html"' in html
    assert "<form" not in html.split("<main", 1)[1]  # the filter form needs the server
