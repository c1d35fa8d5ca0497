"""Real rule sets read into one model: what each rule matches, what it does, and what is open in the end.

Three readers fill the model (each in its own module): ``nft -j list ruleset`` JSON and ``nft list ruleset`` text
(:mod:`anyport.rules.rulesets_nft`), ``iptables-save`` / ``ip6tables-save`` output
(:mod:`anyport.rules.rulesets_iptables`) and ``ufw status [verbose|numbered]`` (:mod:`anyport.rules.rulesets_ufw`).
:func:`load_ruleset` picks the reader, and :mod:`anyport.rules.rulesets_analysis` then follows jumps from the base
chains, finds shadowed rules and computes the open set.

The model:

* a :class:`Ruleset` has chains; a :class:`Chain` is a base chain (a hook such as ``input``, with a policy) or a
  user chain reached by jumps; it holds :class:`Rule` records in file order;
* a :class:`Rule` has a :class:`Conditions` (what it matches), an ``action`` (``accept``, ``drop``, ``reject``,
  ``return``, ``jump``, ``goto``, or a non-terminal statement such as ``log``) and where it came from (line, text);
* the analysis fills in each rule's ``direction``, ``reachable``, ``shadowed_by`` and the ports it decides.

A file that is not what it claims raises :class:`~anyport.errors.DataError` with one line naming the file, the line
and what was expected.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, replace

from anyport.errors import DataError
from anyport.model import PortRange, merge_ranges

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

KINDS = ("nft", "iptables", "ufw")
EXPECTED = {
    "nft": "'nft -j list ruleset' JSON or 'nft list ruleset' text",
    "iptables": "'iptables-save' or 'ip6tables-save' output",
    "ufw": "'ufw status', 'ufw status verbose' or 'ufw status numbered' output",
}
MAX_FILE_BYTES = 64 * 1024 * 1024

# IP protocol numbers of the transports that have ports.
TCP, UDP, DCCP, SCTP = 6, 17, 33, 132
PORT_PROTOCOLS = {"tcp": TCP, "udp": UDP, "sctp": SCTP, "dccp": DCCP}
PORT_NUMBERS = frozenset(PORT_PROTOCOLS.values())
TRANSPORT_OF = {number: name for name, number in PORT_PROTOCOLS.items()}
ALL_PORTS = PortRange(0, 65535)

TERMINAL = ("accept", "drop", "reject")
ACTIONS = (*TERMINAL, "return", "jump", "goto")
STATES = ("new", "established", "related", "invalid", "untracked")

# What an extra (a condition the model does not break down) means for a new connection from elsewhere:
#   always   every such packet matches (addrtype LOCAL on input, a SYN flag test)
#   usually  an ordinary packet matches but not every one (rate limits, ICMP types)
#   some     an ordinary packet does not match, some do (recent-lists, marks, anything unknown)
#   never    no such packet matches (broadcast and multicast tests are kept as "some")
EXTRA_TRUTH = {
    "dst-local": "always",
    "syn": "always",
    "recent-set": "always",
    "limit": "usually",
    "icmp-type": "usually",
    "dst-multicast": "some",
    "recent-check": "some",
    "other": "some",
}


@dataclass(frozen=True)
class Extra:
    """A condition kept as text: ``kind`` (a key of EXTRA_TRUTH) says how to treat it."""

    kind: str
    text: str


@dataclass(frozen=True)
class Conditions:
    """What a rule matches. ``None`` means "anything"; an empty tuple never occurs (such a rule matches nothing)."""

    family: str = "any"  # ipv4, ipv6 or any
    protocols: frozenset[int] | None = None  # IP protocol numbers (6 tcp, 17 udp...)
    dports: tuple[PortRange, ...] | None = None
    sports: tuple[PortRange, ...] | None = None
    sources: tuple[Network, ...] | None = None
    dests: tuple[Network, ...] | None = None
    not_sources: tuple[Network, ...] = ()
    not_dests: tuple[Network, ...] = ()
    iif: tuple[str, ...] | None = None  # interface names; a trailing + or * is a wildcard
    oif: tuple[str, ...] | None = None
    not_iif: tuple[str, ...] = ()
    not_oif: tuple[str, ...] = ()
    states: frozenset[str] | None = None
    extras: tuple[Extra, ...] = ()

    def ports_of(self, protocol: int) -> tuple[PortRange, ...] | None:
        """The destination ports this matches for one protocol: None for all, () for none."""
        if self.protocols is not None and protocol not in self.protocols:
            return ()
        if self.dports is None:
            return None
        return self.dports if protocol in PORT_NUMBERS else ()

    @property
    def restricted(self) -> bool:
        """True when it depends on more than protocol, ports and connection state."""
        return bool(
            self.sources is not None
            or self.dests is not None
            or self.not_sources
            or self.not_dests
            or self.iif is not None
            or self.oif is not None
            or self.not_iif
            or self.not_oif
            or self.sports is not None
            or self.extras
        )


@dataclass
class Rule:
    """One rule of the file, with what the analysis found out about it."""

    index: int  # 1-based, in file order (ufw: its status numbering)
    line: int  # 1-based line in the file; 0 when the format has none (nft JSON)
    text: str  # the rule as the file writes it (one line)
    table: str  # "inet filter", "filter" (iptables), "ufw"
    chain: str
    action: str  # accept, drop, reject, return, jump, goto, or a statement such as log / none
    conditions: Conditions
    target: str = ""  # chain of a jump or goto
    comment: str = ""
    locator: str = ""  # how to find it again: "handle 13", "line 22"
    # Filled in by the analysis.
    direction: str = ""  # in, out, forward (or several, comma-separated); "" when no base chain reaches it
    via: list[str] = field(default_factory=list)  # chain paths that reach it, e.g. "INPUT > SERVICES"
    contexts: list[Conditions] = field(default_factory=list)  # its conditions with those of the jumps to it
    reachable: bool = True
    shadowed_by: list[int] = field(default_factory=list)
    why_unreachable: str = ""
    opens: dict[str, list[PortRange]] = field(default_factory=dict)  # ports it accepts for anyone (transport)
    opens_some: dict[str, list[PortRange]] = field(default_factory=dict)  # ... for some packets only
    opens_protocols: list[int] = field(default_factory=list)  # IP protocols without ports it accepts
    already_decided: dict[str, list[PortRange]] = field(default_factory=dict)  # its ports earlier rules decided

    @property
    def terminal(self) -> bool:
        return self.action in TERMINAL


@dataclass
class Chain:
    name: str
    table: str
    family: str  # ipv4, ipv6 or any (inet, bridge...)
    hook: str = ""  # input, output, forward, prerouting, postrouting, ingress; "" for a user chain
    policy: str = "accept"
    kind: str = "filter"  # filter, nat, route...
    priority: int = 0
    rules: list[Rule] = field(default_factory=list)
    line: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.table, self.name)

    @property
    def base(self) -> bool:
        return bool(self.hook)

    @property
    def direction(self) -> str:
        return HOOK_DIRECTION.get(self.hook, "")


HOOK_DIRECTION = {
    "input": "in",
    "prerouting": "in",
    "ingress": "in",
    "output": "out",
    "postrouting": "out",
    "forward": "forward",
}


@dataclass(frozen=True)
class Segment:
    """A stretch of what is open in one direction.

    ``transport`` is tcp, udp, sctp or dccp with ``ports``; or "ip" with ``ports`` holding one IP protocol number
    (``PortRange(47, 47)`` for GRE), or ``PortRange(-1, -1)`` for "every IP protocol the file does not name".
    ``level`` is "anyone" (an ordinary new connection from anywhere gets in) or "some" (only some packets: from
    certain sources, on certain interfaces, with certain marks...). ``rules`` are the indexes of the accept rules
    that let it in (0 stands for the chain policy).
    """

    transport: str
    ports: PortRange
    level: str
    families: tuple[str, ...]  # families it is open in (for some packets at least)
    rules: tuple[int, ...]
    anyone_families: tuple[str, ...] = ()  # families it is open to anyone in


@dataclass
class Reach:
    """What one direction (in or out) lets through for new connections."""

    direction: str
    families: tuple[str, ...]  # families evaluated
    unfiltered: tuple[str, ...] = ()  # evaluated families that no base chain of this direction filters
    segments: list[Segment] = field(default_factory=list)

    def ranges(self, transport: str, level: str = "", family: str = "") -> list[PortRange]:
        """Open ports of a transport, merged. ``level`` "anyone" or "some" (open only to some packets) and
        ``family`` ("ipv4", "ipv6") narrow it."""
        return merge_ranges([s.ports for s in self.segments if s.transport == transport and _wanted(s, level, family)])

    def protocols(self, level: str = "", family: str = "") -> list[int]:
        """Open IP protocols without ports (-1 stands for every protocol no rule names)."""
        return sorted({s.ports.start for s in self.segments if s.transport == "ip" and _wanted(s, level, family)})


def _wanted(segment: Segment, level: str, family: str) -> bool:
    if family:
        if family not in segment.families:
            return False
        anyone = family in segment.anyone_families
    else:
        anyone = segment.level == "anyone"
    return not level or anyone == (level == "anyone")


@dataclass
class Ruleset:
    """A whole rule set as read from one file."""

    kind: str  # nft, iptables, ufw
    format: str  # nft-json, nft-text, iptables-save, ufw-status
    path: str
    chains: dict[tuple[str, str], Chain] = field(default_factory=dict)
    families: tuple[str, ...] = ("ipv4", "ipv6")  # address families the file speaks about
    notes: list[str] = field(default_factory=list)
    active: bool = True  # ufw: "Status: inactive" means nothing is filtered
    reach: dict[str, Reach] = field(default_factory=dict)  # "in" and "out", filled by the analysis

    @property
    def rules(self) -> list[Rule]:
        rules = [rule for chain in self.chains.values() for rule in chain.rules]
        return sorted(rules, key=lambda r: r.index)

    def chain(self, table: str, name: str) -> Chain | None:
        return self.chains.get((table, name))


# -- building conditions ------------------------------------------------------------------------------------


def network(text: str) -> Network:
    """An address or CIDR (``ValueError`` when it is not one)."""
    return ipaddress.ip_network(text.strip(), strict=False)


def is_any(nets: tuple[Network, ...]) -> bool:
    return any(n.prefixlen == 0 for n in nets)


def port_range(start: int, end: int) -> PortRange:
    if not (0 <= start <= 65535 and 0 <= end <= 65535):
        raise ValueError(f"port {max(start, end)} is outside 0-65535")
    if start > end:
        raise ValueError(f"port range {start}-{end} runs backwards")
    return PortRange(start, end)


def complement(ranges: tuple[PortRange, ...] | list[PortRange]) -> tuple[PortRange, ...]:
    """Every port 0-65535 not in ``ranges``."""
    out: list[PortRange] = []
    cursor = 0
    for rng in merge_ranges(list(ranges)):
        if rng.start > cursor:
            out.append(PortRange(cursor, rng.start - 1))
        cursor = rng.end + 1
    if cursor <= 65535:
        out.append(PortRange(cursor, 65535))
    return tuple(out)


def intersect_ranges(a: tuple[PortRange, ...], b: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
    out: list[PortRange] = []
    i = j = 0
    left, right = merge_ranges(list(a)), merge_ranges(list(b))
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(left[i].end, right[j].end)
        if start <= end:
            out.append(PortRange(start, end))
        if left[i].end < right[j].end:
            i += 1
        else:
            j += 1
    return tuple(out)


def ranges_cover(outer: tuple[PortRange, ...] | list[PortRange], inner: tuple[PortRange, ...]) -> bool:
    """True when every port of ``inner`` is in ``outer``."""
    return intersect_ranges(tuple(inner), complement(outer)) == ()


def subtract_ranges(a: tuple[PortRange, ...] | list[PortRange], b: tuple[PortRange, ...]) -> list[PortRange]:
    return list(intersect_ranges(tuple(a), complement(b)))


def _nets_intersection(a: tuple[Network, ...], b: tuple[Network, ...]) -> tuple[Network, ...]:
    found: list[Network] = []
    for x in a:
        for y in b:
            if x.version != y.version:
                continue
            if x.subnet_of(y):  # type: ignore[arg-type]
                found.append(x)
            elif y.subnet_of(x):  # type: ignore[arg-type]
                found.append(y)
    return tuple(dict.fromkeys(found))


def _iface_matches(pattern: str, name: str) -> bool:
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return pattern == name


def _ifaces_intersection(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for x in a:
        for y in b:
            if _iface_matches(x, y):
                found.append(y)
            elif _iface_matches(y, x):
                found.append(x)
    return tuple(dict.fromkeys(found))


def normalise(cond: Conditions) -> Conditions | None:
    """Settle what follows from the parts (ports imply a transport, v4 networks imply IPv4); None if impossible."""
    family = cond.family
    for nets in (cond.sources, cond.dests):
        if nets is None:
            continue
        versions = {n.version for n in nets}
        if family == "ipv4":
            nets = tuple(n for n in nets if n.version == 4)
        elif family == "ipv6":
            nets = tuple(n for n in nets if n.version == 6)
        if not nets:
            return None
        if versions == {4} and family == "any":
            family = "ipv4"
        elif versions == {6} and family == "any":
            family = "ipv6"
    protocols = cond.protocols
    if cond.dports is not None or cond.sports is not None:
        protocols = PORT_NUMBERS if protocols is None else protocols & PORT_NUMBERS
    if protocols is not None and not protocols:
        return None
    for ports in (cond.dports, cond.sports):
        if ports is not None and not ports:
            return None
    if cond.states is not None and not cond.states:
        return None
    for names in (cond.iif, cond.oif):
        if names is not None and not names:
            return None
    sources = cond.sources
    dests = cond.dests
    if sources is not None and family != "any":
        sources = tuple(n for n in sources if n.version == (4 if family == "ipv4" else 6))
    if dests is not None and family != "any":
        dests = tuple(n for n in dests if n.version == (4 if family == "ipv4" else 6))
    if sources is not None and is_any(sources):
        sources = None
    if dests is not None and is_any(dests):
        dests = None
    return replace(cond, family=family, protocols=protocols, sources=sources, dests=dests)


class ConditionFields:
    """The matches a reader collects for one rule, before they become :class:`Conditions`."""

    def __init__(self) -> None:
        self.protocols: frozenset[int] | None = None
        self.dports: tuple[PortRange, ...] | None = None
        self.sports: tuple[PortRange, ...] | None = None
        self.sources: tuple[Network, ...] | None = None
        self.dests: tuple[Network, ...] | None = None
        self.not_sources: tuple[Network, ...] = ()
        self.not_dests: tuple[Network, ...] = ()
        self.iif: tuple[str, ...] | None = None
        self.oif: tuple[str, ...] | None = None
        self.not_iif: tuple[str, ...] = ()
        self.not_oif: tuple[str, ...] = ()
        self.states: frozenset[str] | None = None
        self.extras: list[Extra] = []

    def collected(self, family: str = "any", extras: tuple[Extra, ...] | None = None) -> Conditions | None:
        """The normalised conditions (None when they can never match)."""
        return normalise(
            Conditions(
                family=family,
                protocols=self.protocols,
                dports=self.dports,
                sports=self.sports,
                sources=self.sources,
                dests=self.dests,
                not_sources=self.not_sources,
                not_dests=self.not_dests,
                iif=self.iif,
                oif=self.oif,
                not_iif=self.not_iif,
                not_oif=self.not_oif,
                states=self.states,
                extras=tuple(self.extras) if extras is None else extras,
            )
        )


def conjoin(a: Conditions, b: Conditions) -> Conditions | None:
    """Conditions that hold when both hold (a jump's conditions and the rules of its chain); None if impossible."""
    if a.family != "any" and b.family != "any" and a.family != b.family:
        return None
    family = a.family if a.family != "any" else b.family

    def both_sets(x: frozenset[str] | None, y: frozenset[str] | None) -> frozenset[str] | None:
        if x is None:
            return y
        if y is None:
            return x
        return x & y

    protocols: frozenset[int] | None
    if a.protocols is None:
        protocols = b.protocols
    elif b.protocols is None:
        protocols = a.protocols
    else:
        protocols = a.protocols & b.protocols

    def both_ports(x: tuple[PortRange, ...] | None, y: tuple[PortRange, ...] | None) -> tuple[PortRange, ...] | None:
        if x is None:
            return y
        if y is None:
            return x
        return intersect_ranges(x, y)

    def both_nets(x: tuple[Network, ...] | None, y: tuple[Network, ...] | None) -> tuple[Network, ...] | None:
        if x is None:
            return y
        if y is None:
            return x
        return _nets_intersection(x, y)

    def both_ifaces(x: tuple[str, ...] | None, y: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if x is None:
            return y
        if y is None:
            return x
        return _ifaces_intersection(x, y)

    merged = Conditions(
        family=family,
        protocols=protocols,
        dports=both_ports(a.dports, b.dports),
        sports=both_ports(a.sports, b.sports),
        sources=both_nets(a.sources, b.sources),
        dests=both_nets(a.dests, b.dests),
        not_sources=tuple(dict.fromkeys(a.not_sources + b.not_sources)),
        not_dests=tuple(dict.fromkeys(a.not_dests + b.not_dests)),
        iif=both_ifaces(a.iif, b.iif),
        oif=both_ifaces(a.oif, b.oif),
        not_iif=tuple(dict.fromkeys(a.not_iif + b.not_iif)),
        not_oif=tuple(dict.fromkeys(a.not_oif + b.not_oif)),
        states=both_sets(a.states, b.states),
        extras=tuple(dict.fromkeys(a.extras + b.extras)),
    )
    return normalise(merged)


# -- describing conditions ----------------------------------------------------------------------------------


def protocol_name(number: int) -> str:
    if number in TRANSPORT_OF:
        return TRANSPORT_OF[number]
    if number == 1:
        return "icmp"
    if number == 58:
        return "ipv6-icmp"
    from anyport.protocols import protocol_table

    keyword = protocol_table().get(number, ("", ""))[0]
    return keyword.lower() if keyword else f"ip:{number}"


def protocols_text(protocols: frozenset[int] | None) -> str:
    if protocols is None:
        return "any"
    if -1 in protocols:
        return "unknown"
    if len(protocols) > 128:
        missing = sorted(set(range(256)) - protocols)
        return "any but " + ",".join(protocol_name(p) for p in missing)
    order = sorted(protocols, key=lambda p: (p not in TRANSPORT_OF, p))
    return ",".join(protocol_name(p) for p in order)


def ports_text(ports: tuple[PortRange, ...] | list[PortRange] | None) -> str:
    if ports is None:
        return "any"
    return ",".join(str(r) for r in ports) or "none"


def nets_text(nets: tuple[Network, ...] | None, negated: tuple[Network, ...] = ()) -> str:
    parts = [] if nets is None else [str(n) for n in nets]
    parts += [f"!{n}" for n in negated]
    return ",".join(parts) if parts else "any"


def describe(cond: Conditions) -> str:
    """A short, readable summary: ``tcp dport 22 from 10.0.0.0/8 on eth0 (new)``."""
    parts = []
    if cond.family != "any":
        parts.append(cond.family)
    if cond.protocols is not None:
        parts.append(protocols_text(cond.protocols))
    if cond.dports is not None:
        parts.append(f"dport {ports_text(cond.dports)}")
    if cond.sports is not None:
        parts.append(f"sport {ports_text(cond.sports)}")
    if cond.sources is not None or cond.not_sources:
        parts.append(f"from {nets_text(cond.sources, cond.not_sources)}")
    if cond.dests is not None or cond.not_dests:
        parts.append(f"to {nets_text(cond.dests, cond.not_dests)}")
    if cond.iif is not None or cond.not_iif:
        parts.append("in on " + ",".join([*(cond.iif or ()), *(f"!{i}" for i in cond.not_iif)]))
    if cond.oif is not None or cond.not_oif:
        parts.append("out on " + ",".join([*(cond.oif or ()), *(f"!{i}" for i in cond.not_oif)]))
    if cond.states is not None:
        parts.append("state " + ",".join(s for s in STATES if s in cond.states))
    parts += [extra.text for extra in cond.extras]
    return " ".join(parts) if parts else "everything"


# -- reading files ------------------------------------------------------------------------------------------


def clip(text: str, limit: int = 60) -> str:
    """Text safe to quote in a one-line error message."""
    shown = text if len(text) <= limit else text[: limit - 1] + "…"
    return repr(shown)


def data_error(path: str, line: int, problem: str, expected: str) -> DataError:
    where = f"{path}:{line}" if line else path
    return DataError(f"{where}: {problem}; expected {expected}")


def read_text(path: str, kind: str) -> str:
    """The file's text, or a DataError that says why it cannot be a rule set."""
    expected = EXPECTED[kind]
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; expected a file with {expected}")
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise DataError(f"{path}: {size} bytes is too large for a rule set; expected {expected}")
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file; expected a file with {expected}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror}); expected {expected}") from None
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise data_error(path, line, "binary data, not text", expected)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise data_error(path, line, "bytes that are not UTF-8 text", expected) from None
    if not text.strip():
        raise DataError(f"{path}: the file is empty; expected {expected}")
    return text.lstrip("\ufeff")


