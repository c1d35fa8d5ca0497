"""The catalog loader: every problem becomes ``file:line: what is wrong; how to fix it``."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyport import portlist as portlist_module
from anyport.catalog import validate as validate_module
from anyport.catalog.loader import check_text, load_catalog
from anyport.errors import CatalogError
from anyport.serialize import service_to_dict
from anyport.vocab import ALLOCATIONS, CATEGORIES, DIRECTIONS, ROLES, STATUSES, TRANSPORTS

GOOD = """\
services:
  - id: demo
    title: Demo service
    categories: [web]
    description: A demonstration.
    ports:
      - tcp: 8080
    sources:
      - rfc: 9110
"""


def problems_of(text: str) -> list[str]:
    _services, problems = check_text(textwrap.dedent(text), "demo.yaml")
    return [str(p) for p in problems]


def test_a_good_file_has_no_problems() -> None:
    services, problems = check_text(GOOD, "demo.yaml")
    assert problems == []
    assert [s.id for s in services] == ["demo"]
    assert services[0].ports[0].ports == "8080"


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("- tcp: 8080", "- tcp: 0", "demo.yaml:7: tcp: port 0 is outside 1-65535"),
        ("- tcp: 8080", "- tcp: 70000", "demo.yaml:7: tcp: port 70000 is outside 1-65535"),
        ("- tcp: 8080", '- tcp: "10-5"', "demo.yaml:7: tcp: range 10-5 runs backwards; write 5-10"),
        ("- tcp: 8080", '- tcp: "80x"', "demo.yaml:7: tcp: '80x' is not a port or range"),
        ("- tcp: 8080", "- ip: gree", "demo.yaml:7: ip: 'gree' is not an IP protocol"),
        (
            "- tcp: 8080",
            "- tcp: 80\n        rol: data",
            "demo.yaml:8: unknown field 'rol' in a port spec; did you mean 'role'?",
        ),
        ("- tcp: 8080", "- tcp: 80\n        udp: 80", "demo.yaml:7: a port spec needs exactly one of tcp, udp"),
        ("- tcp: 8080", "- tcp: 80\n        role: dta", "demo.yaml:8: role 'dta' is not allowed; did you mean 'data'?"),
        ("- tcp: 8080", "- tcp: 80\n        optional: maybe", "demo.yaml:8: optional is 'maybe'; write true or false"),
        ("- tcp: 8080", "- tcp: 80\n        dnssd: ipp", "demo.yaml:8: dnssd 'ipp' is not a DNS-SD type"),
        ("- tcp: 8080", "- udp: 5353\n        multicast: [224.0.0.1.5]", "demo.yaml:8: multicast: '224.0.0.1.5'"),
        ("- tcp: 8080", "- ref: Not A Slug", "demo.yaml:7: ref 'Not A Slug' is not a service id"),
        ("[web]", "[weeb]", "demo.yaml:4: categories: 'weeb' is not a known category; did you mean 'web'?"),
        ("id: demo", "id: Demo Service", "demo.yaml:2: id 'Demo Service' is not a slug"),
        ("    title: Demo service\n", "", "demo.yaml:2: service is missing 'title'"),
        ("      - rfc: 9110", "      - rfc: nine", "demo.yaml:9: rfc is 'nine'; write the RFC number"),
        ("      - rfc: 9110", "      - url: ftp://x", "demo.yaml:9: url 'ftp://x' is not a web address"),
        ("      - rfc: 9110", "      - rfc: 1\n        url: https://x", "demo.yaml:9: a source needs exactly one of"),
        (
            "    categories: [web]",
            "    categories: [web]\n    colour: red",
            "demo.yaml:5: unknown field 'colour' in a service",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    status: alive",
            "demo.yaml:5: status 'alive' is not allowed",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    risks: [Anyone can connect.]",
            "demo.yaml:5: the risks have no risk_tags; add e.g. 'risk_tags: [brute-force, cleartext]'",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    risks: [Anyone can connect.]\n    risk_tags: [no-auht]",
            "demo.yaml:6: risk_tags: 'no-auht' is not a known risk tag; did you mean 'no-auth'?",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    risks: [Anyone can connect.]\n    risk_tags: [no-auth, no-auth]",
            "demo.yaml:6: risk_tags names 'no-auth' twice; keep one",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    risk_tags: [no-auth]",
            "demo.yaml:5: risk_tags without risks; add the risk notes the tags summarise",
        ),
        (
            "    categories: [web]",
            "    categories: [web]\n    risks: [Anyone can connect.]\n    risk_tags: []",
            "demo.yaml:6: risk_tags is []; write a list of tags",
        ),
    ],
)
def test_each_mistake_is_reported_with_its_line(replace: str, by: str, expected: str) -> None:
    assert replace in GOOD
    found = problems_of(GOOD.replace(replace, by, 1))
    assert any(p.startswith(expected) for p in found), found


def _messages(module_file: str, call: str) -> list[str]:
    """The literal text of every ``call(...)`` message in a module (f-string holes shown as {})."""
    tree = ast.parse(Path(module_file).read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name != call:
            continue
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(arg.value)
            elif isinstance(arg, ast.JoinedStr):
                found.append("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values))
    return found


def test_every_message_says_how_to_fix_it() -> None:
    messages = _messages(validate_module.__file__, "problem") + _messages(portlist_module.__file__, "ValueError")
    assert len(messages) > 35
    for message in messages:
        if message == "{}: {}":  # "tcp: <the port list's own message>", each checked here too
            continue
        assert ";" in message, f"message without a fix: {message}"


def test_yaml_syntax_error_has_a_line() -> None:
    found = problems_of("services:\n  - id: a\n   title: x\n")
    assert found == [found[0]]
    assert found[0].startswith("demo.yaml:3: YAML syntax error")


def test_duplicate_keys_are_errors() -> None:
    found = problems_of(GOOD.replace("    title: Demo service\n", "    title: Demo service\n    title: Again\n"))
    assert found[0].startswith("demo.yaml:4: duplicate key 'title' (first on line 3)")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "just a string",
        "- a\n- b\n",
        "services: 5\n",
        "services:\n  - 5\n",
        "!0",
        "services: !!python/object:os.system x",
    ],
)
def test_wrong_shapes_are_errors_not_crashes(text: str) -> None:
    assert problems_of(text)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", GOOD)
    b = write(tmp_path, "b.yaml", GOOD)
    with pytest.raises(CatalogError) as excinfo:
        load_catalog([a, b], [])
    assert "duplicate id 'demo'" in str(excinfo.value)
    assert str(b) in str(excinfo.value)


def test_unknown_reference_and_loops(tmp_path: Path) -> None:
    text = GOOD.replace("- tcp: 8080", "- ref: other").replace("id: demo", "id: one")
    other = GOOD.replace("- tcp: 8080", "- ref: one").replace("id: demo", "id: other")
    a = write(tmp_path, "a.yaml", text)
    with pytest.raises(CatalogError, match="unknown service 'other'"):
        load_catalog([a], [])
    b = write(tmp_path, "b.yaml", other)
    with pytest.raises(CatalogError, match="references loop"):
        load_catalog([a, b], [])


def test_local_files_override_the_shipped_catalog(tmp_path: Path) -> None:
    shipped = write(tmp_path, "shipped.yaml", GOOD)
    local = write(tmp_path, "local.yaml", GOOD.replace("Demo service", "My demo"))
    catalog = load_catalog([shipped], [local])
    assert catalog.services["demo"].title == "My demo"
    assert catalog.services["demo"].origin == "local"
    assert catalog.overridden == ["demo"]


def test_terminal_escapes_are_rejected() -> None:
    found = problems_of(GOOD.replace("Demo service", '"Demo \\e[31mred\\e[0m"'))
    assert any("demo.yaml:3: title contains control characters" in p for p in found), found


def test_alias_bombs_are_stopped() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in "bcdefg":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
    bomb += "services: [*g]\n"
    found = problems_of(bomb)
    assert any("expands to more than" in p for p in found), found


def test_not_utf8_is_a_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"services:\n  - id: caf\xe9\n")
    with pytest.raises(CatalogError, match=r"bad.yaml:2: the file is not UTF-8"):
        load_catalog([path], [])


def test_hostile_strings_are_kept_as_text() -> None:
    hostile = GOOD.replace("Demo service", "'<script>alert(1)</script> $(rm -rf /) \"q\"'")
    services, problems = check_text(hostile, "demo.yaml")
    assert problems == []
    assert services[0].title == '<script>alert(1)</script> $(rm -rf /) "q"'


# -- property tests -------------------------------------------------------------------------------------------

slugs = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)
words = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")
port_ranges = st.tuples(st.integers(1, 65535), st.integers(0, 200)).map(lambda t: (t[0], min(65535, t[0] + t[1])))
spec_options = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(ROLES),
        "direction": st.sampled_from(DIRECTIONS),
        "allocation": st.sampled_from([a for a in ALLOCATIONS if a != "family"]),
        "optional": st.booleans(),
        "uncertain": st.booleans(),
        "note": words,
    },
)
specs = st.builds(
    lambda transport, rng, options: {transport: f"{rng[0]}-{rng[1]}" if rng[0] != rng[1] else rng[0], **options},
    st.sampled_from(TRANSPORTS),
    port_ranges,
    spec_options,
)
services = st.fixed_dictionaries(
    {
        "id": slugs,
        "title": words,
        "categories": st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3, unique=True),
        "description": words,
        # the same ports twice on one transport would be a (deliberate) problem: keep the specs distinct
        "ports": st.lists(specs, max_size=4, unique_by=lambda spec: next(iter(spec.items()))),
        "sources": st.just([{"rfc": 793}]),
    },
    optional={"status": st.sampled_from(STATUSES), "aliases": st.lists(words, max_size=3)},
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(services, min_size=1, max_size=4, unique_by=lambda s: s["id"]))
def test_generated_catalogs_round_trip(entries: list[dict[str, object]]) -> None:
    text = yaml.safe_dump({"services": entries}, allow_unicode=True, sort_keys=False)
    loaded, problems = check_text(text, "gen.yaml")
    assert problems == []
    assert [s.id for s in loaded] == [e["id"] for e in entries]
    for entry, service in zip(entries, loaded, strict=True):
        data = service_to_dict(service)
        assert data["title"] == " ".join(str(entry["title"]).split())
        assert len(data["ports"]) == len(entry["ports"])  # type: ignore[arg-type]


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_arbitrary_text_never_crashes_the_loader(text: str) -> None:
    services, problems = check_text(text, "fuzz.yaml")
    for problem in problems:
        assert str(problem).startswith("fuzz.yaml:")
    if not problems:  # only a well-formed catalog gets through without a complaint
        doc = yaml.safe_load(text)
        assert isinstance(doc, dict)
        assert isinstance(doc.get("services"), list)
        assert len(services) == len(doc["services"])


def test_validate_checks_catalog_ids_across_the_whole_catalog(tmp_path: Path) -> None:
    from conftest import run_cli

    write(tmp_path, "a.yaml", GOOD)
    b = write(tmp_path, "b.yaml", GOOD.replace("Demo service", "Second demo"))
    result = run_cli("validate", str(b), env={"ANYPORT_CATALOG_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert f"{b}:2: duplicate id 'demo' (also at {tmp_path / 'a.yaml'}:2)" in result.stderr
