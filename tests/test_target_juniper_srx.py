"""juniper-srx target: every output is checked against the Junos ``set`` command subset it emits.

No Junos can run here, so the check is a grammar of the statements from Juniper's [edit applications],
[edit security address-book] and [edit security policies] hierarchies: a tokenizer for Junos words and quoted
strings (only ``\\"`` and ``\\\\`` escapes), the exact statement paths, names of letters, digits, '-' and '_'
(63 characters at most), ports 0-65535 with low <= high, protocol keywords or numbers, ALG names SRX has and the
transport each ALG runs on, references defined before commit, policies complete (source, destination,
application, one action), and every object deleted before it is set (so loading twice gives the same
configuration). The parsed policies are then compared with what the selection asks for.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anyport import api
from anyport.model import PortRange, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError, clean_text
from anyport.rules.options import make_options
from anyport.rules.selection import select
from anyport.rules.targets.juniper_srx import JuniperSrx, ascii_text, junos_name, junos_quote
from test_rules import CASES

GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
WORD = re.compile(r"[A-Za-z0-9._:/-]+")
PROTOCOLS = {"ah": 51, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmp6": 58, "igmp": 2, "ipip": 4, "ospf": 89,
             "pim": 103, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17}  # fmt: skip
# ALGs of SRX ([edit applications application NAME term T alg]) and the transport of their control port.
ALG_TRANSPORTS = {"ftp": {"tcp"}, "tftp": {"udp"}, "sip": {"tcp", "udp"}, "q931": {"tcp"}, "ras": {"udp"},
                  "pptp": {"tcp"}, "rsh": {"tcp"}, "rtsp": {"tcp"}, "sccp": {"tcp"}, "sqlnet-v2": {"tcp"},
                  "talk": {"udp"}, "dns": {"udp", "tcp"}, "mgcp-ca": {"udp"}, "mgcp-ua": {"udp"},
                  "ms-rpc": {"tcp", "udp"}, "sun-rpc": {"tcp", "udp"}, "realaudio": {"tcp"}}  # fmt: skip
PREDEFINED_ADDRESSES = {"any", "any-ipv4", "any-ipv6"}


class JunosError(AssertionError):
    pass


def words(line: str) -> list[str]:
    """Junos CLI words: plain words, or double-quoted strings with \\" and \\\\ escapes."""
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == " ":
            i += 1
            continue
        if c == '"':
            value = ""
            i += 1
            while True:
                if i >= len(line):
                    raise JunosError(f"unterminated string in {line!r}")
                c = line[i]
                if c == "\\":
                    if i + 1 >= len(line) or line[i + 1] not in '"\\':
                        raise JunosError(f"unknown escape in {line!r}")
                    value += line[i + 1]
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                value += c
                i += 1
            if i < len(line) and line[i] != " ":
                raise JunosError(f"text right after a string in {line!r}")
            out.append('"' + value)  # a leading quote marks a string value
            continue
        match = WORD.match(line, i)
        if match is None:
            raise JunosError(f"character {c!r} outside a string in {line!r}")
        out.append(match[0])
        i = match.end()
        if i < len(line) and line[i] != " ":
            raise JunosError(f"character {line[i]!r} outside a string in {line!r}")
    return out


@dataclass
class Application:
    leaves: dict[str, str] = field(default_factory=dict)
    terms: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Policy:
    zones: tuple[str, str]
    sources: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    applications: list[str] = field(default_factory=list)
    then: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class Junos:
    applications: dict[str, Application] = field(default_factory=dict)
    application_sets: dict[str, list[str]] = field(default_factory=dict)
    addresses: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=dict)
    address_sets: dict[str, list[str]] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)


def _name(text: str) -> str:
    if not NAME.fullmatch(text):
        raise JunosError(f"name {text!r}: letters, digits, '-' and '_', 63 characters at most")
    return text


def _string(word: str) -> str:
    if not word.startswith('"'):
        raise JunosError(f"{word!r} should be a quoted string")
    value = word[1:]
    if not value.isascii() or not value.isprintable() or len(value) > 900:
        raise JunosError("descriptions are printable ASCII, 900 characters at most")
    return value


