"""Follow a rule set's jumps, find shadowed rules and compute what is open for new connections.

Each base chain is flattened: a jump inlines the target chain's rules with the jump's conditions added, so every
position holds the full conditions under which a packet reaches it. Two analyses run on the flattened lists:

* **shadowing** (all packets): a rule is shadowed when earlier rules with a terminal verdict (accept, drop, reject;
  a return within the same chain) together match everything it matches. Only whole matches count, so a rule is
  never called shadowed when some packet could still reach it.
* **the open set** (new connections from elsewhere): the port space of each transport is cut into segments at
  every rule boundary, and each segment is walked through the positions at once, as bit masks. Each condition is
  *always*, *usually*, *some* or *never* true of an ordinary new connection (a source restriction is "some", an
  ``addrtype LOCAL`` test on input "always", ``-i lo`` "never"). The walk tracks two packets: the ordinary one,
  whose accept makes a segment open to **anyone**, and any packet at all, whose accept makes it open to **some**.

A packet must pass every base chain of its hook (nftables runs them all), so per family the open sets of the base
chains of one direction are intersected; families are then united.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, replace

from anyport.errors import DataError
from anyport.model import PortRange, merge_ranges
from anyport.rules.rulesets import (
    EXPECTED,
    EXTRA_TRUTH,
    PORT_NUMBERS,
    TERMINAL,
    TRANSPORT_OF,
    Chain,
    Conditions,
    Reach,
    Rule,
    Ruleset,
    Segment,
    conjoin,
    intersect_ranges,
    ranges_cover,
)

ALWAYS, USUALLY, SOME, NEVER = 3, 2, 1, 0
MAX_DEPTH = 64
MAX_POSITIONS = 200_000
FILTERING = ("filter", "route", "raw", "mangle", "security")
FAMILIES = ("ipv4", "ipv6")
OTHER = -1  # stands for every IP protocol no rule names


@dataclass
class Position:
    """One rule as reached from a base chain along one path of jumps."""

    rule: Rule | None  # None for the implicit return after a goto
    cond: Conditions
    action: str  # accept, drop, reject, return, or "pass" (jumps and statements)
    instance: int  # the inlined chain instance it belongs to
    stack: tuple[int, ...]  # every instance it is inside, outermost first
    path: str


def analyse(ruleset: Ruleset) -> None:
    """Fill in each rule's direction, reachability, shadowing and ports, and the ruleset's open sets."""
    flat: dict[tuple[str, str], tuple[list[Position], dict[int, int]]] = {}
    for chain in ruleset.chains.values():
        if chain.base:
            flat[chain.key] = _flatten(ruleset, chain)
    _reachability(ruleset, flat)
    for key, (positions, ends) in flat.items():
        if ruleset.chains[key].kind in FILTERING:
            _shadowing(positions, ends)
    for rule in ruleset.rules:
        if rule.reachable and rule.direction and rule.shadowed_by:
            rule.reachable = False
            shown = ", ".join(str(i) for i in rule.shadowed_by[:5])
            rule.why_unreachable = f"shadowed: every packet it matches is decided earlier by rule(s) {shown}"
    for direction in ("in", "out"):
        ruleset.reach[direction] = _reach(ruleset, flat, direction)


# -- flattening ---------------------------------------------------------------------------------------------


def _flatten(ruleset: Ruleset, base: Chain) -> tuple[list[Position], dict[int, int]]:
    positions: list[Position] = []
    ends: dict[int, int] = {}
    counter = [0]

    def walk(chain: Chain, context: Conditions, stack: tuple[int, ...], path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise DataError(
                f"{ruleset.path}: chain {chain.name} is reached through more than {MAX_DEPTH} jumps "
                f"(a loop?); expected {EXPECTED[ruleset.kind]}"
            )
        counter[0] += 1
        instance = counter[0]
        inner = (*stack, instance)
        for rule in chain.rules:
            cond = conjoin(context, rule.conditions)
            if cond is None:
                continue
            if len(positions) > MAX_POSITIONS:
                raise DataError(
                    f"{ruleset.path}: more than {MAX_POSITIONS} rules once jumps are followed; "
                    f"expected {EXPECTED[ruleset.kind]} of a usable size"
                )
            if rule.action in ("jump", "goto"):
                positions.append(Position(rule, cond, "pass", instance, inner, path))
                target = ruleset.chain(chain.table, rule.target)
                if target is not None:
                    walk(target, cond, inner, f"{path} > {target.name}", depth + 1)
                if rule.action == "goto":
                    positions.append(Position(None, cond, "return", instance, inner, path))
                continue
            action = rule.action if rule.action in (*TERMINAL, "return") else "pass"
            positions.append(Position(rule, cond, action, instance, inner, path))
        ends[instance] = len(positions)

    walk(base, Conditions(family=base.family), (), base.name, 0)
    return positions, ends


def _reachability(ruleset: Ruleset, flat: dict[tuple[str, str], tuple[list[Position], dict[int, int]]]) -> None:
    directions: dict[int, set[str]] = {}
    paths: dict[int, list[str]] = {}
    for key, (positions, _ends) in flat.items():
        chain = ruleset.chains[key]
        for pos in positions:
            if pos.rule is None:
                continue
            directions.setdefault(pos.rule.index, set()).add(chain.direction or chain.hook)
            known = paths.setdefault(pos.rule.index, [])
            if pos.path not in known and len(known) < 5:
                known.append(pos.path)
            if pos.cond not in pos.rule.contexts and len(pos.rule.contexts) < 8:
                pos.rule.contexts.append(pos.cond)
    order = ("in", "out", "forward")
    for chain in ruleset.chains.values():
        for rule in chain.rules:
            found = directions.get(rule.index)
            rule.via = paths.get(rule.index, [])
            if found:
                rule.direction = ",".join(sorted(found, key=lambda d: (order.index(d) if d in order else 9, d)))
                continue
            rule.reachable = False
            rule.direction = ""
            if chain.base:
                rule.why_unreachable = "it can never match: its conditions contradict each other"
            elif any(r.target == chain.name and r.table == chain.table for r in ruleset.rules):
                rule.why_unreachable = f"chain {chain.name} is only jumped to where this rule cannot match"
            else:
                rule.why_unreachable = f"chain {chain.name} is never jumped to from a base chain"


# -- shadowing ----------------------------------------------------------------------------------------------


def covers_except_ports(outer: Conditions, inner: Conditions) -> bool:
    """True when every packet ``inner`` matches is matched by ``outer``, ignoring destination ports."""
    if outer.family != "any" and outer.family != inner.family:
        return False
    if outer.protocols is not None and (inner.protocols is None or not inner.protocols <= outer.protocols):
        return False
    if outer.sports is not None and (inner.sports is None or not ranges_cover(outer.sports, inner.sports)):
        return False
    for o_nets, i_nets in ((outer.sources, inner.sources), (outer.dests, inner.dests)):
        if o_nets is None:
            continue
        if i_nets is None:
            return False
        if not all(any(i.version == o.version and i.subnet_of(o) for o in o_nets) for i in i_nets):  # type: ignore[arg-type]
            return False
    for o_not, i_not, i_nets in (
        (outer.not_sources, inner.not_sources, inner.sources),
        (outer.not_dests, inner.not_dests, inner.dests),
    ):
        for excluded in o_not:
            if any(excluded.version == n.version and excluded.subnet_of(n) for n in i_not):  # type: ignore[arg-type]
                continue
            if i_nets is not None and all(not n.overlaps(excluded) for n in i_nets):
                continue
            return False
    for o_if, i_if in ((outer.iif, inner.iif), (outer.oif, inner.oif)):
        if o_if is None:
            continue
        if i_if is None:
            return False
        if not all(any(_iface_covers(o, i) for o in o_if) for i in i_if):
            return False
    for o_not_if, i_not_if in ((outer.not_iif, inner.not_iif), (outer.not_oif, inner.not_oif)):
        if not set(o_not_if) <= set(i_not_if):
            return False
    if outer.states is not None and (inner.states is None or not inner.states <= outer.states):
        return False
    return set(outer.extras) <= set(inner.extras)


def _iface_covers(pattern: str, name: str) -> bool:
    if pattern.endswith(("+", "*")):
        return name.rstrip("+*").startswith(pattern[:-1])
    return pattern == name


def _shadowing(positions: list[Position], ends: dict[int, int]) -> None:
    """Mark rules whose every instance is fully decided by earlier terminal rules."""
    instance_shadows: dict[int, list[list[int]]] = {}
    deciders: list[_Decider] = []
    returns: list[int] = []  # instances of the returns seen so far
    for pos in positions:
        rule = pos.rule
        if rule is not None:
            covering = _covering(deciders, pos)
            shadows = instance_shadows.setdefault(rule.index, [])
            shadows.append(covering)
            rule.shadowed_by = sorted({i for found in shadows for i in found}) if all(shadows) else []
        if pos.action in TERMINAL or pos.action == "return":
            # Packets an earlier return sent back never reach this rule: it decides nothing for them, so it can
            # only shadow rules those returns do not reach either (rules inside the same chains).
            diverted = frozenset(i for i in returns if i in pos.stack)
            deciders.append(_Decider(pos, diverted))
        if pos.action == "return":
            returns.append(pos.instance)


class _Decider:
    """An earlier terminal rule, with the bounds of its ports for a quick first test."""

    __slots__ = ("diverted", "high", "low", "pos")

    def __init__(self, pos: Position, diverted: frozenset[int]) -> None:
        self.pos = pos
        self.diverted = diverted
        ports = pos.cond.dports
        self.low = min(r.start for r in ports) if ports else -1
        self.high = max(r.end for r in ports) if ports else -1


def _covering(deciders: list[_Decider], pos: Position) -> list[int]:
    """Indexes of the earlier rules that together decide everything ``pos`` matches ([] if they do not)."""
    cond = pos.cond
    wanted = cond.dports
    low = min(r.start for r in wanted) if wanted else 0
    high = max(r.end for r in wanted) if wanted else 65535
    found: list[int] = []
    union: list[PortRange] = []
    stack = set(pos.stack)
    for decider in deciders:
        earlier = decider.pos
        if earlier.cond.dports is not None and (wanted is None or decider.high < low or decider.low > high):
            continue  # it decides some ports only, none of these
        if earlier.action == "return" and earlier.instance not in stack:
            continue  # a return leaves its own chain only
        if not decider.diverted <= stack:
            continue
        if not covers_except_ports(earlier.cond, cond):
            continue
        index = earlier.rule.index if earlier.rule is not None else 0
        if earlier.cond.dports is None:
            found.append(index)
            return sorted({i for i in found if i})
        assert wanted is not None
        if intersect_ranges(earlier.cond.dports, wanted):
            found.append(index)
            union = merge_ranges(union + list(earlier.cond.dports))
            if ranges_cover(union, wanted):
                return sorted({i for i in found if i})
    return []


# -- the open set -------------------------------------------------------------------------------------------


def static_value(cond: Conditions, family: str, direction: str) -> int:
    """How true a rule's conditions (other than protocol and ports) are of an ordinary new connection."""
    if cond.family != "any" and cond.family != family:
        return NEVER
    if cond.states is not None and "new" not in cond.states:
        return NEVER
    value = ALWAYS
    remote, local = (cond.sources, cond.dests) if direction == "in" else (cond.dests, cond.sources)
    not_remote, not_local = (
        (cond.not_sources, cond.not_dests) if direction == "in" else (cond.not_dests, cond.not_sources)
    )
    if remote is not None:
        value = min(value, SOME)
    if not_remote:
        value = min(value, USUALLY)
    if local is not None:
        special = all(n.is_multicast or str(n.network_address) == "255.255.255.255" for n in local)
        value = min(value, SOME if special else USUALLY)
    if not_local:
        value = min(value, USUALLY)
    near, far = (cond.iif, cond.oif) if direction == "in" else (cond.oif, cond.iif)
    not_near = cond.not_iif if direction == "in" else cond.not_oif
    if near is not None:
        if all(name == "lo" for name in near):
            return NEVER
        value = min(value, SOME)
    if not_near and any(name != "lo" for name in not_near):
        value = min(value, USUALLY)
    if far is not None:
        value = min(value, SOME)
    if cond.sports is not None:
        value = min(value, SOME)
    for extra in cond.extras:
        truth = EXTRA_TRUTH.get(extra.kind, "some")
        if extra.kind == "dst-local" and direction != "in":
            truth = "some"
        value = min(value, {"always": ALWAYS, "usually": USUALLY, "some": SOME}.get(truth, NEVER))
    return value


