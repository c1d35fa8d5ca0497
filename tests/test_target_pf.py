"""pf target: every output is checked by a port of pfctl's own lexer and the grammar subset anyport emits.

pfctl cannot run on Linux, so this file carries the strictest offline check we could build from OpenBSD's
sbin/pfctl/parse.y (rev. 1.715): the same lexer (comments, backslash-newline continuation even inside comments,
quoted strings, ``$macro`` expansion re-read by the lexer, numbers, strings, keywords), the productions for
macros, tables and filter rules, and the checks of ``rule_consistent()`` and friends (port only for tcp/udp,
keep state only on pass rules, return-rst only for tcp, ICMP against the address family, name and label
lengths, port ranges). Anything outside the subset is an error, so the check fails closed.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from anyport import api
from anyport.model import PortRange
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.options import RuleOptions, make_options
from anyport.rules.selection import HelperRule, PortRule, ProtocolRule, Selection, select
from anyport.rules.targets.pf import Pf, comment_line
from test_rules import CASES

GOLDEN = Path(__file__).resolve().parent / "golden" / "rules"
PF_TABLE_NAME_SIZE = 32
PF_RULE_LABEL_SIZE = 64
IFNAMSIZ = 16
# parse.y lookup(): every keyword of pfctl, so that a word we emit is read as the token pfctl would see.
KEYWORDS = frozenset(
    [
        "af-to",
        "all",
        "allow-opts",
        "anchor",
        "antispoof",
        "any",
        "bandwidth",
        "binat-to",
        "bitmask",
        "block",
        "block-policy",
        "burst",
        "code",
        "debug",
        "default",
        "delay",
        "divert-packet",
        "divert-reply",
        "divert-to",
        "drop",
        "dup-to",
        "file",
        "fingerprints",
        "flags",
        "floating",
        "flows",
        "flush",
        "for",
        "fragment",
        "from",
        "global",
        "group",
        "hostid",
        "icmp-type",
        "icmp6-type",
        "if-bound",
        "in",
        "include",
        "inet",
        "inet6",
        "keep",
        "label",
        "least-states",
        "limit",
        "load",
        "log",
        "loginterface",
        "match",
        "matches",
        "max",
        "max-mss",
        "max-pkt-rate",
        "max-src-conn",
        "max-src-conn-rate",
        "max-src-nodes",
        "max-src-states",
        "min",
        "min-ttl",
        "modulate",
        "nat-to",
        "no",
        "no-df",
        "no-route",
        "no-sync",
        "on",
        "once",
        "optimization",
        "os",
        "out",
        "overload",
        "parent",
        "pass",
        "pflow",
        "port",
        "prio",
        "probability",
        "proto",
        "qlimit",
        "quantum",
        "queue",
        "quick",
        "random",
        "random-id",
        "rdomain",
        "rdr-to",
        "reassemble",
        "received-on",
        "reply-to",
        "return",
        "return-icmp",
        "return-icmp6",
        "return-rst",
        "round-robin",
        "route",
        "route-to",
        "rtable",
        "rule",
        "ruleset-optimization",
        "scrub",
        "set",
        "skip",
        "sloppy",
        "source-hash",
        "source-track",
        "state",
        "state-defaults",
        "state-policy",
        "static-port",
        "sticky-address",
        "syncookies",
        "synproxy",
        "table",
        "tag",
        "tagged",
        "timeout",
        "to",
        "tos",
        "ttl",
        "urpf-failed",
        "user",
        "weight",
    ]
)
# OpenBSD /etc/protocols entries anyport may name; anything else must be a number (getprotobyname would fail).
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58, "sctp": 132}
START_EXPAND, DONE_EXPAND = "\x01", "\x02"
EOF = ""


class PfSyntaxError(AssertionError):
    pass


@dataclass
class Token:
    kind: str  # STRING NUMBER KW CHAR NL NE LE GE PORTBINARY
    value: str
    line: int


def _allowed_in_string(c: str) -> bool:
    return c != EOF and ((c.isascii() and c.isalnum()) or (c in string.punctuation and c not in "(){}<>!=/#,"))


def _allowed_to_end_number(c: str) -> bool:
    return c != EOF and (c in " \t\n\r\f\v" or c in "),/}=")


class Lexer:
    """yylex()/lgetc()/igetc() of parse.y, over a string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.unget: list[str] = []
        self.line = 1
        self.expanding = False
        self.eof_reached = False
        self.macros: dict[str, str] = {}

    def igetc(self) -> str:
        while True:
            if self.unget:
                c = self.unget.pop()
            elif self.pos < len(self.text):
                c = self.text[self.pos]
                self.pos += 1
            else:
                c = EOF
            if c == START_EXPAND:
                self.expanding = True
            elif c == DONE_EXPAND:
                self.expanding = False
            else:
                return c

    def lgetc(self, quoted: bool = False) -> str:
        if quoted:
            c = self.igetc()
            if c == EOF:
                raise PfSyntaxError(f"line {self.line}: reached end of file while parsing quoted string")
            return c
        while True:
            c = self.igetc()
            if c != "\\":
                break
            following = self.igetc()
            if following != "\n":
                c = following
                break
            self.line += 1  # backslash-newline: the line goes on, even inside a comment
        if c == EOF and not self.eof_reached:
            self.eof_reached = True
            return "\n"
        return c

    def lungetc(self, c: str) -> None:
        if c != EOF:
            self.unget.append(c)

    def next(self) -> Token | None:
        while True:
            c = self.lgetc()
            while c in (" ", "\t"):
                c = self.lgetc()
            line = self.line
            if c == "#":
                c = self.lgetc()
                while c not in ("\n", EOF):
                    c = self.lgetc()
            if c == "$" and not self.expanding:
                name = ""
                while True:
                    c = self.lgetc()
                    if c == EOF:
                        raise PfSyntaxError(f"line {line}: end of file in a macro name")
                    if c.isascii() and (c.isalnum() or c == "_"):
                        name += c
                        continue
                    self.lungetc(c)
                    break
                if name not in self.macros:
                    raise PfSyntaxError(f"line {line}: macro '{name}' not defined")
                self.unget.append(DONE_EXPAND)
                self.unget.extend(reversed(self.macros[name]))
                self.unget.append(START_EXPAND)
                continue
            break
        if c in ("'", '"'):
            quote, buf = c, ""
            while True:
                c = self.lgetc(quoted=True)
                if c == "\n":
                    self.line += 1
                    continue
                if c == "\\":
                    following = self.lgetc(quoted=True)
                    if following in (quote, " ", "\t"):
                        c = following
                    elif following == "\n":
                        self.line += 1
                        continue
                    else:
                        self.lungetc(following)
                elif c == quote:
                    return Token("STRING", buf, line)
                elif c == "\0":
                    raise PfSyntaxError(f"line {line}: NUL in a quoted string")
                buf += c
        if c == "!":
            following = self.lgetc()
            if following == "=":
                return Token("NE", "!=", line)
            self.lungetc(following)
        elif c == "<":
            following = self.lgetc()
            if following == ">":
                return Token("PORTBINARY", "<>", line)
            if following == "=":
                return Token("LE", "<=", line)
            self.lungetc(following)
        elif c == ">":
            following = self.lgetc()
            if following == "<":
                return Token("PORTBINARY", "><", line)
            if following == "=":
                return Token("GE", ">=", line)
            self.lungetc(following)
        if c == "-" or (c.isascii() and c.isdigit()):
            buf = c
            c = self.lgetc()
            while c != EOF and c.isascii() and c.isdigit():
                buf += c
                c = self.lgetc()
            self.lungetc(c)
            if buf != "-" and (c == EOF or _allowed_to_end_number(c)):
                return Token("NUMBER", buf, line)
            for ch in reversed(buf[1:]):
                self.lungetc(ch)
            c = buf[0]
            if c == "-":
                return Token("CHAR", "-", line)
        if c != EOF and c.isascii() and (c.isalnum() or c in ":_"):
            buf = c
            c = self.lgetc()
            while _allowed_in_string(c):
                buf += c
                c = self.lgetc()
            self.lungetc(c)
            return Token("KW" if buf in KEYWORDS else "STRING", buf, line)
        if c == "\n":
            self.line += 1
            return Token("NL", "\n", line)
        if c == EOF:
            return None
        return Token("CHAR", c, line)


