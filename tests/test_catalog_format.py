"""Contributions: the shipped catalog validates and is in canonical form (this is how ``make test`` checks it);
layout mistakes, contradictory specs and clashing names are errors with ``file:line``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from anyport.catalog.format import check_format_text
from anyport.catalog.loader import check_text, load_catalog, validate_files
from anyport.catalog.paths import shipped_catalog_files
from anyport.errors import CatalogError
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
# A comment before the list is fine.
services:
  - id: demo
    title: Demo service
    aliases: [demo app]
    categories: [web]
    status: active
    description: >-
      A demonstration that spans
      two lines.
    ports:
      - tcp: 8080
        role: web
        tls: false
        note: The web interface.
      - udp: 8080
        role: discovery
        direction: multicast
        multicast: [239.1.2.3]
    notes:
      - Something worth knowing.
    registered: []
    sources:
      - url: https://example.com/demo
        title: Demo manual
      - rfc: 9110
    as_of: 2026-11-26

  # a section comment belongs to the service below it
  - id: demo-two
    title: Second demo
    categories: [web]
    description: Another one.
    ports:
      - ref: demo
    sources:
      - seed: Ports for Internet Services
    as_of: 2026-11-26
"""


def format_problems(text: str) -> list[str]:
    return [str(p) for p in check_format_text(text, "demo.yaml")]


def test_the_shipped_catalog_validates_and_is_canonical() -> None:
    files = [str(p) for p in shipped_catalog_files()]
    assert len(files) >= 10
    result = run_cli("validate", "--check-format", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
    assert f"in {len(files)} file(s)" in result.stdout


def test_the_example_of_contributing_md_is_valid_and_canonical(tmp_path: Path) -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text("utf-8")
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my-services.yaml"
    path.write_text(example, "utf-8")
    result = run_cli("validate", "--check-format", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok: 1 service(s) in 1 file(s)"


def test_a_canonical_file_has_no_layout_problems() -> None:
    assert check_text(GOOD, "demo.yaml")[1] == []
    assert format_problems(GOOD) == []


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("    title: Demo service\n", "    title: Demo service   \n", "demo.yaml:4: trailing spaces; remove them"),
        ("    title: Demo service\n", "    title:\tDemo service\n", "demo.yaml:4: a tab character"),
        ("\n\n  # a section", "\n\n\n  # a section", "demo.yaml:29: two blank lines in a row"),
        (
            "    as_of: 2026-11-26\n\n  #",
            "    as_of: 2026-11-26\n  #",
            "demo.yaml:29: no blank line before this service",
        ),
        (
            "    notes:\n      - Something worth knowing.\n    registered: []\n",
            "    registered: []\n    notes:\n      - Something worth knowing.\n",
            "demo.yaml:3: fields of 'demo' are out of order; write them as id, title, aliases, categories, status, "
            "description, ports, notes, registered, sources, as_of",
        ),
        (
            "        role: web\n        tls: false\n        note: The web interface.\n",
            "        role: web\n        note: The web interface.\n        tls: false\n",
            "demo.yaml:12: a port spec's note comes last",
        ),
        (
            "      - tcp: 8080\n        role: web\n",
            "      - role: web\n        tcp: 8080\n",
            "demo.yaml:12: a port spec starts with what it opens (tcp)",
        ),
        (
            "      - url: https://example.com/demo\n        title: Demo manual\n",
            "      - title: Demo manual\n        url: https://example.com/demo\n",
            "demo.yaml:24: a source starts with its kind",
        ),
        ("      - rfc: 9110\n", "      -   rfc: 9110\n", "demo.yaml:26: this item is not '- ' indented 6 spaces"),
        (
            "    sources:\n      - seed: Ports",
            "    sources:\n        - seed: Ports",
            "demo.yaml:37: this item is not '- ' indented 6 spaces",
        ),
        (
            "  - id: demo\n    title: Demo service\n",
            "  - title: Demo service\n    id: demo\n",
            "demo.yaml:3: this service does not start with '  - id: …'",
        ),
        (
            "# A comment before the list is fine.\nservices:",
            "# A comment\nitems: 1\nservices:",
            "demo.yaml:2: the file does not start with 'services:'",
        ),
    ],
)
def test_each_layout_mistake_is_reported_with_its_line(replace: str, by: str, expected: str) -> None:
    assert replace in GOOD
    found = format_problems(GOOD.replace(replace, by, 1))
    assert any(p.startswith(expected) or expected in p for p in found), found
    assert all(p.startswith("demo.yaml:") and ";" in p for p in found), found


