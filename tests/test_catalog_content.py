"""The shipped catalog: valid, sourced, and faithful to every row and section of the seed page."""

from __future__ import annotations

import functools
from pathlib import Path

import jsonschema
import pytest
import yaml

from anyport.catalog.loader import Catalog, load_catalog
from anyport.catalog.paths import shipped_catalog_files
from anyport.catalog.schema import json_schema
from anyport.model import PortSpec, Service

DATA = Path(__file__).resolve().parent / "data"
SEED_ROWS = [row for path in sorted((DATA / "seed_rows").glob("*.yaml")) for row in yaml.safe_load(path.read_text())]
SEED_SECTIONS = yaml.safe_load((DATA / "seed_sections.yaml").read_text())


@functools.cache
def catalog() -> Catalog:
    return load_catalog()


def resolved_specs(service: Service, seen: frozenset[str] = frozenset()) -> list[PortSpec]:
    """The service's own specs plus those of everything it references."""
    specs = []
    for spec in service.ports:
        if spec.kind == "ref":
            if spec.ref not in seen:
                specs += resolved_specs(catalog().services[spec.ref], seen | {service.id})
        else:
            specs.append(spec)
    return specs


def references(service: Service, seen: frozenset[str] = frozenset()) -> set[str]:
    found = set()
    for ref in service.references:
        if ref not in seen:
            found |= {ref} | references(catalog().services[ref], seen | {service.id})
    return found


def covers(specs: list[PortSpec], start: int, end: int, allocation: str | None = None) -> bool:
    ranges = [
        r for s in specs if s.kind == "port" and (allocation is None or s.allocation == allocation) for r in s.ranges
    ]
    return all(any(port in r for r in ranges) for port in range(start, end + 1))


def parse_range(text: str) -> tuple[int, int]:
    start, _, end = str(text).partition("-")
    return int(start), int(end or start)


def test_the_seed_page_has_143_rows() -> None:
    assert len(SEED_ROWS) == 143
    assert len({(r["table"], r["row"]) for r in SEED_ROWS}) == 143
    tables = {}
    for row in SEED_ROWS:
        tables[row["table"]] = tables.get(row["table"], 0) + 1
    assert tables == {"main": 122, "ultima-online": 5, "messenger": 3, "email": 9, "obsolete": 4}


@pytest.mark.parametrize("row", SEED_ROWS, ids=lambda r: f"{r['table']}-{r['row']}-{r['title'][:30]}")
def test_every_seed_row_is_in_the_catalog_with_its_ports(row: dict[str, object]) -> None:
    services = catalog().services
    sid = str(row["service"])
    assert sid in services, f"row {row['title']!r} names unknown service {sid}"
    service = services[sid]
    assert row["title"] in service.seed, f"{sid} does not list the seed row {row['title']!r}"
    specs = resolved_specs(service)
    for text in row["ports"]:  # type: ignore[attr-defined]
        start, end = parse_range(text)
        assert covers(specs, start, end), f"{sid} does not cover {text} from the seed row {row['title']!r}"
    for text in row["dynamic"]:  # type: ignore[attr-defined]
        start, end = parse_range(text)
        assert covers(specs, start, end, "dynamic"), f"{sid} does not mark {text} as dynamic"
    for ref in row["refs"]:  # type: ignore[attr-defined]
        assert ref in references(service) or ref == sid, f"{sid} does not reference {ref}"


def _find(service: Service, expect: dict[str, object]) -> list[PortSpec]:
    matches = []
    for spec in service.ports:
        if "ip" in expect:
            if spec.kind == "ip" and spec.ip_proto == expect["ip"]:
                matches.append(spec)
        elif "transport" in expect:
            if (
                spec.kind == "port"
                and spec.transport == expect["transport"]
                and any(expect["port"] in r for r in spec.ranges)
            ):
                matches.append(spec)
        else:
            matches.append(spec)
    return matches


SECTION_EXPECTATIONS = [(s["section"], e) for s in SEED_SECTIONS for e in s["expect"]]


