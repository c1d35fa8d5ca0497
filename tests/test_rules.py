"""``anyport rules``: golden output for every target, checked by each platform's own tools; bad input."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyport import api
from anyport.errors import NotFoundError, QueryError
from anyport.model import PortRange, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import RulesError, UnsupportedError
from anyport.rules.targets import TARGETS, get_target
from anyport.rules.targets.iptables import MULTIPORT_SLOTS, multiport_groups
from conftest import run_cli

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile.yaml"
GOLDEN_RULES = Path(__file__).resolve().parent / "golden" / "rules"

CASES: dict[str, tuple[list[str], dict[str, object]]] = {
    "mixed": (["ftp", "sip", "pptp", "netmeeting", "bittorrent", "tcp/8443", "ip:50", "evil-service"], {}),
    "sources": (
        ["ssh", "dns", "https"],
        {"sources": ["192.0.2.0/24", "2001:db8::/32"], "dests": ["198.51.100.7"], "interface": "eth0"},
    ),
    "deny-out": (["bittorrent", "irc"], {"direction": "out", "action": "deny", "reject": True}),
    "ipv4-only": (["snmp", "tftp", "ntp", "udp/5000-5010"], {"ipv4_only": True}),
    # The administrator's request: SIP and RTP in from anywhere, SSH only from the admin network.
    "admin": (["sip", "rtp", "ssh@192.0.2.0/24,2001:db8::/32"], {}),
}


def golden_name(target: str, case: str, suffix: str) -> str:
    return f"rules/{target}-{case}{get_target(target).suffix}{suffix}"


def validate_nftables(path: Path) -> None:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (scripts/install-test-deps.sh installs it)")
    result = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def validate_iptables(path: Path) -> None:
    tool = "ip6tables-restore" if path.name.endswith(".v6") else "iptables-restore"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (scripts/install-test-deps.sh installs it)")
    result = subprocess.run([tool, "--test", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# Targets validated by their platform's own tool here; the others have their validators in tests/test_target_*.py.
VALIDATORS = {"nftables": validate_nftables, "iptables": validate_iptables}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_golden_output_per_target(kb_hostile: KnowledgeBase, target: str, case: str, golden, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    services, options = CASES[case]
    output = api.rules(services, target=target, best_effort=True, kb=kb_hostile, **options)  # type: ignore[arg-type]
    for suffix, text in output.files.items():
        golden(golden_name(target, case, suffix), text)
        assert "\x1b" not in text
        path = tmp_path / f"out{suffix}"
        path.write_text(text, "utf-8")
        if target in VALIDATORS:
            VALIDATORS[target](path)


def test_every_golden_file_is_still_produced() -> None:
    expected = {golden_name(t, c, "") for t in TARGETS for c in CASES}
    present = {f"rules/{p.name}" for p in GOLDEN_RULES.glob("*") if not p.name.endswith(".actual")}
    stale = {p for p in present if not any(p.startswith(e) for e in expected)}
    assert not stale, f"golden files no test produces: {sorted(stale)}"


def test_output_is_deterministic(kb: KnowledgeBase) -> None:
    first = api.rules(["sip", "ftp", "bittorrent"], target="nftables", kb=kb).text
    second = api.rules(["bittorrent", "ftp", "sip"], target="nftables", kb=kb).text
    assert first.split("\n", 2)[2] != ""  # the header names the request order, the rules do not depend on it
    assert first.split("table inet", 1)[1] == second.split("table inet", 1)[1]


def test_references_are_included_and_explained(kb: KnowledgeBase) -> None:
    text = api.rules(["netmeeting"], kb=kb).text
    for ref in ("ldap", "ulp", "h323-hostcall", "ms-iccp"):
        assert ref in text
    assert "1720" in text  # H.323 host call, through the reference
    assert "left out:" in text
    assert "1024-65535/tcp" in text  # the dynamic range is named in the header, not opened


def test_include_dynamic_opens_the_range(kb: KnowledgeBase) -> None:
    text = api.rules(["netmeeting"], include_dynamic=True, kb=kb).text
    assert "1024-65535" in text.split("table inet", 1)[1]


def test_helpers_replace_negotiated_ports(kb: KnowledgeBase) -> None:
    text = api.rules(["ftp"], kb=kb).text
    rules = text.split("table inet", 1)[1]
    assert 'type "ftp" protocol tcp' in rules
    assert "1024-65535" not in rules


@pytest.mark.parametrize(
    ("services", "options", "error", "fragment"),
    [
        (["bittorent"], {}, NotFoundError, "did you mean bittorrent"),
        ([], {}, QueryError, "no services given"),
        (["ssh"], {"sources": ["192.0.2.300/24"]}, QueryError, "'192.0.2.300/24' is not an IP network"),
        (["tcp/70000"], {}, QueryError, "port 70000 is out of range"),
        (["tcp/0"], {}, QueryError, "port 0 cannot be opened"),
        (["8443"], {}, QueryError, "needs a transport"),
        (["ssh"], {"target": "nftabels"}, RulesError, "did you mean nftables"),
        (["ssh"], {"interface": "eth0; rm -rf /"}, QueryError, "is not an interface name"),
        (["ssh"], {"ipv4_only": True, "sources": ["2001:db8::/32"]}, QueryError, "no address family"),
    ],
)
def test_bad_input(
    kb: KnowledgeBase, services: list[str], options: dict[str, object], error: type, fragment: str
) -> None:
    with pytest.raises(error) as excinfo:
        api.rules(services, kb=kb, **options)  # type: ignore[arg-type]
    assert fragment in str(excinfo.value)


def test_bad_input_on_the_command_line_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "rules.nft"
    result = run_cli("rules", "ssh", "--source", "not-a-cidr", "-o", str(target))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "not an IP network" in result.stderr
    assert not target.exists()
    missing_dir = run_cli("rules", "ssh", "-o", str(tmp_path / "nope" / "rules.nft"))
    assert missing_dir.returncode == 2
    assert "does not exist" in missing_dir.stderr


def test_cli_writes_one_file_per_family(tmp_path: Path) -> None:
    base = tmp_path / "rules"
    result = run_cli("rules", "ssh", "--target", "iptables", "-o", str(base))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rules.v4").read_text().startswith("# Generated by anyport")
    assert "ip6tables-restore" in (tmp_path / "rules.v6").read_text()


def test_list_targets() -> None:
    result = run_cli("rules", "--list-targets")
    assert result.returncode == 0
    for name in TARGETS:
        assert name in result.stdout


@given(st.lists(st.tuples(st.integers(1, 65535), st.integers(0, 50)), min_size=1, max_size=60))
def test_multiport_groups_respect_the_limit_and_cover_everything(pairs: list[tuple[int, int]]) -> None:
    ranges = merge_ranges([PortRange(a, min(65535, a + w)) for a, w in pairs])
    groups = multiport_groups(ranges)
    covered = []
    for group in groups:
        slots = 0
        for part in group.split(","):
            start, _, end = part.partition(":")
            slots += 2 if end else 1
            covered.append(PortRange(int(start), int(end or start)))
        assert slots <= MULTIPORT_SLOTS
    assert merge_ranges(covered) == ranges


def test_unsupported_features_are_reported_together(kb: KnowledgeBase) -> None:
    from anyport.rules.base import Target

    class Limited(Target):
        name = "limited"
        title = "a limited platform"
        ip_protocols = False
        transports = ("tcp",)

        def render(self, selection, options):  # type: ignore[no-untyped-def]
            return {"": "\\n".join(self.header(selection, options)) + "\\n"}

    from anyport.rules.options import make_options
    from anyport.rules.selection import select

    options = make_options()
    selection = select(kb, ["pptp", "sip", "ftp"], options)
    with pytest.raises(UnsupportedError) as excinfo:
        Limited().generate(selection, options)
    message = str(excinfo.value)
    assert "IP protocol 47" in message
    assert "udp ports 5060" in message
    assert "conntrack helper" in message
    best = Limited().generate(selection, make_options(best_effort=True))
    assert "NOT EXPRESSED" in best.text
    assert "IP protocol 47" in best.text
