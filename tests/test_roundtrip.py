"""Property: whatever a catalog file says, the index answers — YAML -> loader -> index -> lookup."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport.catalog.loader import Catalog, check_text
from anyport.index.build import build_index
from anyport.index.store import open_index
from anyport.protocols import protocol_table
from anyport.query.kb import KnowledgeBase
from anyport.query.lookup import lookup
from anyport.query.service import service_info

_counter = itertools.count()

specs = st.tuples(
    st.sampled_from(["tcp", "udp", "sctp", "dccp"]),
    st.integers(1, 65535),
    st.integers(0, 20),
    st.sampled_from(["fixed", "dynamic", "negotiated", "selected"]),
)
# one spec per transport, start and end: the same ports listed twice in one service are a catalog error
entries = st.lists(
    specs, min_size=1, max_size=5, unique_by=lambda spec: (spec[0], spec[1], min(65535, spec[1] + spec[2]))
)


def _kb_for(text: str) -> KnowledgeBase:
    services, problems = check_text(text, "gen.yaml")
    assert problems == []
    catalog = Catalog(services={s.id: s for s in services})
    path = Path(tempfile.mkdtemp()) / f"index-{next(_counter)}.sqlite"
    build_index(path, catalog, [], protocol_table(), [], [], {"content_hash": "test"})
    return KnowledgeBase(open_index(str(path)), str(path))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries)
def test_every_port_a_service_declares_finds_it(generated: list[tuple[str, int, int, str]]) -> None:
    ports = []
    for transport, start, extra, allocation in generated:
        end = min(65535, start + extra)
        ports.append({transport: f"{start}-{end}" if end > start else start, "allocation": allocation})
    doc = {
        "services": [
            {
                "id": "generated",
                "title": "Generated service",
                "categories": ["web"],
                "description": "made by hypothesis",
                "ports": ports,
                "sources": [{"rfc": 9293}],
            }
        ]
    }
    kb = _kb_for(yaml.safe_dump(doc))
    for transport, start, extra, _allocation in generated:
        end = min(65535, start + extra)
        for port in {start, end, (start + end) // 2}:
            result = lookup(kb, f"{port}/{transport}")
            names = [m.name for m in result.matches]
            assert "generated" in names, (port, transport, names)
        ranged = lookup(kb, f"{start}-{end}/{transport}")
        assert "generated" in [m.name for m in ranged.matches]
    info = service_info(kb, "generated")
    assert len(info.resolved) == len(generated)