@pytest.mark.parametrize(("section", "expect"), SECTION_EXPECTATIONS, ids=lambda v: str(v)[:40])
def test_every_seed_section_fact_is_in_the_catalog(section: str, expect: dict[str, object]) -> None:
    service = catalog().services[str(expect["service"])]
    assert section in service.seed, f"{service.id} does not list the section {section!r}"
    specs = _find(service, expect)
    assert specs, f"{service.id} has no spec for {expect}"
    for key in ("optional", "dnssd", "allocation", "helper"):
        if key in expect:
            assert any(getattr(s, key) == expect[key] for s in specs), f"{service.id}: no spec with {key}={expect[key]}"
    if "pair_ref" in expect:
        assert any(s.pair_ref == expect["pair_ref"] and s.pair_offset == expect["pair_offset"] for s in specs)
    if expect.get("risk"):
        assert service.risks, f"{service.id} should carry the seed's warning as a risk"


def test_the_seed_sections_are_all_covered() -> None:
    sections = {s["section"] for s in SEED_SECTIONS}
    for needed in ("iSCSI", "Printing", "Napster", "PalTalk", "Ultima Online", "Email Ports", "Network Protocols"):
        assert needed in sections


def test_iscsi_860_is_never_the_default() -> None:
    iscsi = catalog().services["iscsi"]
    default = [s for s in iscsi.ports if s.kind == "port" and any(3260 in r for r in s.ranges)]
    system = [s for s in iscsi.ports if s.kind == "port" and any(860 in r for r in s.ranges)]
    assert default
    assert not default[0].optional
    assert system
    assert system[0].optional
    assert "default" in system[0].note


def test_windows_messenger_warning_is_a_risk_on_a_dynamic_range() -> None:
    messenger = catalog().services["windows-messenger"]
    broad = [
        s for s in messenger.ports if s.transport == "udp" and any(r.start == 5004 and r.end == 65535 for r in s.ranges)
    ]
    assert broad
    assert broad[0].allocation == "dynamic"
    assert messenger.risks


def test_rtcp_is_rtp_plus_one() -> None:
    rtcp = catalog().services["rtcp"]
    assert any(s.pair_ref == "rtp" and s.pair_offset == 1 for s in rtcp.ports)


def test_at_least_250_modern_services() -> None:
    modern = [s for s in catalog().services.values() if not s.seed]
    assert len(modern) >= 250, len(modern)


def test_every_entry_has_sources_and_a_date() -> None:
    for service in catalog().services.values():
        assert service.sources, service.id
        assert service.as_of, service.id
        assert service.description, service.id
        for source in service.sources:
            if source.kind == "url":
                assert source.value.startswith(("https://", "http://")), (service.id, source.value)


def test_modern_entries_cite_more_than_the_seed() -> None:
    for service in catalog().services.values():
        assert any(s.kind != "seed" for s in service.sources) or service.seed, service.id


def test_registered_names_are_backed_by_iana() -> None:
    from anyport.datafiles import IANA_SERVICES_CSV
    from anyport.registries import read_iana_services

    names = {r.name.lower() for r in read_iana_services(IANA_SERVICES_CSV) if r.name}
    for service in catalog().services.values():
        for name in service.registered:
            assert name.lower() in names, f"{service.id} claims IANA name {name!r}, which IANA does not have"


@pytest.mark.parametrize("path", shipped_catalog_files(), ids=lambda p: Path(p).name)
def test_shipped_files_match_the_json_schema(path: str) -> None:
    document = yaml.safe_load(Path(path).read_text("utf-8"))
    # YAML dates come back as date objects; the schema (like the loader) wants the text.
    for service in document["services"]:
        if "as_of" in service:
            service["as_of"] = str(service["as_of"])
    jsonschema.validate(document, json_schema())


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    bad = {
        "services": [
            {"id": "x", "title": "X", "categories": ["weeb"], "description": "d", "ports": [], "sources": [{"rfc": 1}]}
        ]
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema())
    bad_port = {
        "services": [
            {
                "id": "x",
                "title": "X",
                "categories": ["web"],
                "description": "d",
                "ports": [{"tcp": 0}],
                "sources": [{"rfc": 1}],
            }
        ]
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad_port, json_schema())


def test_every_risk_tag_is_used_and_documented() -> None:
    from anyport.catalog.risktags import RISK_TAGS

    services = catalog().services.values()
    used = {tag for service in services for tag in service.risk_tags}
    assert used == set(RISK_TAGS), set(RISK_TAGS) - used
    assert all(bool(s.risks) == bool(s.risk_tags) for s in services)
    docs = (Path(__file__).resolve().parents[1] / "docs" / "catalog-format.md").read_text("utf-8")
    for tag in RISK_TAGS:
        assert f"| `{tag}` |" in docs, f"docs/catalog-format.md does not list the risk tag {tag}"