def sniff(text: str) -> str:
    """A guess at what a text is, for hints in error messages."""
    head = text.lstrip()[:4000]
    if head.startswith(("{", "[")):
        return "nft -j JSON" if '"nftables"' in head else "JSON"
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    if any(ln.startswith("Status: ") for ln in lines[:3]):
        return "ufw status output"
    if any(ln.startswith(("*filter", "*nat", "*raw", "*mangle", ":INPUT", "-A ")) for ln in lines):
        return "iptables-save output"
    if any(ln.startswith(("table ", "flush ruleset", "add rule ")) for ln in lines):
        return "nft text"
    return ""


HINT_OPTION = {
    "nft -j JSON": "--nft",
    "nft text": "--nft",
    "iptables-save output": "--iptables",
    "ufw status output": "--ufw",
}


def wrong_format(path: str, line: int, found: str, kind: str, text: str) -> DataError:
    """The error for a file whose first meaningful line is not the claimed format, with a hint when it is another."""
    guess = sniff(text)
    problem = f"found {clip(found)}"
    option = HINT_OPTION.get(guess)
    if guess and option and option != f"--{kind}":
        problem += f" (this looks like {guess}: use {option})"
    return data_error(path, line, problem, EXPECTED[kind])


def load_ruleset(kind: str, path: str) -> Ruleset:
    """Read a rule set file of one kind (nft, iptables, ufw) and analyse it."""
    from anyport.errors import QueryError

    if kind not in KINDS:
        raise QueryError(f"unknown rule set kind {kind!r}; use one of {', '.join(KINDS)}")
    text = read_text(path, kind)
    if kind == "nft":
        from anyport.rules.rulesets_nft import parse_nft

        ruleset = parse_nft(text, path)
    elif kind == "iptables":
        from anyport.rules.rulesets_iptables import parse_iptables

        ruleset = parse_iptables(text, path)
    else:
        from anyport.rules.rulesets_ufw import parse_ufw

        ruleset = parse_ufw(text, path)
    from anyport.rules.rulesets_analysis import analyse

    analyse(ruleset)
    return ruleset