def _port(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if match is None:
        raise JunosError(f"port {text!r}")
    low, high = int(match[1]), int(match[2] or match[1])
    if not 0 <= low <= high <= 65535:
        raise JunosError(f"port {text!r} outside 0-65535 or reversed")
    return low, high


def _protocol(text: str) -> int:
    if text in PROTOCOLS:
        return PROTOCOLS[text]
    if text.isdigit() and int(text) <= 255:
        return int(text)
    raise JunosError(f"protocol {text!r}")


def _object_key(path: list[str]) -> str | None:
    """'application NAME', 'application-set NAME'... for a statement path that names an object."""
    if path[:2] == ["applications", "application"] and len(path) >= 3:
        return f"application {path[2]}"
    if path[:2] == ["applications", "application-set"] and len(path) >= 3:
        return f"application-set {path[2]}"
    if path[:4] == ["security", "address-book", "global", "address"] and len(path) >= 5:
        return f"address {path[4]}"
    if path[:4] == ["security", "address-book", "global", "address-set"] and len(path) >= 5:
        return f"address-set {path[4]}"
    if path[:2] == ["security", "policies"] and len(path) >= 8:
        return f"policy {path[3]} {path[5]} {path[7]}"
    return None


def parse_set(text: str) -> Junos:
    conf = Junos()
    for number, line in enumerate(text.split("\n"), 1):
        if "?" in line:
            raise JunosError(f"line {number}: '?' makes the CLI print help instead of taking the line")
        if not line or line.startswith("#"):
            if not line.isascii() or not line.isprintable():
                raise JunosError(f"line {number}: comments are printable ASCII")
            continue
        if not line.isascii() or not line.isprintable():
            raise JunosError(f"line {number}: only printable ASCII")
        w = words(line)
        verb, path = w[0], w[1:]
        key = _object_key(path)
        if key is None:
            raise JunosError(f"line {number}: unknown statement {line!r}")
        if verb == "delete":
            exact = {"application": 3, "application-set": 3, "address": 5, "address-set": 5, "policy": 8}
            if len(path) != exact[key.split(" ")[0]]:
                raise JunosError(f"line {number}: delete a whole object, not {line!r}")
            conf.deleted.add(key)
            continue
        if verb != "set":
            raise JunosError(f"line {number}: {verb!r}")
        if key not in conf.deleted:
            raise JunosError(f"line {number}: {key} is set without being deleted first: loading twice would merge")
        _statement(path, conf, number)
    _check(conf)
    return conf


def _statement(path: list[str], conf: Junos, number: int) -> None:
    where = f"line {number}"
    if path[:2] == ["applications", "application"]:
        app = conf.applications.setdefault(_name(path[2]), Application())
        rest = path[3:]
        if rest[:1] == ["term"] and len(rest) == 4:
            term = app.terms.setdefault(_name(rest[1]), {})
            rest = rest[2:]
            if rest[0] not in ("protocol", "destination-port", "alg") or rest[0] in term:
                raise JunosError(f"{where}: term statement {rest}")
            term[rest[0]] = rest[1]
        elif len(rest) == 2 and rest[0] in ("protocol", "destination-port", "application-protocol"):
            if rest[0] in app.leaves:
                raise JunosError(f"{where}: {rest[0]} set twice")
            app.leaves[rest[0]] = rest[1]
        else:
            raise JunosError(f"{where}: application statement {rest}")
    elif path[:2] == ["applications", "application-set"]:
        if len(path) != 5 or path[3] != "application":
            raise JunosError(f"{where}: application-set statement")
        conf.application_sets.setdefault(_name(path[2]), []).append(path[4])
    elif path[:4] == ["security", "address-book", "global", "address"]:
        if len(path) != 6 or path[4] in conf.addresses:
            raise JunosError(f"{where}: address statement")
        try:
            conf.addresses[_name(path[4])] = ipaddress.ip_network(path[5], strict=True)
        except ValueError:
            raise JunosError(f"{where}: address prefix {path[5]!r}") from None
    elif path[:4] == ["security", "address-book", "global", "address-set"]:
        if len(path) != 7 or path[5] != "address":
            raise JunosError(f"{where}: address-set statement")
        conf.address_sets.setdefault(_name(path[4]), []).append(path[6])
    else:
        if path[2] != "from-zone" or path[4] != "to-zone" or path[6] != "policy":
            raise JunosError(f"{where}: policy path")
        zones = (_name(path[3]), _name(path[5]))
        policy = conf.policies.setdefault(_name(path[7]), Policy(zones))
        if policy.zones != zones:
            raise JunosError(f"{where}: policy {path[7]} in two zone pairs")
        rest = path[8:]
        if rest == ["then", rest[-1]] and rest[-1] in ("permit", "deny", "reject"):
            policy.then.append(rest[1])
        elif len(rest) == 2 and rest[0] == "description":
            policy.description = _string(rest[1])
        elif len(rest) == 3 and rest[0] == "match" and rest[1] == "source-address":
            policy.sources.append(rest[2])
        elif len(rest) == 3 and rest[0] == "match" and rest[1] == "destination-address":
            policy.destinations.append(rest[2])
        elif len(rest) == 3 and rest[0] == "match" and rest[1] == "application":
            policy.applications.append(rest[2])
        else:
            raise JunosError(f"{where}: policy statement {rest}")


def _check(conf: Junos) -> None:
    """What commit check would refuse: incomplete objects and dangling references."""
    for name, app in conf.applications.items():
        parts = [app.leaves] if not app.terms else list(app.terms.values())
        if app.terms and ({"protocol", "destination-port"} & set(app.leaves)):
            raise JunosError(f"application {name}: terms and application-level match together")
        for part in parts:
            if "protocol" not in part:
                raise JunosError(f"application {name}: no protocol")
            proto = _protocol(part["protocol"])
            if "destination-port" in part:
                if proto not in (6, 17):
                    raise JunosError(f"application {name}: destination-port needs tcp or udp")
                _port(part["destination-port"])
            elif proto in (6, 17):
                raise JunosError(f"application {name}: tcp/udp without destination-port opens every port")
        alg = app.leaves.get("application-protocol")
        if alg is not None and (alg not in ALG_TRANSPORTS or app.leaves.get("protocol") not in ALG_TRANSPORTS[alg]):
            raise JunosError(f"application {name}: ALG {alg} over {app.leaves.get('protocol')}")
    for name, members in conf.application_sets.items():
        for member in members:
            if member not in conf.applications:
                raise JunosError(f"application-set {name}: {member} is not defined")
    for name, members in conf.address_sets.items():
        for member in members:
            if member not in conf.addresses:
                raise JunosError(f"address-set {name}: {member} is not defined")
    for name, policy in conf.policies.items():
        if not policy.sources or not policy.destinations or not policy.applications or len(policy.then) != 1:
            raise JunosError(f"policy {name} is incomplete")
        for address in policy.sources + policy.destinations:
            if address not in PREDEFINED_ADDRESSES | set(conf.address_sets) | set(conf.addresses):
                raise JunosError(f"policy {name}: address {address} is not defined")
        for app in policy.applications:
            if app not in conf.applications and app not in conf.application_sets:
                raise JunosError(f"policy {name}: application {app} is not defined")


# ---------------------------------------------------------------------------------------------------------------


def golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.glob("juniper-srx-*.set") if not p.name.endswith(".actual"))