class _Space:
    """The segments of one protocol's port space and the bit masks of port lists over them."""

    def __init__(self, protocol: int, conds: list[Conditions]) -> None:
        self.protocol = protocol
        if protocol in PORT_NUMBERS:
            cuts = {1, 65536}
            for cond in conds:
                ports = cond.ports_of(protocol)
                if ports:
                    for rng in ports:
                        cuts.add(min(max(rng.start, 1), 65536))
                        cuts.add(min(max(rng.end + 1, 1), 65536))
            edges = sorted(cuts)
            self.segments = [PortRange(a, b - 1) for a, b in itertools.pairwise(edges)]
        else:
            self.segments = [PortRange(protocol, protocol)]
        self.starts = [s.start for s in self.segments]
        self.full = (1 << len(self.segments)) - 1

    def mask(self, cond: Conditions) -> int:
        ports = cond.ports_of(self.protocol)
        if ports is None:
            return self.full
        bits = 0
        for rng in ports:
            lo = bisect.bisect_left(self.starts, max(rng.start, 1))
            hi = bisect.bisect_right(self.starts, rng.end) - 1
            if hi >= lo:
                bits |= ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)
        return bits

    def ranges(self, bits: int) -> list[PortRange]:
        out = []
        index = 0
        while bits:
            if bits & 1:
                out.append(self.segments[index])
            bits >>= 1
            index += 1
        return merge_ranges(out)


