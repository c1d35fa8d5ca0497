"""aerleon:<platform>: golden Junos, Cisco IOS and PAN-OS output through the optional aerleon library.

No device runs here, so each output is checked by a strict offline reader: Junos configuration syntax (braces,
statements, terms with from/then), Cisco IOS access-list entry grammar, and PAN-OS XML structure; and every port,
protocol and address the selection asks for must be matched by a rule (not just named in a comment).
"""

from __future__ import annotations

import importlib
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import RulesError, UnsupportedError
from anyport.rules.options import make_options
from anyport.rules.selection import select
from anyport.rules.targets import get_target

pytest.importorskip("aerleon", reason="aerleon (the 'aerleon' extra) is not installed: pip install 'anyport[aerleon]'")

from anyport.rules.targets import aerleon_bridge
from test_rules import CASES

PLATFORMS = ("juniper", "cisco", "paloalto")
GOLDEN = Path(__file__).resolve().parent / "golden" / "aerleon"
HOSTILE_BITS = ("$(", "${", "`", "\\", "<script>", '"quoted"', "%s")  # the title survives only as plain words
Ports = dict[str, set[int]]


def expected(kb: KnowledgeBase, case: str, transports: tuple[str, ...]) -> Ports:
    services, options = CASES[case]
    selection = select(kb, services, make_options(**options))  # type: ignore[arg-type]
    return {
        t: {p for r in selection.merged(t) for p in range(r.start, r.end + 1)}
        for t in selection.transports()
        if t in transports
    }


# --- Junos ------------------------------------------------------------------------------------------------------