def test_golden_files_exist() -> None:
    assert {p.name for p in golden_files()} == {f"juniper-srx-{case}.set" for case in CASES}


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_is_valid_junos(path: Path) -> None:
    conf = parse_set(path.read_text("utf-8"))
    assert conf.policies


def _policy_content(conf: Junos, policy: Policy) -> tuple[frozenset[str], dict[str, list[PortRange]], set[int]]:
    sources: set[str] = set()
    for address in policy.sources:
        members = conf.address_sets.get(address, [address] if address in conf.addresses else [])
        sources |= {str(conf.addresses[m]) for m in members}
    ports: dict[str, list[PortRange]] = {"tcp": [], "udp": []}
    protocols: set[int] = set()
    for name in policy.applications:
        for app_name in conf.application_sets.get(name, [name]):
            app = conf.applications[app_name]
            for part in [app.leaves] if not app.terms else list(app.terms.values()):
                number = _protocol(part["protocol"])
                if "destination-port" in part:
                    ports[part["protocol"]].append(PortRange(*_port(part["destination-port"])))
                else:
                    protocols.add(number)
    return frozenset(sources), {t: merge_ranges(r) for t, r in ports.items() if r}, protocols


@pytest.mark.parametrize("case", sorted(CASES))
def test_policies_say_exactly_what_the_selection_holds(kb_hostile: KnowledgeBase, case: str) -> None:
    services, given = CASES[case]
    options = make_options(best_effort=True, **given)  # type: ignore[arg-type]
    selection = select(kb_hostile, services, options)
    conf = parse_set(JuniperSrx().generate(selection, options).text)
    expected = []
    for group in selection.groups(options):
        families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
        if not families:
            continue
        sources = frozenset(str(n) for n in group.sources if ("ipv4" if n.version == 4 else "ipv6") in families)
        ports = {t: group.merged(t) for t in ("tcp", "udp") if group.merged(t)}
        protocols = {p for p in group.protocol_numbers() if {1: "ipv4", 58: "ipv6"}.get(p, families[0]) in families}
        expected.append((sources, ports, protocols))
    actual = [_policy_content(conf, policy) for policy in conf.policies.values()]
    assert sorted(map(repr, actual)) == sorted(map(repr, expected))
    verdict = "permit" if options.action == "allow" else ("reject" if options.reject else "deny")
    zones = ("untrust", "trust") if options.direction == "in" else ("trust", "untrust")
    for policy in conf.policies.values():
        assert policy.then == [verdict]
        assert policy.zones == zones
        if options.dests:
            assert [str(conf.addresses[m]) for d in policy.destinations for m in conf.address_sets[d]] == [
                str(n) for n in options.dests
            ]