@dataclass
class _Walk:
    main_open: int
    some_open: int
    policy_main: int
    policy_some: int


def _walk(
    positions: list[Position],
    ends: dict[int, int],
    values: list[int],
    masks: list[int],
    policy: str,
    full: int,
    fires: dict[int, tuple[int, int]],
) -> _Walk:
    """Push the ordinary packet and any packet through the positions; ``fires`` gets per-position masks."""
    count = len(positions)
    main = [0] * (count + 1)
    some = [0] * (count + 1)
    main[0] = some[0] = full
    main_open = some_open = 0
    for index, pos in enumerate(positions):
        m, s = main[index], some[index]
        if not (m or s):
            continue
        value = values[index]
        app = masks[index] if value != NEVER else 0
        if pos.action == "pass" or not app:
            main[index + 1] |= m
            some[index + 1] |= s
            fires[index] = (m & app if value >= USUALLY else 0, s & app)
            continue
        main_hit = m & app if value >= USUALLY else 0
        some_hit = s & app
        m_next = m & ~main_hit
        s_next = s if value != ALWAYS else s & ~app
        fires[index] = (main_hit, some_hit)
        if pos.action == "accept":
            main_open |= main_hit
            some_open |= some_hit
        elif pos.action == "return":
            end = ends[pos.instance]
            main[end] |= main_hit
            some[end] |= some_hit
        main[index + 1] |= m_next
        some[index + 1] |= s_next
    if policy == "accept":
        main_open |= main[count]
        some_open |= some[count]
        return _Walk(main_open, some_open, main[count], some[count])
    return _Walk(main_open, some_open, 0, 0)


