"""cisco-ios target: every output is checked line by line against the IOS command subset it emits.

No IOS image can run here, so the check is a grammar of the commands from Cisco's IOS / IOS XE Security command
reference (object-group network/service, ip access-list extended, ipv6 access-list, interface bindings): the
shape of every line in every configuration mode, name rules (a letter first, 64 characters at most), remarks of
100 characters at most, no ``?`` anywhere (the CLI answers it with help instead of taking the line), ports 0-65535
with low <= high, contiguous masks, protocol keywords and numbers, object-groups only where IPv4 ACLs take them,
every reference defined before use, and every list or group removed before it is defined again (so the paste is
repeatable). The parsed rules are then compared with what the selection asks for.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.options import RuleOptions, make_options
from anyport.rules.selection import Selection, select
from anyport.rules.targets.cisco_ios import MAX_REMARK, CiscoIos, ios_text
from test_rules import CASES

GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"
NAME = r"[A-Za-z][A-Za-z0-9_-]{0,63}"
SERVICE_PROTOCOLS = {"ahp": 51, "eigrp": 88, "esp": 50, "gre": 47, "icmp": 1, "igmp": 2, "ip": 0, "ipinip": 4,
                     "nos": 94, "ospf": 89, "pcp": 108, "pim": 103}  # fmt: skip
ACL4_PROTOCOLS = {**SERVICE_PROTOCOLS, "tcp": 6, "udp": 17}
ACL6_PROTOCOLS = {"ahp": 51, "esp": 50, "icmp": 58, "ipv6": 0, "pcp": 108, "sctp": 132, "tcp": 6, "udp": 17}
ICMP4_TYPES = {"echo-reply", "unreachable", "time-exceeded", "packet-too-big"}
ICMP6_TYPES = {"echo-reply", "unreachable", "time-exceeded", "packet-too-big", "nd-na", "nd-ns"}
V4 = r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}"


class IosError(AssertionError):
    pass


@dataclass
class Ace:
    action: str
    protocol: str  # a keyword, a number, or "object-group NAME"
    src: str
    dst: str
    ports: tuple[int, int] | None
    extra: str


@dataclass
class Config:
    services: dict[str, list[tuple[str, int, int]]] = field(default_factory=dict)  # proto, low, high (0, 0: all)
    networks: dict[str, list[ipaddress.IPv4Network]] = field(default_factory=dict)
    acls: dict[str, list[Ace]] = field(default_factory=dict)
    acls6: dict[str, list[Ace]] = field(default_factory=dict)
    interfaces: dict[str, list[str]] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise IosError(f"port {text} outside 0-65535")
    return int(text)


def _ports(words: list[str]) -> tuple[tuple[int, int] | None, list[str]]:
    """An optional 'eq P' / 'range P P' at the front of ``words``."""
    if words[:1] == ["eq"] and len(words) >= 2:
        port = _port(words[1])
        return (port, port), words[2:]
    if words[:1] == ["range"] and len(words) >= 3:
        low, high = _port(words[1]), _port(words[2])
        if low > high:
            raise IosError(f"range {low} {high}: low above high")
        return (low, high), words[3:]
    return None, words


def _v4_mask(address: str, mask: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(f"{address}/{mask}", strict=True)
    except ValueError:
        raise IosError(f"{address} {mask}: not a network with a contiguous mask") from None


def _peer4(words: list[str], config: Config) -> tuple[str, list[str]]:
    if words[:1] == ["any"]:
        return "any", words[1:]
    if words[:1] == ["host"] and len(words) >= 2 and re.fullmatch(V4, words[1]):
        ipaddress.IPv4Address(words[1])
        return f"host {words[1]}", words[2:]
    if words[:1] == ["object-group"] and len(words) >= 2:
        if words[1] not in config.networks:
            raise IosError(f"network object-group {words[1]} used before it is defined")
        return f"object-group {words[1]}", words[2:]
    raise IosError(f"address expected at {' '.join(words)!r}")


def _peer6(words: list[str]) -> tuple[str, list[str]]:
    if words[:1] == ["any"]:
        return "any", words[1:]
    try:
        if words[:1] == ["host"] and len(words) >= 2:
            ipaddress.IPv6Address(words[1])
            return f"host {words[1]}", words[2:]
        if words and "/" in words[0]:
            ipaddress.IPv6Network(words[0], strict=True)
            return words[0], words[1:]
    except ValueError:
        pass
    if words[:1] == ["object-group"]:
        raise IosError("IPv6 access lists here take no object-groups")
    raise IosError(f"IPv6 address expected at {' '.join(words)!r}")


def _ace(words: list[str], config: Config, v6: bool) -> Ace:
    action, rest = words[0], words[1:]
    if not rest:
        raise IosError("protocol expected")
    if rest[0] == "object-group" and not v6:
        if len(rest) < 2 or rest[1] not in config.services:
            raise IosError("service object-group used before it is defined")
        protocol, rest = f"object-group {rest[1]}", rest[2:]
    else:
        protocols = ACL6_PROTOCOLS if v6 else ACL4_PROTOCOLS
        if rest[0] not in protocols and not (rest[0].isdigit() and int(rest[0]) <= 255):
            raise IosError(f"protocol {rest[0]!r}")
        protocol, rest = rest[0], rest[1:]
    src, rest = _peer6(rest) if v6 else _peer4(rest, config)
    src_ports, rest = _ports(rest)
    dst, rest = _peer6(rest) if v6 else _peer4(rest, config)
    ports, rest = _ports(rest)
    if (ports or src_ports) and protocol not in ("tcp", "udp"):
        raise IosError("port matches need tcp or udp")
    if src_ports:
        raise IosError("source ports are outside anyport's subset")
    extra = " ".join(rest)
    if extra == "established":
        if protocol != "tcp":
            raise IosError("established needs tcp")
    elif extra:
        types = ICMP6_TYPES if v6 else ICMP4_TYPES
        if protocol != "icmp" or extra not in types:
            raise IosError(f"unexpected {extra!r}")
    return Ace(action, protocol, src, dst, ports, extra)


def parse_ios(text: str) -> Config:
    config = Config()
    mode, name = "", ""
    lines = text.split("\n")
    if lines[-1] != "" or lines[-2] != "end":
        raise IosError("the configuration must end with 'end'")
    for number, line in enumerate(lines[:-2], 1):
        if not line.isascii() or not line.isprintable():
            raise IosError(f"line {number}: only printable ASCII, no tabs")
        if "?" in line:
            raise IosError(f"line {number}: '?' makes the CLI print help instead of taking the line")
        if not line or line.startswith("!"):
            continue
        if not line.startswith(" "):
            mode, name = _global(line, config)
            continue
        if not line.startswith(" ") or line.startswith("  ") or not mode:
            raise IosError(f"line {number}: a sub-command outside its mode: {line!r}")
        _sub(line[1:], mode, name, config)
    for groups in (config.services, config.networks):
        for group, items in groups.items():
            if not items:
                raise IosError(f"object-group {group} is empty")
    return config


def _global(line: str, config: Config) -> tuple[str, str]:
    patterns = [
        (rf"no ip access-list extended ({NAME})", "remove"),
        (rf"no ipv6 access-list ({NAME})", "remove6"),
        (rf"no object-group (?:service|network) ({NAME})", "remove-og"),
        (rf"object-group service ({NAME})", "service"),
        (rf"object-group network ({NAME})", "network"),
        (rf"ip access-list extended ({NAME})", "acl"),
        (rf"ipv6 access-list ({NAME})", "acl6"),
        (r"interface ([A-Za-z0-9_.:@/-]+)", "interface"),
    ]
    for pattern, mode in patterns:
        match = re.fullmatch(pattern, line)
        if match is None:
            continue
        name = match[1]
        if mode.startswith("remove"):
            config.removed.add({"remove": "acl ", "remove6": "acl6 ", "remove-og": "og "}[mode] + name)
            return "", ""
        table: dict[str, object] = {
            "service": config.services,
            "network": config.networks,
            "acl": config.acls,
            "acl6": config.acls6,
            "interface": config.interfaces,
        }[mode]  # type: ignore[assignment]
        if mode != "interface":
            key = {"service": "og ", "network": "og ", "acl": "acl ", "acl6": "acl6 "}[mode] + name
            if key not in config.removed:
                raise IosError(f"{mode} {name} is not removed first: pasting twice would merge old entries")
            if name in table:  # type: ignore[operator]
                raise IosError(f"{mode} {name} defined twice")
            if name in config.services or name in config.networks:
                raise IosError(f"object-group name {name} used twice")
        table.setdefault(name, [])  # type: ignore[attr-defined]
        return mode, name
    raise IosError(f"unknown command {line!r}")


def _sub(line: str, mode: str, name: str, config: Config) -> None:
    words = line.split(" ")
    if "" in words:
        raise IosError(f"double space in {line!r}")
    if words[0] in ("remark", "description"):
        text = line.split(" ", 1)[1] if " " in line else ""
        limit = MAX_REMARK if words[0] == "remark" else 200
        if not text or len(text) > limit:
            raise IosError(f"{words[0]} of {len(text)} characters (1-{limit})")
        if (words[0] == "remark") != (mode in ("acl", "acl6")):
            raise IosError(f"{words[0]} in {mode} mode")
        return
    if mode == "service":
        if words[0] in ("tcp", "udp", "tcp-udp"):
            ports, rest = _ports(words[1:])
            if ports is None or rest:
                raise IosError(f"service entry {line!r}")
            config.services[name].append((words[0], *ports))
        elif len(words) == 1 and (words[0] in SERVICE_PROTOCOLS or (words[0].isdigit() and int(words[0]) <= 255)):
            config.services[name].append((words[0], 0, 0))
        else:
            raise IosError(f"service entry {line!r}")
    elif mode == "network":
        if len(words) == 2 and words[0] == "host" and re.fullmatch(V4, words[1]):
            config.networks[name].append(ipaddress.IPv4Network(words[1]))
        elif len(words) == 2 and re.fullmatch(V4, words[0]) and re.fullmatch(V4, words[1]):
            config.networks[name].append(_v4_mask(words[0], words[1]))
        else:
            raise IosError(f"network entry {line!r}")
    elif mode in ("acl", "acl6"):
        if words[0] not in ("permit", "deny"):
            raise IosError(f"access list entry {line!r}")
        (config.acls6 if mode == "acl6" else config.acls)[name].append(_ace(words, config, mode == "acl6"))
    elif mode == "interface":
        match = re.fullmatch(r"(ip access-group|ipv6 traffic-filter) (\S+) (in|out)", line)
        if match:
            acls = config.acls if match[1] == "ip access-group" else config.acls6
            if match[2] not in acls:
                raise IosError(f"{match[1]} {match[2]}: no such list")
        elif line not in ("no ip unreachables", "no ipv6 unreachables"):
            raise IosError(f"interface command {line!r}")
        config.interfaces[name].append(line)


# ---------------------------------------------------------------------------------------------------------------

NUMBERS4 = {**ACL4_PROTOCOLS}
NUMBERS6 = {**ACL6_PROTOCOLS}


def _expected(selection: Selection, options: RuleOptions, family: str) -> set[tuple[str, frozenset[str], int, int]]:
    out = set()
    for group in selection.groups(options):
        if not group.family_wanted(family, options):
            continue
        sources = frozenset(str(n) for n in group.networks(family))
        for transport in ("tcp", "udp"):
            for rng in group.merged(transport):
                out.add((transport, sources, rng.start, rng.end))
        for number in group.protocol_numbers():
            if number != (58 if family == "ipv4" else 1):
                out.add((str(number), sources, 0, 0))
    return out


def _proto_number(word: str, family: str) -> str:
    table = NUMBERS4 if family == "ipv4" else NUMBERS6
    return str(table[word]) if word in table and word not in ("tcp", "udp") else word


def _actual(config: Config, acl: str, family: str, action: str) -> set[tuple[str, frozenset[str], int, int]]:
    out = set()
    for ace in (config.acls if family == "ipv4" else config.acls6).get(acl, []):
        if ace.extra or (ace.action == "permit" and action == "deny"):
            continue  # replies and ICMP errors, and the final 'permit ip any any' of a deny list
        if family == "ipv4":
            sources = (
                frozenset(str(n) for n in config.networks[ace.src.split(" ")[1]])
                if ace.src.startswith("object-group")
                else frozenset()
            )
            assert ace.protocol.startswith("object-group ")
            for proto, low, high in config.services[ace.protocol.split(" ")[1]]:
                out.add((_proto_number(proto, family), sources, low, high))
        else:
            sources = frozenset() if ace.src == "any" else frozenset([ace.src.removeprefix("host ")])
            low, high = ace.ports or (0, 0)
            out.add((_proto_number(ace.protocol, family), sources, low, high))
    return out


def golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.glob("cisco-ios-*.ios") if not p.name.endswith(".actual"))


def test_golden_files_exist() -> None:
    assert {p.name for p in golden_files()} == {f"cisco-ios-{case}.ios" for case in CASES}


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_is_valid_ios(path: Path) -> None:
    config = parse_ios(path.read_text("utf-8"))
    assert config.acls or config.acls6


@pytest.mark.parametrize("case", sorted(CASES))
def test_lists_say_exactly_what_the_selection_holds(kb_hostile: KnowledgeBase, case: str) -> None:
    services, given = CASES[case]
    options = make_options(best_effort=True, **given)  # type: ignore[arg-type]
    selection = select(kb_hostile, services, options)
    config = parse_ios(CiscoIos().generate(selection, options).text)
    way = "IN" if options.direction == "in" else "OUT"
    for family, acl in (("ipv4", f"ANYPORT-{way}"), ("ipv6", f"ANYPORT-{way}6")):
        assert _actual(config, acl, family, options.action) == _expected(selection, options, family), family
    verb = "permit" if options.action == "allow" else "deny"
    for ace in [*config.acls.get(f"ANYPORT-{way}", []), *config.acls6.get(f"ANYPORT-{way}6", [])]:
        if not ace.extra and ace.dst != "any":
            assert ace.dst in ("object-group ANYPORT-IN-DST", "object-group ANYPORT-OUT-DST")
        if options.action == "deny":
            assert ace.action == verb or (ace.protocol in ("ip", "ipv6") and ace.src == ace.dst == "any")
    if options.interface:
        assert config.interfaces[options.interface][0] == f"ip access-group ANYPORT-{way} {options.direction}"


def test_hostile_texts_stay_in_comments(kb_hostile: KnowledgeBase) -> None:
    text = api.rules(["evil-service", "ssh"], target="cisco-ios", kb=kb_hostile).text
    parse_ios(text)
    assert "anyport-pwned" in text
    for line in text.splitlines():
        if "pwned" in line or "<script>" in line or "DROP TABLE" in line:
            assert line.startswith("!"), line


def test_text_for_the_cli_has_no_question_marks_and_fits_remarks() -> None:
    assert "?" not in ios_text("what? why?")
    assert ios_text("caf\u00e9 \u2013 \u2026 \u4e2d") == "cafe - ... _"
    assert len(ios_text("x" * 300, MAX_REMARK)) == MAX_REMARK
    assert ios_text("x" * 300, MAX_REMARK).endswith("...")


def test_many_services_keep_remarks_short(kb: KnowledgeBase) -> None:
    names = ["ssh", "dns", "https", "http", "smtp", "imap", "pop3", "ldap", "ntp", "snmp", "rdp", "vnc", "mysql"]
    text = api.rules(names, target="cisco-ios", best_effort=True, kb=kb).text
    parse_ios(text)
    assert all(len(line) <= MAX_REMARK + 8 for line in text.splitlines() if line.startswith(" remark "))


def test_ip_protocols_by_keyword_or_number(kb: KnowledgeBase) -> None:
    text = api.rules(["ip:47", "ip:50", "ip:51", "ip:89", "ip:1", "ip:58"], target="cisco-ios", kb=kb).text
    config = parse_ios(text)
    assert sorted(e[0] for e in config.services["ANYPORT-IN-SVC"]) == ["89", "ahp", "esp", "gre", "icmp"]
    assert {a.protocol for a in config.acls6["ANYPORT-IN6"] if not a.extra} == {"47", "89", "esp", "ahp", "icmp"}


def test_deny_lists_end_by_permitting_the_rest_and_drop_silences_unreachables(kb: KnowledgeBase) -> None:
    drop = api.rules(["ssh"], target="cisco-ios", action="deny", interface="Gi0", kb=kb).text
    config = parse_ios(drop)
    assert config.acls["ANYPORT-IN"][-1] == Ace("permit", "ip", "any", "any", None, "")
    assert config.acls6["ANYPORT-IN6"][-1] == Ace("permit", "ipv6", "any", "any", None, "")
    assert "no ip unreachables" in config.interfaces["Gi0"]
    assert "no ipv6 unreachables" in config.interfaces["Gi0"]
    reject = parse_ios(api.rules(["ssh"], target="cisco-ios", action="deny", reject=True, interface="Gi0", kb=kb).text)
    assert "no ip unreachables" not in reject.interfaces["Gi0"]
    allow = parse_ios(api.rules(["ssh"], target="cisco-ios", kb=kb).text)
    assert Ace("permit", "tcp", "any", "any", None, "established") in allow.acls["ANYPORT-IN"]
    assert Ace("permit", "icmp", "any", "any", None, "nd-ns") in allow.acls6["ANYPORT-IN6"]


def test_unsupported_features_are_named_in_strict_mode(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["ftp", "sip"], target="cisco-ios", kb=kb)
    items = excinfo.value.items
    assert "sctp ports 5060 (sip)" in items
    assert sum(i.startswith("conntrack helper") for i in items) == 3
    assert len(items) == 4
    best = api.rules(["ftp", "sip"], target="cisco-ios", best_effort=True, kb=kb).text
    parse_ios(best)
    assert "NOT EXPRESSED" in best


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("no object-group service X\nobject-group service X\n tcp eq 70000\n", "outside 0-65535"),
        ("no object-group service X\nobject-group service X\n tcp range 10 5\n", "low above high"),
        ("object-group service X\n tcp eq 22\n", "not removed first"),
        ("no ip access-list extended A\nip access-list extended A\n permit object-group NOPE any any\n", "before"),
        ("no ipv6 access-list A\nipv6 access-list A\n remark " + "x" * 101 + "\n", "characters"),
        ("no ipv6 access-list A\nipv6 access-list A\n remark why?\n", "help"),
        ("no ip access-list extended A\nip access-list extended A\n permit gre any any eq 22\n", "tcp or udp"),
        ("no ipv6 access-list A\nipv6 access-list A\n permit object-group S any any\n", "protocol"),
        ("no object-group network N\nobject-group network N\n 192.0.2.1 255.255.255.0\n", "contiguous"),
        ("no object-group network N\nobject-group network N\n 192.0.2.0 255.0.255.0\n", "contiguous"),
        ("interface Gi0\n ip access-group NOPE in\n", "no such list"),
        ("no ip access-list extended 1A\n", "unknown command"),
        ("no ip access-list extended A\nip access-list extended A\n permit tcp any any eq 22 log\n", "unexpected"),
        ("no ip access-list extended A\nip access-list extended A\n  permit tcp any any\n", "outside its mode"),
        ("no ip access-list extended A\nip access-list extended A\n permit tcp any any eq 22\n\u00e9\n", "ASCII"),
    ],
)
def test_the_check_rejects_what_ios_rejects(bad: str, message: str) -> None:
    with pytest.raises(IosError, match=message):
        parse_ios(bad + "end\n")