def test_helpers_become_algs_on_their_exact_ports(kb: KnowledgeBase) -> None:
    conf = parse_set(
        api.rules(["ftp", "sip", "h323-ras", "pptp", "tftp"], target="juniper-srx", best_effort=True, kb=kb).text
    )
    algs = {
        (app.leaves["application-protocol"], app.leaves["protocol"], app.leaves["destination-port"])
        for app in conf.applications.values()
        if "application-protocol" in app.leaves
    }
    assert algs == {
        ("ftp", "tcp", "21"),
        ("sip", "tcp", "5060"),
        ("sip", "udp", "5060"),
        ("q931", "tcp", "1720"),
        ("ras", "udp", "1719"),
        ("pptp", "tcp", "1723"),
        ("tftp", "udp", "69"),
    }
    # The control port is not also in a plain application (which would bypass the ALG).
    plain = [
        (app.leaves.get("protocol"), app.leaves.get("destination-port"))
        for app in conf.applications.values()
        if "application-protocol" not in app.leaves
    ]
    assert ("tcp", "21") not in plain
    assert ("udp", "5060") not in plain


def test_unsupported_features_are_named_in_strict_mode(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["sip", "snmp", "amanda"], target="juniper-srx", interface="ge0", kb=kb)
    items = excinfo.value.items
    assert "sctp ports 5060 (sip)" in items
    assert "interface ge0" in items
    assert any(i.startswith("conntrack helper snmp for 161/udp (snmp): SRX has no ALG") for i in items)
    assert any(i.startswith("conntrack helper amanda for 10080/udp (amanda): SRX has no ALG") for i in items)
    assert len(items) == 4
    best = api.rules(["sip", "snmp", "amanda"], target="juniper-srx", interface="ge0", best_effort=True, kb=kb).text
    parse_set(best)
    assert "put interface ge0 in zone untrust" in best