def _base_chains(ruleset: Ruleset, direction: str, family: str) -> list[Chain]:
    return [
        c
        for c in ruleset.chains.values()
        if c.base and c.direction == direction and c.kind in FILTERING and c.family in (family, "any")
    ]


def _reach(
    ruleset: Ruleset, flat: dict[tuple[str, str], tuple[list[Position], dict[int, int]]], direction: str
) -> Reach:
    families = tuple(f for f in FAMILIES if f in ruleset.families)
    reach = Reach(direction=direction, families=families)
    chains = {f: _base_chains(ruleset, direction, f) if ruleset.active else [] for f in families}
    reach.unfiltered = tuple(f for f in families if not chains[f])
    involved = {c.key: c for f in families for c in chains[f]}
    all_conds = [pos.cond for key in involved for pos in flat[key][0]]
    values = {
        (chain.key, family): [static_value(p.cond, family, direction) for p in flat[chain.key][0]]
        for family in families
        for chain in chains[family]
    }
    rules = {rule.index: rule for rule in ruleset.rules}
    # Where some chain drops by default, its accept rules are what opens a port, not another chain's policy.
    strict = {f: any(c.policy != "accept" for c in chains[f]) for f in families}
    named: set[int] = set()
    for cond in all_conds:
        if cond.protocols is not None and len(cond.protocols) <= 128:
            named |= {p for p in cond.protocols if p not in PORT_NUMBERS and p >= 0}
    # Every protocol no rule names behaves alike: one unnamed number stands for them all.
    other = next(n for n in (253, 254, 252, 251, 250, *range(249, -1, -1)) if n not in named and n not in PORT_NUMBERS)
    for protocol in [*TRANSPORT_OF, *sorted(named), other]:
        space = _Space(protocol, all_conds)
        label = OTHER if protocol == other else protocol
        full = space.full
        family_main: dict[str, int] = {}
        family_some: dict[str, int] = {}
        openers: dict[int, int] = {}  # rule index (0: policy) -> segments it lets in
        opened_main: dict[int, int] = {}
        opened_some: dict[int, int] = {}
        decided: dict[int, int] = {}
        for family in families:
            main_all, some_all = full, full
            for chain in chains[family]:
                positions, ends = flat[chain.key]
                chain_values = values[(chain.key, family)]
                masks = [space.mask(p.cond) for p in positions]
                fires: dict[int, tuple[int, int]] = {}
                walk = _walk(positions, ends, chain_values, masks, chain.policy, full, fires)
                main_all &= walk.main_open
                some_all &= walk.some_open
                filtering = any(
                    p.action in TERMINAL and v != NEVER for p, v in zip(positions, chain_values, strict=True)
                )
                if walk.policy_some and (filtering or len(chains[family]) == 1) and not strict[family]:
                    openers[0] = openers.get(0, 0) | walk.policy_some
                for index, pos in enumerate(positions):
                    rule = pos.rule
                    applies = masks[index] if chain_values[index] != NEVER else 0
                    if rule is None or not applies:
                        continue
                    m_hit, s_hit = fires.get(index, (0, 0))
                    unreached = applies & ~s_hit
                    decided[rule.index] = decided.get(rule.index, unreached) & unreached
                    if pos.action == "accept" and s_hit:
                        opened_main[rule.index] = opened_main.get(rule.index, 0) | m_hit
                        opened_some[rule.index] = opened_some.get(rule.index, 0) | s_hit
                        openers[rule.index] = openers.get(rule.index, 0) | s_hit
            family_main[family] = main_all
            family_some[family] = some_all
        _segments(reach, space, label, families, family_main, family_some, openers)
        if direction != "in":
            continue
        for index, bits in opened_some.items():
            rule = rules[index]
            main_bits = opened_main.get(index, 0)
            if protocol in TRANSPORT_OF:
                name = TRANSPORT_OF[protocol]
                if main_bits:
                    rule.opens[name] = space.ranges(main_bits)
                if bits & ~main_bits:
                    rule.opens_some[name] = space.ranges(bits & ~main_bits)
            elif label != OTHER:
                rule.opens_protocols.append(protocol)
        for index, bits in decided.items():
            if protocol in TRANSPORT_OF and bits:
                rules[index].already_decided[TRANSPORT_OF[protocol]] = space.ranges(bits)
    return reach