def parse_junos(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Junos configuration text -> (term name, {'from': [...], 'then': [...]}) in order; syntax errors fail."""
    body = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    assert "/*" not in body, "unbalanced comment"
    assert "*/" not in body, "unbalanced comment"
    tokens = re.findall(r"\[|\]|\{|\}|;|[^\s\[\]{};]+", body)
    stack: list[list[Any]] = [[]]
    statement: list[str] = []
    in_list = False
    for token in tokens:
        if token == "[":
            assert not in_list
            in_list = True
            statement.append("[")
        elif token == "]":
            assert in_list
            in_list = False
            statement.append("]")
        elif token == "{":
            assert statement, "a block needs a name"
            assert not in_list, "a block inside a list"
            block: list[Any] = []
            stack[-1].append((" ".join(statement), block))
            stack.append(block)
            statement = []
        elif token == "}":
            assert not statement, f"statement {statement} not ended by ';'"
            assert len(stack) > 1, "unbalanced '}'"
            stack.pop()
        elif token == ";":
            assert statement
            assert not in_list
            stack[-1].append(" ".join(statement))
            statement = []
        else:
            assert re.fullmatch(r"[A-Za-z0-9_.:/\-]+", token), f"unexpected token {token!r}"
            statement.append(token)
    assert len(stack) == 1, "unbalanced braces"
    assert not statement, "a statement not ended by ';'"
    terms: list[tuple[str, dict[str, Any]]] = []

    def walk(items: list[Any]) -> None:
        for item in items:
            if not isinstance(item, tuple):
                continue
            name, block = item
            if not name.startswith("term "):
                walk(block)
                continue
            matches = [b for i in block if isinstance(i, tuple) and i[0] == "from" for b in [i[1]]]
            then = [i for i in block if isinstance(i, str) and i.startswith("then ")]
            then += [f"then {x}" for i in block if isinstance(i, tuple) and i[0] == "then" for x in i[1]]
            terms.append((name[5:], {"from": matches[0] if matches else [], "then": then}))

    walk(stack[0])
    return terms


def junos_ports(terms: list[tuple[str, dict[str, Any]]], action: str) -> Ports:
    found: Ports = {}
    for _name, term in terms:
        assert term["then"], "a term without an action"
        assert all(t.split()[1] in ("accept", "discard", "reject") for t in term["then"])
        if f"then {action}" not in term["then"]:
            continue
        statements = [s for s in term["from"] if isinstance(s, str)]
        protocol = [s.split(None, 1)[1] for s in statements if s.split()[0] in ("protocol", "next-header")]
        dports = [s.split(None, 1)[1].strip("[] ").split() for s in statements if s.startswith("destination-port")]
        if protocol and dports:
            for spec in dports[0]:
                start, _, end = spec.partition("-")
                found.setdefault(protocol[0], set()).update(range(int(start), int(end or start) + 1))
    return found


# --- Cisco IOS ----------------------------------------------------------------------------------------------------

ADDR4 = r"(?:any|host \d+\.\d+\.\d+\.\d+|\d+\.\d+\.\d+\.\d+ \d+\.\d+\.\d+\.\d+)"
ADDR6 = r"(?:any|host [0-9a-f:]+|[0-9a-f:]+/\d+)"
PORT = r"(?: (?:eq \d+|range \d+ \d+|established|\d+))?"
CISCO_LINE = re.compile(
    rf"^(?:! .*|!|no ip access-list extended [\w-]+|ip access-list extended [\w-]+|no ipv6 access-list [\w-]+|"
    rf"ipv6 access-list [\w-]+|exit| remark [ -~]{{1,100}}|"
    rf" (?:permit|deny) (?:tcp|udp|icmp|ip|ipv6|\d+) (?:{ADDR4}|{ADDR6}) (?:{ADDR4}|{ADDR6}){PORT})$"
)


def cisco_ports(text: str, action: str) -> Ports:
    found: Ports = {}
    for line in text.splitlines():
        if not line:
            continue
        assert CISCO_LINE.match(line), f"not IOS access-list syntax: {line!r}"
        match = re.match(r"^ (permit|deny) (tcp|udp) .*? (eq (\d+)|range (\d+) (\d+))$", line)
        if match and match.group(1) == action:
            start = int(match.group(4) or match.group(5))
            end = int(match.group(4) or match.group(6))
            found.setdefault(match.group(2), set()).update(range(start, end + 1))
    return found


# --- PAN-OS -------------------------------------------------------------------------------------------------------


def paloalto_ports(text: str, action: str) -> Ports:
    root = ET.fromstring(text.split("\n", 1)[1] if text.startswith("<?xml") else text)
    vsys = root.find("./devices/entry/vsys/entry")
    assert vsys is not None
    services: dict[str, tuple[str, str]] = {}
    for entry in vsys.findall("./service/entry"):
        (proto,) = list(entry.find("protocol") or [])
        port = proto.findtext("port")
        assert port
        assert re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", port)
        services[entry.get("name", "")] = (proto.tag, port)
    found: Ports = {}
    rules = vsys.findall("./rulebase/security/rules/entry")
    assert rules
    for rule in rules:
        for part in ("from", "to", "source", "destination", "service", "application", "action"):
            assert rule.find(part) is not None, f"rule {rule.get('name')} lacks <{part}>"
        assert rule.findtext("action") in ("allow", "deny", "drop", "reset-client", "reset-server", "reset-both")
        verdict = "permit" if rule.findtext("action") == "allow" else "deny"
        for member in rule.findall("./service/member"):
            name = member.text or ""
            if name in ("any", "application-default"):
                continue
            assert name in services, f"rule {rule.get('name')} names undefined service {name}"
            if verdict == action:
                proto, ports = services[name]
                for spec in ports.split(","):
                    start, _, end = spec.partition("-")
                    found.setdefault(proto, set()).update(range(int(start), int(end or start) + 1))
    return found


def validate(platform: str, text: str, action: str) -> Ports:
    """The platform's reader; returns the ports its rules match with the given action (permit/deny)."""
    if platform == "juniper":
        return junos_ports(parse_junos(text), "accept" if action == "permit" else "reject")
    if platform == "cisco":
        return cisco_ports(text, action)
    return paloalto_ports(text, action)


# --- tests --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("platform", PLATFORMS)
def test_golden_output(kb_hostile: KnowledgeBase, platform: str, case: str, golden) -> None:  # type: ignore[no-untyped-def]
    services, options = CASES[case]
    output = api.rules(services, target=f"aerleon:{platform}", best_effort=True, kb=kb_hostile, **options)  # type: ignore[arg-type]
    target = get_target(f"aerleon:{platform}")
    assert list(output.files) == [""]
    text = output.files[""]
    golden(f"aerleon/{platform}-{case}{target.suffix}", text)
    for bit in HOSTILE_BITS:
        assert bit not in text, f"{bit!r} reached the {platform} output"
    deny = options.get("action") == "deny"
    found = validate(platform, text, "deny" if deny else "permit")
    assert found == expected(kb_hostile, case, target.transports)
    if deny and platform == "juniper" and options.get("reject"):
        assert "reject;" in text


def test_golden_files_exist() -> None:
    names = {p.name for p in GOLDEN.glob("*") if not p.name.endswith(".actual")}
    wanted = {f"{p}-{c}{get_target('aerleon:' + p).suffix}" for p in PLATFORMS for c in CASES}
    assert names == wanted


def test_readers_can_fail() -> None:
    good = (GOLDEN / "juniper-mixed.jcl").read_text("utf-8")
    with pytest.raises(AssertionError):
        parse_junos(good.replace("then accept;", "then accept", 1))
    with pytest.raises(AssertionError):
        parse_junos(good + "}\n")
    with pytest.raises(AssertionError):
        cisco_ports(" permit tcp any any eq 22 log; rm -rf /\n", "permit")
    with pytest.raises(AssertionError):
        paloalto_ports('<?xml version="1.0" ?>\n<config><devices/></config>', "permit")


def test_gre_goes_by_number_on_cisco_and_by_name_on_panos(kb: KnowledgeBase) -> None:
    cisco = api.rules(["pptp"], target="aerleon:cisco", best_effort=True, kb=kb).text
    assert " permit 47 any any" in cisco
    assert "gre" not in re.sub(r"(?m)^ remark.*$", "", cisco)
    panos = api.rules(["pptp"], target="aerleon:paloalto", best_effort=True, kb=kb).text
    assert "<member>gre</member>" in panos


def test_stateless_filters_keep_replies_and_ipv6_working(kb: KnowledgeBase) -> None:
    junos = api.rules(["ssh"], target="aerleon:juniper", kb=kb).text
    terms = dict(parse_junos(junos))
    assert list(terms)[:2] == ["established-tcp-v4", "icmp-v4"]
    assert "tcp-established" in terms["established-tcp-v4"]["from"]
    assert "icmpv6-v6" in terms  # neighbour discovery: an inet6 filter without it cuts IPv6 off
    cisco = api.rules(["ssh"], target="aerleon:cisco", kb=kb).text
    assert " permit tcp any any established" in cisco
    assert " permit 58 any any" in cisco


def test_deny_ends_with_accepting_the_rest(kb: KnowledgeBase) -> None:
    cisco = api.rules(["ssh"], target="aerleon:cisco", action="deny", kb=kb).text
    entries = [line for line in cisco.splitlines() if line.startswith((" permit", " deny"))]
    assert entries == [
        " deny tcp any any eq 22",
        " permit ip any any",
        " deny tcp any any eq 22",
        " permit ipv6 any any",
    ]
    assert "established" not in cisco


def test_own_sources_get_their_own_terms(kb: KnowledgeBase) -> None:
    cisco = api.rules(["https", "ssh@192.0.2.0/24"], target="aerleon:cisco", kb=kb).text
    assert " permit tcp any any eq 443" in cisco
    assert " permit tcp 192.0.2.0 0.0.0.255 any eq 22" in cisco
    assert " permit tcp any any eq 22" not in cisco


def test_unsupported_features_are_named(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["sip", "ftp"], target="aerleon:cisco", interface="eth0", kb=kb)
    message = str(excinfo.value)
    for fragment in ("sctp ports 5060", "conntrack helper ftp", "interface eth0"):
        assert fragment in message
    with pytest.raises(UnsupportedError, match="reject"):
        api.rules(["ssh"], target="aerleon:cisco", action="deny", reject=True, kb=kb)
    with pytest.raises(UnsupportedError, match="IP protocol 41"):
        api.rules(["ip:41"], target="aerleon:paloalto", kb=kb)
    with pytest.raises(UnsupportedError, match="dccp ports 5004"):
        api.rules(["dccp/5004"], target="aerleon:juniper", kb=kb)


@pytest.mark.parametrize("name", ["nftables", "iptables", "speedway"])
def test_weak_aerleon_outputs_are_refused(name: str) -> None:
    with pytest.raises(RulesError, match="use --target"):
        get_target(f"aerleon:{name}")


def test_unknown_platform_lists_the_choices() -> None:
    with pytest.raises(RulesError, match="aerleon:cisco, aerleon:juniper, aerleon:paloalto"):
        get_target("aerleon:fortinet")


def test_missing_aerleon_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in [m for m in sys.modules if m == "aerleon" or m.startswith("aerleon.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "aerleon", None)  # what an absent package looks like to import
    with pytest.raises(RulesError) as excinfo:
        get_target("aerleon:juniper")
    assert str(excinfo.value) == "the aerleon target needs the aerleon library: pip install 'anyport[aerleon]'"
    with pytest.raises(ImportError):
        importlib.import_module("aerleon.api")


def test_a_misspelled_key_is_an_error_not_an_open_term(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    # aerleon only warns about an unknown key and the term then matches every port: the warning must stop us.
    monkeypatch.setattr(aerleon_bridge, "K_DPORT", "destination-prot")
    with pytest.raises(RulesError, match="aerleon warned"):
        api.rules(["ssh"], target="aerleon:juniper", kb=kb)


class FakeApi:
    def __init__(self, text: str) -> None:
        self.text = text

    def Generate(self, policies: list[Any], definitions: Any) -> dict[str, str]:
        return {"anyport.acl": self.text}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (" permit tcp any any eq 443\n", "lacks 22/tcp"),
        ("", "empty"),
        (" remark 22\n", "empty"),  # a port named only in a comment is not a rule
        (" remark $(id)\n permit tcp any any eq 22\n", "'$('"),
    ],
)
def test_output_is_checked_before_it_is_trusted(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch, text: str, fragment: str
) -> None:
    _real_api, naming = aerleon_bridge._import_aerleon()
    monkeypatch.setattr(aerleon_bridge, "_import_aerleon", lambda: (FakeApi(text), naming))
    with pytest.raises(RulesError, match=re.escape(fragment)):
        api.rules(["ssh"], target="aerleon:cisco", ipv4_only=True, kb=kb)


@given(st.text(max_size=300))
def test_comments_reaching_aerleon_are_harmless(text: str) -> None:
    result = aerleon_bridge.safe_comment(text)
    assert re.fullmatch(r"[A-Za-z0-9 .,:/_+=()\[\]@-]*", result)
    assert "\n" not in result