def test_file_ends_and_line_ends() -> None:
    lines = GOOD.count("\n")
    assert format_problems(GOOD.rstrip("\n")) == [f"demo.yaml:{lines}: no newline at the end of the file; add one"]
    assert format_problems(GOOD + "\n") == [f"demo.yaml:{lines + 1}: blank lines at the end of the file; remove them"]
    assert format_problems(GOOD.replace("\n", "\r\n"))[0].startswith("demo.yaml:1: the file has CR line ends")


def test_validate_check_format_reports_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace("    title: Demo service\n", "    title: Demo service \n"), "utf-8")
    assert run_cli("validate", str(path)).returncode == 0  # the facts are fine
    result = run_cli("validate", "--check-format", str(path))
    assert result.returncode == 2
    assert f"{path}:4: trailing spaces; remove them" in result.stderr


# -- contradictions within an entry and between entries --------------------------------------------------------


def problems_of(text: str) -> list[str]:
    return [str(p) for p in check_text(textwrap.dedent(text), "demo.yaml")[1]]


def test_the_same_port_with_two_roles_is_an_error() -> None:
    text = GOOD.replace(
        "        multicast: [239.1.2.3]\n", "        multicast: [239.1.2.3]\n      - tcp: 8080\n        role: admin\n"
    )
    found = problems_of(text)
    assert found == [
        "demo.yaml:20: 8080/tcp is claimed twice with different roles (web on line 12, admin here); keep one role, "
        "or say how the two flows differ (direction, multicast, note)"
    ]


def with_spec(spec: str) -> str:
    """GOOD with one more port spec after its multicast one (the new spec is on line 20)."""
    anchor = "        multicast: [239.1.2.3]\n"
    return GOOD.replace(anchor, anchor + textwrap.indent(textwrap.dedent(spec), "      "), 1)


def test_the_same_port_twice_is_an_error_but_a_different_flow_is_not() -> None:
    twice = with_spec("- tcp: 8080\n  role: web\n")
    assert problems_of(twice) == ["demo.yaml:20: 8080/tcp is listed twice (also on line 12); remove one of the specs"]
    assert problems_of(with_spec("- tcp: 8080\n  role: web\n  direction: outbound\n")) == []
    assert problems_of(with_spec("- udp: 8080\n  role: discovery\n")) == []  # unicast and multicast: two flows
    assert problems_of(with_spec("- tcp: 9000\n  role: web\n")) == []


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def test_an_alias_that_is_another_service_s_id_or_title_is_an_error(tmp_path: Path) -> None:
    clash = write(tmp_path, "a.yaml", GOOD.replace("aliases: [demo app]", "aliases: [demo-two]"))
    with pytest.raises(CatalogError) as excinfo:
        load_catalog([clash], [])
    assert f"{clash}:3: alias 'demo-two' of 'demo' is the id of 'demo-two' ({clash}:30); remove the alias" in str(
        excinfo.value
    )
    title = write(tmp_path, "b.yaml", GOOD.replace("aliases: [demo app]", "aliases: [second demo]"))
    count, problems = validate_files([title])
    assert count == 2
    assert [p.message for p in problems if "alias" in p.message] == [
        f"alias 'second demo' of 'demo' is the title of 'demo-two' ({title}:30); remove the alias or make it more specific"
    ]


def test_a_pair_pointing_nowhere_and_a_duplicate_id_are_errors(tmp_path: Path) -> None:
    paired = GOOD.replace(
        "        multicast: [239.1.2.3]\n", "        multicast: [239.1.2.3]\n        pair: {ref: nowhere, offset: 1}\n"
    )
    path = write(tmp_path, "pair.yaml", paired)
    with pytest.raises(CatalogError, match=r"pair\.yaml:16: reference to unknown service 'nowhere'"):
        load_catalog([path], [])
    twice = write(tmp_path, "twice.yaml", GOOD.replace("id: demo-two", "id: demo"))
    with pytest.raises(CatalogError, match=r"twice\.yaml:30: duplicate id 'demo' \(also at .*twice\.yaml:3\)"):
        load_catalog([twice], [])