def _segments(
    reach: Reach,
    space: _Space,
    protocol: int,
    families: tuple[str, ...],
    family_main: dict[str, int],
    family_some: dict[str, int],
    openers: dict[int, int],
) -> None:
    transport = TRANSPORT_OF.get(protocol, "ip")
    for bit, segment in enumerate(space.segments):
        flag = 1 << bit
        open_families = tuple(f for f in families if family_some.get(f, 0) & flag)
        if not open_families:
            continue
        anyone = tuple(f for f in families if family_main.get(f, 0) & flag)
        rules = tuple(sorted(i for i, bits in openers.items() if bits & flag)) or (0,)
        ports = segment if transport != "ip" else PortRange(protocol, protocol)
        level = "anyone" if anyone else "some"
        reach.segments.append(Segment(transport, ports, level, open_families, rules, anyone))
    _merge_segments(reach)


def _merge_segments(reach: Reach) -> None:
    merged: list[Segment] = []
    for seg in reach.segments:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.transport == seg.transport != "ip"
            and last.level == seg.level
            and last.families == seg.families
            and last.anyone_families == seg.anyone_families
            and last.rules == seg.rules
            and last.ports.end + 1 == seg.ports.start
        ):
            merged[-1] = replace(last, ports=PortRange(last.ports.start, seg.ports.end))
        else:
            merged.append(seg)
    reach.segments = merged