@dataclass
class Rule:
    line: int
    action: str
    block: str
    direction: str
    quick: bool
    interface: str
    af: str
    protos: list[int]
    src: list[str]
    dst: list[str]
    ports: list[tuple[int, int]]
    keep_state: bool
    label: str


@dataclass
class Ruleset:
    macros: dict[str, str] = field(default_factory=dict)
    tables: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    statement_lines: set[int] = field(default_factory=set)


class Parser:
    """The productions of parse.y that anyport's pf output uses; anything else is a syntax error."""

    def __init__(self, text: str) -> None:
        self.lexer = Lexer(text)
        self.result = Ruleset()
        self.lexer.macros = self.result.macros
        self.peeked: Token | None = None

    def peek(self) -> Token | None:
        if self.peeked is None:
            self.peeked = self.lexer.next()
        return self.peeked

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise PfSyntaxError("unexpected end of file")
        self.peeked = None
        return token

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        token = self.peek()
        if token is not None and token.kind == kind and (value is None or token.value == value):
            return self.take()
        return None

    def expect(self, kind: str, value: str | None = None) -> Token:
        token = self.accept(kind, value)
        if token is None:
            got = self.peek()
            where = f"line {got.line}: " if got else ""
            raise PfSyntaxError(f"{where}syntax error: expected {value or kind}, got {got.value if got else 'EOF'!r}")
        return token

    def parse(self) -> Ruleset:
        while self.peek() is not None:
            token = self.peek()
            assert token is not None
            if token.kind == "NL":
                self.take()
                continue
            self.result.statement_lines.add(token.line)
            if token.kind == "STRING":
                self.varset()
            elif token.kind == "KW" and token.value == "table":
                self.tabledef()
            elif token.kind == "KW" and token.value in ("pass", "block"):
                self.pfrule()
            else:
                raise PfSyntaxError(f"line {token.line}: syntax error at {token.value!r}")
            self.expect("NL")
        return self.result

    def varset(self) -> None:
        name = self.take().value
        self.expect("CHAR", "=")
        words = []
        while (token := self.peek()) is not None and token.kind in ("STRING", "NUMBER"):
            words.append(self.take().value)
        if not words:
            raise PfSyntaxError(f"macro {name}: no value")
        if any(c.isspace() for c in name):
            raise PfSyntaxError("macro name cannot contain whitespace")
        self.result.macros[name] = " ".join(words)

    def tabledef(self) -> None:
        self.take()
        self.expect("CHAR", "<")
        name = self.expect("STRING").value
        self.expect("CHAR", ">")
        if len(name) >= PF_TABLE_NAME_SIZE:
            raise PfSyntaxError(f"table name too long, max {PF_TABLE_NAME_SIZE - 1} chars")
        if name in self.result.tables:
            raise PfSyntaxError(f"table <{name}> defined twice")
        hosts: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        while True:
            if self.accept("CHAR", "{"):
                self.optnl()
                while not self.accept("CHAR", "}"):
                    hosts.append(self.host())
                    self.accept("CHAR", ",")
                    self.optnl()
            elif (token := self.accept("STRING")) is not None:
                if token.value not in ("const", "persist", "counters"):
                    raise PfSyntaxError(f"invalid table option '{token.value}'")
            else:
                break
        self.result.tables[name] = hosts

    def optnl(self) -> None:
        while self.accept("NL"):
            pass

    def host(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        token = self.take()
        if token.kind not in ("STRING", "NUMBER"):
            raise PfSyntaxError(f"line {token.line}: could not parse host specification {token.value!r}")
        text = token.value
        if self.accept("CHAR", "/"):
            text += "/" + self.expect("NUMBER").value
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError:
            raise PfSyntaxError(f"line {token.line}: could not parse host specification {text!r}") from None

    def pfrule(self) -> None:
        first = self.take()
        action, block = first.value, ""
        if action == "block":
            token = self.peek()
            if (
                token is not None
                and token.kind == "KW"
                and token.value
                in (
                    "drop",
                    "return",
                    "return-rst",
                    "return-icmp",
                    "return-icmp6",
                )
            ):
                block = self.take().value
        direction = ""
        if (token := self.accept("KW", "in") or self.accept("KW", "out")) is not None:
            direction = token.value
        quick = self.accept("KW", "quick") is not None
        interface = ""
        if self.accept("KW", "on"):
            token = self.take()
            if token.kind != "STRING" and not (token.kind == "KW" and token.value == "any"):
                raise PfSyntaxError(f"line {token.line}: syntax error: interface expected, got {token.value!r}")
            interface = token.value
            if len(interface) >= IFNAMSIZ:
                raise PfSyntaxError("interface name too long")
        af = ""
        if (token := self.accept("KW", "inet") or self.accept("KW", "inet6")) is not None:
            af = token.value
        protos: list[int] = []
        if self.accept("KW", "proto"):
            if self.accept("CHAR", "{"):
                self.optnl()
                while not self.accept("CHAR", "}"):
                    protos.append(self.protoval())
                    self.accept("CHAR", ",")
                    self.optnl()
            else:
                protos.append(self.protoval())
        src: list[str] = []
        dst: list[str] = []
        ports: list[tuple[int, int]] = []
        if self.accept("KW", "all") is None:
            if self.accept("KW", "from"):
                src, src_ports = self.ipportspec()
                if src_ports:
                    raise PfSyntaxError("source ports are outside anyport's subset")
            if self.accept("KW", "to"):
                dst, ports = self.ipportspec()
        keep = False
        label = ""
        while True:
            if self.accept("KW", "keep"):
                self.expect("KW", "state")
                if keep:
                    raise PfSyntaxError("modulate or keep cannot be redefined")
                keep = True
            elif self.accept("KW", "label"):
                if label:
                    raise PfSyntaxError("label cannot be redefined")
                label = self.expect("STRING").value
            else:
                break
        rule = Rule(first.line, action, block, direction, quick, interface, af, protos, src, dst, ports, keep, label)
        self.consistent(rule)
        self.result.rules.append(rule)

    def protoval(self) -> int:
        token = self.take()
        if token.kind == "NUMBER":
            number = int(token.value)
            if not 0 <= number <= 255:
                raise PfSyntaxError("protocol outside range")
        elif token.kind == "STRING" and token.value in PROTOCOLS:
            number = PROTOCOLS[token.value]
        else:
            raise PfSyntaxError(f"line {token.line}: unknown protocol {token.value}")
        if number == 0:
            raise PfSyntaxError("proto 0 cannot be used")
        return number

    def ipportspec(self) -> tuple[list[str], list[tuple[int, int]]]:
        hosts: list[str] = []
        token = self.peek()
        ports_only = token is not None and token.kind == "KW" and token.value == "port"
        if not ports_only and self.accept("KW", "any") is None:
            if self.accept("CHAR", "<"):
                name = self.expect("STRING").value
                self.expect("CHAR", ">")
                if len(name) >= PF_TABLE_NAME_SIZE:
                    raise PfSyntaxError(f"table name '{name}' too long")
                if name not in self.result.tables:
                    raise PfSyntaxError(f"table <{name}> used but not defined")
                hosts.append(f"<{name}>")
            else:
                hosts.append(str(self.host()))
        ports: list[tuple[int, int]] = []
        if self.accept("KW", "port"):
            if self.accept("CHAR", "{"):
                self.optnl()
                while not self.accept("CHAR", "}"):
                    ports.append(self.port_item())
                    self.accept("CHAR", ",")
                    self.optnl()
            else:
                ports.append(self.port_item())
        return hosts, ports

    def port_item(self) -> tuple[int, int]:
        token = self.take()
        if token.kind not in ("NUMBER", "STRING"):
            raise PfSyntaxError(f"line {token.line}: port expected, got {token.value!r}")
        low, colon, high = token.value.partition(":")

        def service(text: str) -> int:
            if not text.isdigit():
                raise PfSyntaxError(f"unknown port {text}")  # names are left to getservbyname: not in our subset
            if int(text) > 65535:
                raise PfSyntaxError(f"illegal port value {text}")
            return int(text)

        start = service(low)
        end = service(high) if colon else start
        if start > end:
            raise PfSyntaxError("invalid port range")
        return start, end

    @staticmethod
    def consistent(rule: Rule) -> None:
        """rule_consistent() and the checks around it, for the fields anyport uses."""
        for proto in rule.protos or [0]:
            if rule.ports and proto not in (6, 17):
                raise PfSyntaxError(f"line {rule.line}: port only applies to tcp/udp")
            if rule.block == "return-rst" and proto != 6:
                raise PfSyntaxError("return-rst can only be applied to TCP rules")
            if (proto == 1 and rule.af == "inet6") or (proto == 58 and rule.af == "inet"):
                raise PfSyntaxError("proto doesn't match address family")
        if rule.action != "pass" and rule.keep_state:
            raise PfSyntaxError("keep state is great, but only for pass rules")
        if len(rule.label) >= PF_RULE_LABEL_SIZE:
            raise PfSyntaxError("rule label too long")


def parse_pf(text: str) -> Ruleset:
    """Parse like pfctl -n; also prove that every rule line is a rule (no comment swallowed it)."""
    result = Parser(text).parse()
    physical = {
        number for number, line in enumerate(text.split("\n"), 1) if line.strip() and not line.lstrip().startswith("#")
    }
    if physical != result.statement_lines:
        raise PfSyntaxError(f"lines read differently than written: {sorted(physical ^ result.statement_lines)}")
    return result


# ---------------------------------------------------------------------------------------------------------------


def golden_files() -> list[Path]:
    return sorted(p for p in GOLDEN.glob("pf-*.conf") if not p.name.endswith(".actual"))


def test_golden_files_exist() -> None:
    assert {p.name for p in golden_files()} == {f"pf-{case}.conf" for case in CASES}


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_golden_file_parses_like_pfctl(path: Path) -> None:
    result = parse_pf(path.read_text("utf-8"))
    assert result.rules
    assert all(rule.quick for rule in result.rules)


def _expected(selection: Selection, options: RuleOptions) -> set[tuple[str, frozenset[str], int, int, int]]:
    """(action, sources, proto, first port, last port) the rules must hold, from the selection alone."""
    action = "pass" if options.action == "allow" else "block"
    out = set()
    for group in selection.groups(options):
        families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
        if not families:
            continue
        sources = frozenset(str(n) for n in group.sources if ("ipv4" if n.version == 4 else "ipv6") in families)
        for transport, number in (("tcp", 6), ("udp", 17)):
            for rng in group.merged(transport):
                out.add((action, sources, number, rng.start, rng.end))
        for number in group.protocol_numbers():
            out.add((action, sources, number, 0, 0))
    return out


def _actual(result: Ruleset) -> set[tuple[str, frozenset[str], int, int, int]]:
    out = set()
    for rule in result.rules:
        sources: frozenset[str] = frozenset()
        for host in rule.src:
            assert host.startswith("<"), "sources go through tables"
            sources = frozenset(str(n) for n in result.tables[host[1:-1]])
        for proto in rule.protos:
            for start, end in rule.ports or [(0, 0)]:
                out.add((rule.action, sources, proto, start, end))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_rules_say_exactly_what_the_selection_holds(kb_hostile: KnowledgeBase, case: str) -> None:
    services, given = CASES[case]
    options = make_options(best_effort=True, **given)  # type: ignore[arg-type]
    selection = select(kb_hostile, services, options)
    output = Pf().generate(selection, options)
    result = parse_pf(output.text)
    assert _actual(result) == _expected(selection, options)
    for rule in result.rules:
        assert rule.direction == options.direction
        if options.action == "allow":
            assert rule.action == "pass"
            assert rule.keep_state
        else:
            assert rule.block == ("return" if options.reject else "drop")
        if options.interface:
            assert rule.interface == options.interface
        if options.dests:
            assert rule.dst == ["<anyport_dst>"]


def test_hostile_texts_stay_in_comments(kb_hostile: KnowledgeBase) -> None:
    text = api.rules(["evil-service", "ssh"], target="pf", kb=kb_hostile).text
    assert "anyport-pwned" in text
    for line in text.splitlines():
        if "pwned" in line or "<script>" in line:
            assert line.startswith("#"), line
    result = parse_pf(text)
    opened = {(proto, port) for r in result.rules for proto in r.protos for port in r.ports}
    assert opened >= {(6, (4444, 4444)), (17, (4445, 4446)), (6, (22, 22))}


def test_a_comment_ending_in_a_backslash_cannot_swallow_the_next_rule() -> None:
    # The check itself must see the swallowed rule: pfctl joins the lines, so the rule is gone.
    swallowed = "# a title ending in \\\npass in quick proto tcp from any to any port 22 keep state\n"
    with pytest.raises(PfSyntaxError, match="read differently"):
        parse_pf(swallowed)
    assert comment_line("# title \\") == "# title /"
    assert comment_line("# a\\\\") == "# a\\/"
    selection = Selection(requested=["evil"], titles={"evil": "ends with a backslash \\"})
    selection.ports.append(PortRule("evil", "tcp", (PortRange(22, 22),)))
    selection.included.append(("evil", "requested \\"))
    text = Pf().generate(selection, make_options()).text
    assert len(parse_pf(text).rules) == 1


def test_interface_names_that_are_pf_keywords_stay_interface_names(kb: KnowledgeBase) -> None:
    for name in ("port", "all", "em0", "inet6", "vlan.5"):
        text = api.rules(["ssh"], target="pf", interface=name, kb=kb).text
        assert {rule.interface for rule in parse_pf(text).rules} == {name}


def test_families_and_icmp(kb: KnowledgeBase) -> None:
    text = api.rules(["ssh", "ip:1", "ip:58", "ip:47"], target="pf", ipv4_only=True, kb=kb).text
    result = parse_pf(text)
    assert {r.af for r in result.rules} == {"inet"}
    assert 58 not in {p for r in result.rules for p in r.protos}
    assert "IP protocol 58 belongs to the other address family" in text
    both = parse_pf(api.rules(["ip:1", "ip:58", "ip:50"], target="pf", kb=kb).text)
    by_proto = {r.protos[0]: r.af for r in both.rules}
    assert by_proto == {1: "inet", 58: "inet6", 50: ""}
    assert "proto esp " in api.rules(["ip:50"], target="pf", kb=kb).text


def test_deny_drop_and_reject(kb: KnowledgeBase) -> None:
    drop = api.rules(["ssh"], target="pf", action="deny", kb=kb).text
    reject = api.rules(["ssh"], target="pf", action="deny", reject=True, kb=kb).text
    assert "block drop in quick proto tcp" in drop
    assert "block return in quick proto tcp" in reject
    assert "keep state" not in drop + reject
    for text in (drop, reject):
        parse_pf(text)


def test_unsupported_features_are_named_in_strict_mode(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["ftp", "sip"], target="pf", kb=kb)
    items = excinfo.value.items
    assert "sctp ports 5060 (sip)" in items
    assert any(i.startswith("conntrack helper ftp for 21/tcp (ftp)") for i in items)
    assert any(i.startswith("conntrack helper sip for 5060/udp (sip)") for i in items)
    assert any(i.startswith("conntrack helper sip for 5060/tcp (sip)") for i in items)
    assert len(items) == 4
    best = api.rules(["ftp", "sip"], target="pf", best_effort=True, kb=kb).text
    assert "NOT EXPRESSED" in best
    assert "ftp-proxy" in best
    assert "sctp" not in "".join(line for line in best.splitlines() if not line.startswith("#"))
    parse_pf(best)


def test_loading_twice_is_the_same_anchor(kb: KnowledgeBase) -> None:
    text = api.rules(["ssh"], target="pf", kb=kb).text
    assert 'anchor "anyport"' in text
    assert "pfctl -a anyport -f FILE" in text


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("pass in quick proto tcp from any to any port 70000\n", "illegal port"),
        ("pass in quick proto tcp from any to any port 5010:5000\n", "invalid port range"),
        ("block drop in quick proto tcp from any to any port 22 keep state\n", "only for pass rules"),
        ("pass in quick proto gre from any to any port 22\n", "port only applies"),
        ("block return-rst in quick proto udp from any to any port 53\n", "return-rst"),
        ("pass in quick inet6 proto icmp from any to any\n", "address family"),
        ("pass in quick proto tcp from any to any port $nope\n", "not defined"),
        ("pass in quick on port proto tcp from any to any\n", "interface expected"),
        ("pass in quick proto tcp from <nope> to any\n", "not defined"),
        ("table <" + "x" * 32 + "> { 192.0.2.0/24 }\n", "too long"),
        ("pass in quick proto tcp from 192.0.2.1/24 to any\n", "host specification"),
        ('pass in quick proto tcp from any to any label "$(touch x)" ; pass\n', "syntax error"),
        ("pass in quick proto foo from any to any\n", "unknown protocol"),
    ],
)
def test_the_check_rejects_what_pfctl_rejects(bad: str, message: str) -> None:
    with pytest.raises(PfSyntaxError, match=message):
        parse_pf(bad)


def test_the_lexer_reads_macros_and_ranges_like_pfctl() -> None:
    text = 'ports = "{ 22, 5000:5010 }"\npass in quick proto tcp from any to any port $ports keep state\n'
    rule = parse_pf(text).rules[0]
    assert rule.ports == [(22, 22), (5000, 5010)]
    assert rule.protos == [6]


def test_unsupported_helpers_report_even_with_helper_objects() -> None:
    selection = Selection(requested=["x"])
    selection.ports.append(PortRule("x", "udp", (PortRange(69, 69),)))
    selection.protocols.append(ProtocolRule("y", 47))
    selection.helpers.append(HelperRule("x", "tftp", "tftp", "udp", 69))
    with pytest.raises(UnsupportedError, match="conntrack helper tftp"):
        Pf().generate(selection, make_options())