def test_hostile_texts_stay_in_quoted_descriptions(kb_hostile: KnowledgeBase) -> None:
    text = api.rules(["evil-service", "ssh"], target="juniper-srx", kb=kb_hostile).text
    conf = parse_set(text)
    title = 'Evil "quoted" $(touch /tmp/anyport-pwned) `id` ; DROP TABLE x; \\ back\\slash <script>alert(1)</script>'
    assert any(title in policy.description for policy in conf.policies.values())
    for line in text.splitlines():
        if "pwned" in line and not line.startswith("#"):
            w = words(line)
            assert w[:3] == ["set", "security", "policies"]
            assert w[9] == "description"
            assert len(w) == 11


@pytest.mark.parametrize(
    "text",
    [
        'say "hi"',
        "back\\slash at the end \\",
        'both \\" mixed',
        "tab\tand\nnewline",
        "caf\u00e9 \u2026 \u201cq\u201d",
        "why?",
    ],
)
def test_quoting_round_trips(text: str) -> None:
    quoted = junos_quote(text)
    w = words(f"set security policies from-zone a to-zone b policy p description {quoted}")
    assert len(w) == 11
    decoded = _string(w[10])
    assert decoded.isascii()
    assert "\n" not in decoded
    assert decoded == ascii_text(clean_text(text, 120))  # every character arrives as written, nothing more


def test_names_are_junos_names() -> None:
    assert junos_name("anyport", "tcp/8443", "tcp") == "anyport-tcp-8443-tcp"
    assert junos_name("anyport", "ip:50", "proto50") == "anyport-ip-50-proto50"
    long = junos_name("anyport", "x" * 100, "tcp")
    assert NAME.fullmatch(long)
    assert long != junos_name("anyport", "x" * 99 + "y", "tcp")


def test_one_family_uses_any_ipv4_or_any_ipv6(kb: KnowledgeBase) -> None:
    v4 = parse_set(api.rules(["ssh"], target="juniper-srx", ipv4_only=True, kb=kb).text)
    policy = next(iter(v4.policies.values()))
    assert policy.sources == ["any-ipv4"]
    assert policy.destinations == ["any-ipv4"]
    v6 = parse_set(api.rules(["ssh", "ip:1"], target="juniper-srx", ipv6_only=True, kb=kb).text)
    assert all(app.leaves.get("protocol") != "icmp" for app in v6.applications.values())


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("set applications application a protocol tcp", "without being deleted"),
        ("delete applications application a\nset applications application a protocol tcp", "without destination"),
        ("delete applications application a\nset applications application a protocol tcp\n"
         "set applications application a destination-port 70000", "outside"),
        ("delete applications application a\nset applications application a protocol gre\n"
         "set applications application a destination-port 22", "needs tcp or udp"),
        ("delete applications application a\nset applications application a application-protocol ftp\n"
         "set applications application a protocol udp\nset applications application a destination-port 21", "ALG"),
        ('delete applications application a\nset applications application a protocol "x" ; rm -rf', "outside"),
        ('delete applications application a\nset applications application a protocol "unterminated', "unterm"),
        ('delete applications application a\nset applications application a description "x"', "application statement"),
        ("delete applications application a\nset applications application a.b protocol tcp", "without being"),
        ("delete applications application-set s\nset applications application-set s application nope", "not defined"),
        ("delete security policies from-zone u to-zone t policy p\n"
         "set security policies from-zone u to-zone t policy p then permit", "incomplete"),
        ("delete applications application " + "a" * 64 + "\nset applications application " + "a" * 64
         + " protocol gre", "63 characters"),
        ("set system root-authentication plain-text-password", "unknown statement"),
    ],
)  # fmt: skip
def test_the_check_rejects_what_junos_rejects(bad: str, message: str) -> None:
    with pytest.raises(JunosError, match=message):
        parse_set(bad + "\n")


def test_expected_model_matches_selection_api(kb: KnowledgeBase) -> None:
    # A plain sanity check of the comparison itself: a different selection must not compare equal.
    options = make_options()
    first = select(kb, ["ssh"], options)
    conf = parse_set(JuniperSrx().generate(select(kb, ["dns"], options), options).text)
    group = first.groups(options)[0]
    assert _policy_content(conf, next(iter(conf.policies.values())))[1] != {"tcp": group.merged("tcp")}
