"""Read nftables rule sets: ``nft -j list ruleset`` JSON and ``nft list ruleset`` text (``-a`` handles allowed).

The text reader turns each rule into the expression objects of nft's JSON schema (``{"match": {...}}``,
``{"accept": null}``...), so one interpreter serves both formats. Named sets and verdict maps are resolved; a
verdict map (``tcp dport vmap { 22 : accept, 23 : drop }``) becomes one rule per element. Matches the model does
not break down are kept as conditions of kind "other" (text), so nothing is silently dropped; statements that do
not match anything (counter, log, comment, ct helper set...) are ignored.

Text files written for ``nft -f`` are read too when they only use ``flush ruleset``, ``table``, ``delete table``,
``add/insert rule`` and ``add chain/set/element``; variables (``define``, ``$name``) and ``include`` are refused.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from anyport.errors import DataError
from anyport.model import PortRange
from anyport.protocols import ip_protocol_number
from anyport.rules.rulesets import (
    EXPECTED,
    STATES,
    Chain,
    ConditionFields,
    Conditions,
    Extra,
    Network,
    Rule,
    Ruleset,
    complement,
    data_error,
    intersect_ranges,
    port_range,
    wrong_format,
)

FAMILY = {"ip": "ipv4", "ip6": "ipv6", "inet": "any", "netdev": "any", "bridge": "any", "arp": "any"}
KIND_BY_FAMILY = {"bridge": "bridge", "arp": "arp"}
VERDICTS = ("accept", "drop", "reject", "return", "jump", "goto", "continue", "queue")
PORT_PROTOS = {"tcp", "udp", "sctp", "dccp", "udplite", "th"}
# Statements that name a rule's action when it has no verdict (they do not decide; the packet goes on).
STATEMENTS = (
    "log",
    "ct helper",
    "dnat",
    "snat",
    "masquerade",
    "redirect",
    "tproxy",
    "notrack",
    "synproxy",
    "dup",
    "fwd",
)
SERVICES = {
    "ssh": 22, "http": 80, "https": 443, "domain": 53, "smtp": 25, "ftp": 21, "telnet": 23, "ntp": 123,
    "snmp": 161, "bootps": 67, "bootpc": 68, "tftp": 69, "imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995,
    "submission": 587, "submissions": 465, "ldap": 389, "ldaps": 636, "mysql": 3306, "postgresql": 5432,
    "sip": 5060, "sip-tls": 5061, "http-alt": 8080, "microsoft-ds": 445, "netbios-ns": 137, "netbios-dgm": 138,
    "netbios-ssn": 139, "sunrpc": 111, "kerberos": 88, "isakmp": 500, "ipsec-nat-t": 4500, "openvpn": 1194,
    "rdp": 3389, "ms-wbt-server": 3389, "mdns": 5353, "syslog": 514, "rsync": 873, "nfs": 2049,
}  # fmt: skip
EXPECT_TEXT = "'nft list ruleset' text (table FAMILY NAME { chain ... })"


# -- reading JSON -------------------------------------------------------------------------------------------


def parse_nft(text: str, path: str) -> Ruleset:
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _from_json(text, path)
    return _from_text(text, path)


def _from_json(text: str, path: str) -> Ruleset:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise data_error(path, exc.lineno, f"not valid JSON ({exc.msg}, column {exc.colno})", EXPECTED["nft"]) from None
    except RecursionError:
        raise data_error(path, 1, "JSON nested too deeply", EXPECTED["nft"]) from None
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        shape = "a JSON list" if isinstance(doc, list) else "a JSON object without an 'nftables' list"
        raise data_error(path, 1, f"found {shape}", "'nft -j list ruleset' JSON: {\"nftables\": [...]}")
    model = _Model(path, "nft-json")
    # nft -j writes one line; a reformatted file has many, and the items do not say theirs
    line = 1 if len(text.strip().splitlines()) == 1 else 0
    model.line_hint = line
    for position, item in enumerate(items):
        if not isinstance(item, dict) or len(item) != 1:
            raise data_error(
                path, line, f"item {position} of 'nftables' is not an object with one key", EXPECTED["nft"]
            )
        key, value = next(iter(item.items()))
        if not isinstance(value, dict):
            if key == "metainfo":
                continue
            raise data_error(path, line, f"item {position} ({key}) is not an object", EXPECTED["nft"])
        where = f"item {position} ({key})"
        if key == "table":
            model.table(_str(value, "family", where, path, line), _str(value, "name", where, path, line))
        elif key == "chain":
            model.chain(value, where, 0)
        elif key in ("set", "map"):
            model.set(value, where)
        elif key == "rule":
            model.rule(value, where, 0, "")
        elif key == "element":
            model.element(value, where)
    return model.finish()


def _str(obj: dict[str, Any], key: str, where: str, path: str, line: int = 0) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise data_error(path, line, f"{where} has no '{key}'", EXPECTED["nft"])
    return value


class _Model:
    """Tables, chains, sets and rules as they are read, in file order."""

    def __init__(self, path: str, fmt: str) -> None:
        self.path = path
        self.ruleset = Ruleset(kind="nft", format=fmt, path=path)
        self.tables: dict[tuple[str, str], dict[str, Any]] = {}
        self.line_hint = 0  # the line errors name when an object has none (1 for one-line nft -j output)
        self.pending: list[tuple[dict[str, Any], str, int, str]] = []

    def table(self, family: str, name: str) -> dict[str, Any]:
        if family not in FAMILY:
            raise data_error(
                self.path, self.line_hint, f"table family {family!r}", "ip, ip6, inet, arp, bridge or netdev"
            )
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = {"sets": {}, "chains": {}}
        return self.tables[key]

    def drop_table(self, family: str, name: str) -> None:
        self.tables.pop((family, name), None)
        for key in [k for k in self.ruleset.chains if k[0] == f"{family} {name}"]:
            del self.ruleset.chains[key]

    def chain(self, value: dict[str, Any], where: str, line: int) -> Chain:
        family = _str(value, "family", where, self.path, self.line_hint)
        table = _str(value, "table", where, self.path, self.line_hint)
        name = _str(value, "name", where, self.path, self.line_hint)
        self.table(family, table)
        label = f"{family} {table}"
        existing = self.ruleset.chains.get((label, name))
        hook = value.get("hook") or ""
        if existing is not None:
            if hook and not existing.hook:
                existing.hook = str(hook)
                existing.kind = KIND_BY_FAMILY.get(family, str(value.get("type") or "filter"))
                existing.policy = str(value.get("policy") or "accept")
            return existing
        kind = KIND_BY_FAMILY.get(family, str(value.get("type") or "filter"))
        policy = str(value.get("policy") or "accept")
        if policy not in ("accept", "drop"):
            raise data_error(
                self.path, line or self.line_hint, f"chain {name} has policy {policy!r}", "policy accept or drop"
            )
        prio = value.get("prio")
        chain = Chain(
            name=name,
            table=label,
            family=FAMILY[family],
            hook=str(hook),
            policy=policy,
            kind=kind,
            priority=prio if isinstance(prio, int) else 0,
            line=line,
        )
        self.ruleset.chains[chain.key] = chain
        return chain

    def set(self, value: dict[str, Any], where: str) -> None:
        family = _str(value, "family", where, self.path, self.line_hint)
        table = self.table(family, _str(value, "table", where, self.path, self.line_hint))
        name = _str(value, "name", where, self.path, self.line_hint)
        elems = value.get("elem", [])
        table["sets"][name] = {
            "type": value.get("type", ""),
            "map": value.get("map", ""),
            "elem": list(elems) if isinstance(elems, list) else [elems],
        }

    def element(self, value: dict[str, Any], where: str) -> None:
        family = _str(value, "family", where, self.path, self.line_hint)
        table = self.table(family, _str(value, "table", where, self.path, self.line_hint))
        name = _str(value, "name", where, self.path, self.line_hint)
        target = table["sets"].setdefault(name, {"type": "", "map": "", "elem": []})
        elems = value.get("elem", [])
        target["elem"] += list(elems) if isinstance(elems, list) else [elems]

    def rule(self, value: dict[str, Any], where: str, line: int, text: str, prepend: bool = False) -> None:
        family = _str(value, "family", where, self.path, self.line_hint)
        table = _str(value, "table", where, self.path, self.line_hint)
        chain = _str(value, "chain", where, self.path, self.line_hint)
        exprs = value.get("expr")
        if not isinstance(exprs, list):
            raise data_error(self.path, line or self.line_hint, f"{where} has no 'expr' list", EXPECTED["nft"])
        if (f"{family} {table}", chain) not in self.ruleset.chains:
            raise data_error(
                self.path, line or self.line_hint, f"a rule for chain {chain} of table {family} {table}, which is not defined",
                "the chain defined before its rules",
            )  # fmt: skip
        self.pending.append((value, where, line, text))
        if prepend:
            self.pending.insert(
                next(
                    i for i, p in enumerate(self.pending) if p[0].get("chain") == chain and p[0].get("table") == table
                ),
                self.pending.pop(),
            )

    def finish(self) -> Ruleset:
        index = 0
        for value, _where, line, text in self.pending:
            family, table, chain_name = value["family"], value["table"], value["chain"]
            label = f"{family} {table}"
            chain = self.ruleset.chains.get((label, chain_name))
            if chain is None:  # its table was deleted later in an nft -f script
                continue
            sets = self.tables.get((family, table), {"sets": {}})["sets"]
            handle = value.get("handle")
            locator = f"handle {handle}" if isinstance(handle, int) else (f"line {line}" if line else "")
            comment = value.get("comment") if isinstance(value.get("comment"), str) else ""
            where = line or self.line_hint
            try:
                shown = text or _render(value["expr"])
                interpreted = _interpret(value["expr"], sets, FAMILY[family], self.path, where)
            except (TypeError, ValueError, KeyError, AttributeError, IndexError):
                # JSON of the right shape at the top but not inside: say which rule, not where Python tripped
                what = f"the rule with {locator}" if locator else f"rule {index + 1} of chain {chain_name}"
                raise data_error(
                    self.path, where, f"{what} has expressions of an unexpected shape", "nft's JSON rule expressions"
                ) from None
            for cond, action, target, label_extra in interpreted:
                index += 1
                rule = Rule(
                    index=index,
                    line=line,
                    text=shown + (f"  [{label_extra}]" if label_extra else ""),
                    table=label,
                    chain=chain_name,
                    action=action,
                    conditions=cond if cond is not None else Conditions(protocols=frozenset({-1})),
                    target=target,
                    comment=str(comment),
                    locator=locator,
                )
                if cond is None:
                    rule.reachable = False
                    rule.why_unreachable = "its conditions contradict each other"
                if action in ("jump", "goto") and (label, target) not in self.ruleset.chains:
                    raise data_error(
                        self.path, where, f"{action} to chain {target}, which table {label} does not define",
                        "a chain for every jump",
                    )  # fmt: skip
                chain.rules.append(rule)
        if not self.tables:
            self.ruleset.notes.append("the rule set has no tables: nothing is filtered")
        return self.ruleset


# -- interpreting expressions -------------------------------------------------------------------------------


class _Build(ConditionFields):
    """Conditions being assembled from one rule's matches."""

    def __init__(self, family: str) -> None:
        super().__init__()
        self.family = family
        self.impossible = False

    def copy(self) -> _Build:
        other = _Build(self.family)
        other.__dict__.update({k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items()})
        return other

    def set_family(self, family: str) -> None:
        if self.family not in ("any", family):
            self.impossible = True
        self.family = family

    def add_protocols(self, numbers: frozenset[int], negate: bool) -> None:
        wanted = frozenset(range(256)) - numbers if negate else numbers
        self.protocols = wanted if self.protocols is None else self.protocols & wanted

    def add_ports(self, destination: bool, ports: tuple[PortRange, ...], negate: bool) -> None:
        wanted = complement(ports) if negate else ports
        current = self.dports if destination else self.sports
        merged = wanted if current is None else intersect_ranges(current, wanted)
        if destination:
            self.dports = merged
        else:
            self.sports = merged

    def add_nets(self, source: bool, nets: tuple[Network, ...], negate: bool) -> None:
        if negate:
            if source:
                self.not_sources += nets
            else:
                self.not_dests += nets
        elif source:
            self.sources = nets
        else:
            self.dests = nets

    def add_iface(self, incoming: bool, names: tuple[str, ...], negate: bool) -> None:
        if negate:
            if incoming:
                self.not_iif += names
            else:
                self.not_oif += names
        elif incoming:
            self.iif = names
        else:
            self.oif = names

    def conditions(self) -> Conditions | None:
        if self.impossible:
            return None
        return self.collected(self.family, tuple(dict.fromkeys(self.extras)))


Interpreted = tuple[Conditions | None, str, str, str]  # conditions, action, jump target, label (vmap element)


def _interpret(exprs: list[Any], sets: dict[str, Any], family: str, path: str, line: int) -> list[Interpreted]:
    build = _Build(family)
    action, target = "none", ""
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            raise data_error(
                path, line, f"a rule expression {str(expr)[:40]!r} is not an object with one key", EXPECTED["nft"]
            )
        key, value = next(iter(expr.items()))
        if key == "match":
            _match(build, value, sets, path, line)
        elif key in VERDICTS:
            action, target = _verdict(expr)
        elif key == "vmap":
            return _vmap(build, value, sets, path, line)
        elif key == "limit":
            over = isinstance(value, dict) and value.get("inv")
            rate = f"{value.get('rate')}/{value.get('per')}" if isinstance(value, dict) else ""
            build.extras.append(
                Extra("other" if over else "limit", f"limit rate {'over ' if over else ''}{rate}".strip())
            )
        elif key in ("quota", "ct count", "meter"):
            # the same text from JSON and from the text listing: the statement and a meter's name
            name = value.get("name") if isinstance(value, dict) else str(value or "").split(" ")[0]
            build.extras.append(Extra("other", f"{key} {name}" if key == "meter" and name else key))
        elif key == "xt":
            kind = value.get("type") if isinstance(value, dict) else ""
            name = value.get("name") if isinstance(value, dict) else ""
            if kind == "match":
                build.extras.append(Extra("other", f"xt match {name}"))
            elif kind == "target" and action == "none":
                action = str(name).lower() or "xt"
        elif action == "none" and key in STATEMENTS:
            action = key
    return [(build.conditions(), action, target, "")]


def _verdict(expr: dict[str, Any]) -> tuple[str, str]:
    key, value = next(iter(expr.items()))
    if key in ("jump", "goto"):
        target = value.get("target") if isinstance(value, dict) else None
        return key, str(target or "")
    if key in ("continue", "queue"):
        return ("none" if key == "continue" else "queue"), ""
    return key, ""


def _vmap(build: _Build, value: Any, sets: dict[str, Any], path: str, line: int) -> list[Interpreted]:
    if not isinstance(value, dict):
        raise data_error(path, line, "a vmap without key and data", EXPECTED["nft"])
    key, data = value.get("key"), value.get("data")
    if isinstance(data, str) and data.startswith("@"):
        elements = _set_elements(sets, data, path, line)
    elif isinstance(data, dict) and "set" in data:
        elements = data["set"] if isinstance(data["set"], list) else [data["set"]]
    else:
        raise data_error(path, line, "a vmap whose data is neither a set nor @map", EXPECTED["nft"])
    out: list[Interpreted] = []
    for element in elements:
        if not isinstance(element, list) or len(element) != 2 or not isinstance(element[1], dict):
            continue
        branch = build.copy()
        _match(branch, {"op": "==", "left": key, "right": element[0]}, sets, path, line)
        action, target = _verdict(element[1])
        out.append((branch.conditions(), action, target, f"{_value_text(element[0])} : {action}"))
    return out


def _set_elements(sets: dict[str, Any], ref: str, path: str, line: int) -> list[Any]:
    name = ref[1:]
    if name not in sets:
        raise data_error(
            path, line, f"the rule uses set @{name}, which its table does not define", "the set defined in the table"
        )
    elems = sets[name]["elem"]
    return list(elems)


def _flatten_values(right: Any, sets: dict[str, Any], path: str, line: int) -> list[Any]:
    """The plain values of a right-hand side: scalars, {"range"}, {"prefix"} (sets and @sets expanded)."""
    if isinstance(right, str) and right.startswith("@"):
        values = _set_elements(sets, right, path, line)
    elif isinstance(right, dict) and "set" in right:
        values = right["set"] if isinstance(right["set"], list) else [right["set"]]
    elif isinstance(right, list):
        values = right
    else:
        values = [right]
    out = []
    for value in values:
        if isinstance(value, dict) and "elem" in value:  # an element with a timeout or comment
            value = value["elem"].get("val") if isinstance(value["elem"], dict) else value["elem"]
        if isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            value = value[0]  # a map element: key only
        out.append(value)
    return out


def _match(build: _Build, value: Any, sets: dict[str, Any], path: str, line: int) -> None:
    if not isinstance(value, dict) or "left" not in value or "right" not in value:
        raise data_error(path, line, "a match without left and right", EXPECTED["nft"])
    op = value.get("op", "==")
    left, right = value["left"], value["right"]
    negate = op == "!="
    text = f"{_value_text(left)} {'' if op in ('==', 'in') else op + ' '}{_value_text(right)}"
    if not isinstance(left, dict) or len(left) != 1:
        build.extras.append(Extra("other", text))
        return
    kind, spec = next(iter(left.items()))
    if isinstance(right, str) and right.startswith("@") and not _set_elements(sets, right, path, line):
        # A set that is empty when listed is usually filled at run time (blocklists, dynamic sets): some packets.
        if kind == "payload" and isinstance(spec, dict) and spec.get("protocol") in ("ip", "ip6"):
            build.set_family("ipv4" if spec["protocol"] == "ip" else "ipv6")
        build.extras.append(Extra("other", f"{text} (an empty set when listed)"))
        return
    if kind == "payload" and isinstance(spec, dict):
        _payload(
            build, str(spec.get("protocol", "")), str(spec.get("field", "")), op, right, negate, text, sets, path, line
        )
    elif kind == "meta" and isinstance(spec, dict):
        _meta(build, str(spec.get("key", "")), right, negate, text, sets, path, line)
    elif kind == "ct" and isinstance(spec, dict) and spec.get("key") == "state" and "dir" not in spec:
        states = frozenset(str(v).lower() for v in _flatten_values(right, sets, path, line))
        if not states <= set(STATES):
            build.extras.append(Extra("other", text))
            return
        wanted = frozenset(STATES) - states if negate else states
        build.states = wanted if build.states is None else build.states & wanted
    elif kind == "fib" and isinstance(spec, dict) and spec.get("result") == "type":
        kinds = {str(v) for v in _flatten_values(right, sets, path, line)}
        if kinds == {"local"} and not negate:
            build.extras.append(Extra("dst-local", "fib daddr type local"))
        elif kinds <= {"multicast", "broadcast", "anycast"} and not negate:
            build.extras.append(Extra("dst-multicast", text))
        else:
            build.extras.append(Extra("other", text))
    elif kind == "&" and _is_syn_test(left, right, op):
        build.add_protocols(frozenset({6}), False)
        build.extras.append(Extra("syn", "tcp flags syn"))
    else:
        build.extras.append(Extra("other", text))


def _is_syn_test(left: Any, right: Any, op: str) -> bool:
    parts = left.get("&") if isinstance(left, dict) else None
    if not isinstance(parts, list) or len(parts) != 2 or op not in ("==", "in"):
        return False
    field, mask = parts
    if not (isinstance(field, dict) and field.get("payload", {}).get("field") == "flags"):
        return False
    masks = set(mask) if isinstance(mask, list) else {mask}
    return right == "syn" and "syn" in masks and "ack" in masks


def _payload(
    build: _Build,
    proto: str,
    field: str,
    op: str,
    right: Any,
    negate: bool,
    text: str,
    sets: dict[str, Any],
    path: str,
    line: int,
) -> None:
    if proto in PORT_PROTOS and field in ("dport", "sport"):
        if proto not in ("th", "udplite"):
            build.add_protocols(frozenset({_proto_number(proto)}), False)
        ports = _ports(op, right, sets, path, line, text)
        if ports is None:
            build.extras.append(Extra("other", text))
            return
        build.add_ports(field == "dport", ports, negate and op == "!=")
        return
    if proto in ("ip", "ip6"):
        build.set_family("ipv4" if proto == "ip" else "ipv6")
        if field in ("saddr", "daddr"):
            nets = _networks(_flatten_values(right, sets, path, line))
            if nets is None:
                build.extras.append(Extra("other", text))
            else:
                build.add_nets(field == "saddr", nets, negate)
            return
        if field in ("protocol", "nexthdr"):
            numbers = _protocols(_flatten_values(right, sets, path, line))
            if numbers is None:
                build.extras.append(Extra("other", text))
            else:
                build.add_protocols(numbers, negate)
            return
        build.extras.append(Extra("other", text))
        return
    if proto in ("icmp", "icmpv6"):
        build.set_family("ipv4" if proto == "icmp" else "ipv6")
        build.add_protocols(frozenset({1 if proto == "icmp" else 58}), False)
        build.extras.append(Extra("icmp-type" if field in ("type", "code") else "other", text))
        return
    if proto == "tcp" and field == "flags" and right == "syn" and op in ("==", "in"):
        build.add_protocols(frozenset({6}), False)
        build.extras.append(Extra("syn", "tcp flags syn"))
        return
    if proto in ("tcp", "udp", "sctp", "dccp", "esp", "ah", "comp"):
        build.add_protocols(frozenset({_proto_number(proto)}), False)
    build.extras.append(Extra("other", text))


def _meta(
    build: _Build, key: str, right: Any, negate: bool, text: str, sets: dict[str, Any], path: str, line: int
) -> None:
    values = _flatten_values(right, sets, path, line)
    if key == "l4proto":
        numbers = _protocols(values)
        if numbers is None:
            build.extras.append(Extra("other", text))
        else:
            build.add_protocols(numbers, negate)
    elif key in ("nfproto", "protocol"):
        names = {str(v) for v in values}
        families = {"ipv4" if n in ("ipv4", "ip") else "ipv6" if n in ("ipv6", "ip6") else "?" for n in names}
        if len(families) == 1 and "?" not in families and not negate:
            build.set_family(families.pop())
        elif negate and families <= {"ipv4", "ipv6"} and len(families) == 1:
            build.set_family("ipv6" if families.pop() == "ipv4" else "ipv4")
        else:
            build.extras.append(Extra("other", text))
    elif key in ("iif", "iifname", "oif", "oifname"):
        ifaces = tuple(str(v) for v in values if isinstance(v, str | int))
        build.add_iface(key.startswith("i"), ifaces, negate)
    elif key == "pkttype":
        kinds = {str(v) for v in values}
        if kinds == {"host"} and not negate:
            build.extras.append(Extra("dst-local", text))
        elif kinds <= {"multicast", "broadcast"} and not negate:
            build.extras.append(Extra("dst-multicast", text))
        else:
            build.extras.append(Extra("other", text))
    else:
        build.extras.append(Extra("other", text))


def _proto_number(name: str) -> int:
    number = ip_protocol_number(name)
    return number if number is not None else -1


def _protocols(values: list[Any]) -> frozenset[int] | None:
    numbers = set()
    for value in values:
        if isinstance(value, dict) and "range" in value:
            low, high = value["range"]
            if not (isinstance(low, int) and isinstance(high, int)):
                return None
            numbers |= set(range(low, high + 1))
            continue
        number = ip_protocol_number(value) if isinstance(value, int | str) else None
        if number is None:
            return None
        numbers.add(number)
    return frozenset(numbers)


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.isdigit():
            return int(value)
        return SERVICES.get(value.lower())
    return None


def _ports(op: str, right: Any, sets: dict[str, Any], path: str, line: int, text: str) -> tuple[PortRange, ...] | None:
    try:
        if op in ("<", ">", "<=", ">="):
            number = _port(right)
            if number is None:
                return None
            bounds = {"<": (0, number - 1), "<=": (0, number), ">": (number + 1, 65535), ">=": (number, 65535)}[op]
            return (port_range(*bounds),)
        out = []
        for value in _flatten_values(right, sets, path, line):
            if isinstance(value, dict) and "range" in value:
                low, high = (_port(v) for v in value["range"])
                if low is None or high is None:
                    return None
                out.append(port_range(low, high))
                continue
            number = _port(value)
            if number is None:
                return None
            out.append(port_range(number, number))
        return tuple(out)
    except ValueError as exc:
        raise data_error(path, line, f"bad port in {text!r} ({exc})", "ports 0-65535") from None


def _networks(values: list[Any]) -> tuple[Network, ...] | None:
    nets: list[Network] = []
    for value in values:
        try:
            if isinstance(value, dict) and "prefix" in value:
                prefix = value["prefix"]
                nets.append(ipaddress.ip_network(f"{prefix['addr']}/{prefix['len']}", strict=False))
            elif isinstance(value, dict) and "range" in value:
                low, high = (ipaddress.ip_address(v) for v in value["range"])
                nets += list(ipaddress.summarize_address_range(low, high))
            elif isinstance(value, str):
                nets.append(ipaddress.ip_network(value, strict=False))
            else:
                return None
        except (ValueError, TypeError, KeyError):
            return None
    return tuple(nets)


def _value_text(value: Any) -> str:
    """nft-like text of a JSON expression (for rule texts and conditions kept as text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, list):
        return ",".join(_value_text(v) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key == "payload" and isinstance(inner, dict):
            return f"{inner.get('protocol', '')} {inner.get('field', '')}".strip()
        if key in ("meta", "ct", "rt", "socket", "osf") and isinstance(inner, dict):
            return f"{key} {inner.get('key', '')}".strip()
        if key == "fib" and isinstance(inner, dict):
            return f"fib {' . '.join(inner.get('flags', []) if isinstance(inner.get('flags'), list) else [str(inner.get('flags', ''))])} {inner.get('result', '')}"
        if key == "set":
            return "{ " + ", ".join(_value_text(v) for v in (inner if isinstance(inner, list) else [inner])) + " }"
        if key == "range" and isinstance(inner, list):
            return "-".join(_value_text(v) for v in inner)
        if key == "prefix" and isinstance(inner, dict):
            return f"{inner.get('addr')}/{inner.get('len')}"
        if key == "concat" and isinstance(inner, list):
            return " . ".join(_value_text(v) for v in inner)
        if key == "unknown":
            return str(inner)
        if key == "&" and isinstance(inner, list):
            return " & ".join(_value_text(v) for v in inner)
        if key in VERDICTS:
            target = inner.get("target") if isinstance(inner, dict) else None
            return f"{key} {target}" if target else str(key)
        return str(key)
    return json.dumps(value, sort_keys=True)[:40]


def _render(exprs: list[Any]) -> str:
    parts = []
    for expr in exprs:
        if not isinstance(expr, dict) or len(expr) != 1:
            continue
        key, value = next(iter(expr.items()))
        if key == "match" and isinstance(value, dict):
            op = value.get("op", "==")
            shown = "" if op in ("==", "in") else f" {op}"
            parts.append(f"{_value_text(value.get('left'))}{shown} {_value_text(value.get('right'))}")
        elif key in VERDICTS:
            parts.append(_value_text(expr))
        elif key == "vmap" and isinstance(value, dict):
            parts.append(f"{_value_text(value.get('key'))} vmap {_value_text(value.get('data'))}")
        elif key in ("counter", "log", "limit", "comment"):
            parts.append(key)
        else:
            parts.append(key)
    return " ".join(parts)


# -- reading text -------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{},;()|]|[^\s{},;()|"]+|"')


class _Token:
    __slots__ = ("line", "quoted", "value")

    def __init__(self, value: str, line: int, quoted: bool) -> None:
        self.value = value
        self.line = line
        self.quoted = quoted

    def __repr__(self) -> str:
        return f"{self.value!r}@{self.line}"


NEWLINE = "\n"


def _tokens(text: str, path: str) -> list[_Token]:
    tokens: list[_Token] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw
        handle = ""
        for match in _TOKEN.finditer(line):
            value = match.group(0)
            if value == '"':
                raise data_error(path, number, "a string that is not closed", EXPECT_TEXT)
            if value.startswith("#"):
                rest = line[match.start() :]
                found = re.match(r"#\s*handle\s+(\d+)", rest)
                handle = found.group(1) if found else ""
                break
            if value.startswith('"'):
                tokens.append(_Token(value[1:-1], number, True))
            else:
                tokens.append(_Token(value, number, False))
        if handle:
            tokens.append(_Token(f"#handle:{handle}", number, False))
        tokens.append(_Token(NEWLINE, number, False))
    return tokens


class _TextParser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.tokens = _tokens(text, path)
        self.pos = 0
        self.model = _Model(path, "nft-text")
        self.saw_table = False

    # token helpers
    def peek(self, offset: int = 0) -> _Token | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> _Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1].line if self.tokens else 0
            raise data_error(self.path, last, "the file ends in the middle of a block (truncated?)", "a closing '}'")
        self.pos += 1
        return token

    def skip_newlines(self) -> None:
        while (token := self.peek()) is not None and token.value in (NEWLINE, ";") and not token.quoted:
            self.pos += 1

    def statement(self) -> list[_Token]:
        """Tokens up to the end of the line or ';' (braces may span lines)."""
        out: list[_Token] = []
        depth = 0
        while (token := self.peek()) is not None:
            if not token.quoted and token.value in (NEWLINE, ";") and depth == 0:
                break
            if not token.quoted and token.value == "}" and depth == 0:
                break
            self.pos += 1
            if token.quoted or token.value != NEWLINE:
                out.append(token)
            if not token.quoted and token.value == "{":
                depth += 1
            elif not token.quoted and token.value == "}":
                depth -= 1
        return out

    def fail(self, token: _Token | None, problem: str, expected: str = EXPECT_TEXT) -> DataError:
        line = token.line if token is not None else 0
        return data_error(self.path, line, problem, expected)

    def expect(self, value: str) -> _Token:
        token = self.next()
        if token.value != value or token.quoted:
            raise self.fail(token, f"found {token.value!r} where {value!r} belongs")
        return token

    # top level
    def parse(self) -> Ruleset:
        while True:
            self.skip_newlines()
            token = self.peek()
            if token is None:
                break
            words = [t.value for t in self.statement_preview()]
            self.top(token, words)
        if not self.saw_table:
            raise data_error(self.path, 0, "no table in the file", EXPECT_TEXT)
        return self.model.finish()

    def statement_preview(self) -> list[_Token]:
        out = []
        index = self.pos
        while index < len(self.tokens) and self.tokens[index].value not in (NEWLINE, ";", "{"):
            out.append(self.tokens[index])
            index += 1
        return out

    def top(self, token: _Token, words: list[str]) -> None:
        first = token.value
        if first.startswith("#handle:"):
            self.pos += 1
            return
        if first in ("define", "include", "redefine", "undefine") or any(w.startswith("$") for w in words):
            raise self.fail(
                token,
                f"the file uses nft variables or includes ({first} ...)",
                "'nft list ruleset' output: load the file with nft -f and list it",
            )
        if first == "flush" and words[:2] == ["flush", "ruleset"]:
            self.statement()
            for key in list(self.model.tables):
                self.model.drop_table(*key)
            return
        if first in ("add", "create", "insert") and len(words) > 1:
            self.pos += 1
            self.command(words[1], first == "insert", token)
            return
        if first == "delete" and len(words) >= 4 and words[1] == "table":
            self.statement()
            self.model.drop_table(words[2], words[3])
            return
        if first == "flush" and len(words) >= 4 and words[1] in ("table", "chain"):
            self.statement()
            return
        if first == "table":
            self.pos += 1
            self.table_statement(token)
            return
        if first in ("chain", "set", "map", "rule", "element"):
            self.command(first, False, token)
            return
        raise wrong_format(self.path, token.line, " ".join(words) or first, "nft", self.text)

    def family_and_name(self, token: _Token) -> tuple[str, str]:
        first = self.next()
        if first.value in FAMILY and (nxt := self.peek()) is not None and nxt.value not in ("{", NEWLINE, ";"):
            return first.value, self.next().value
        if first.value in ("{", NEWLINE, ";"):
            raise self.fail(token, "a table without a name")
        return "ip", first.value  # nft's default family

    def table_statement(self, token: _Token) -> None:
        family, name = self.family_and_name(token)
        self.saw_table = True
        self.model.table(family, name)
        nxt = self.peek()
        if nxt is not None and nxt.value == "{" and not nxt.quoted:
            self.pos += 1
            self.table_body(family, name)

    def table_body(self, family: str, name: str) -> None:
        while True:
            self.skip_newlines()
            token = self.next()
            if token.value == "}" and not token.quoted:
                return
            if token.value.startswith("#handle:"):
                continue
            if token.value == "chain":
                chain_name = self.next().value
                self.chain_block(family, name, chain_name, token)
            elif token.value in ("set", "map"):
                set_name = self.next().value
                self.expect("{")
                self.set_block(family, name, set_name, token.value, token)
            elif token.value in ("flags", "comment"):
                self.statement()
            else:
                # ct helper NAME { }, counter NAME { }, flowtable, quota, limit, secmark, synproxy...
                self.skip_block(token)

    def skip_block(self, token: _Token) -> None:
        while True:
            nxt = self.next()
            if nxt.value == "{" and not nxt.quoted:
                break
            if nxt.value in (NEWLINE, ";") and not nxt.quoted:
                return
        depth = 1
        while depth:
            nxt = self.next()
            if not nxt.quoted and nxt.value == "{":
                depth += 1
            elif not nxt.quoted and nxt.value == "}":
                depth -= 1

    def chain_block(self, family: str, table: str, name: str, token: _Token) -> None:
        header: dict[str, Any] = {"family": family, "table": table, "name": name}
        nxt = self.peek()
        if nxt is None or nxt.value != "{":
            self.model.chain(header, "chain", token.line)
            return
        self.pos += 1
        chain: Chain | None = None
        while True:
            self.skip_newlines()
            first = self.peek()
            if first is None:
                raise self.fail(token, f"chain {name} is not closed (truncated?)", "a closing '}'")
            if first.value == "}" and not first.quoted:
                self.pos += 1
                break
            if first.value.startswith("#handle:"):
                self.pos += 1
                continue
            if first.value == "type" and not first.quoted:
                words = self.statement()
                header.update(self.chain_type([t.value for t in words], first))
                continue
            if first.value == "policy" and not first.quoted:
                words = self.statement()
                header["policy"] = words[1].value if len(words) > 1 else ""
                continue
            if first.value in ("comment", "devices", "device") and not first.quoted:
                self.statement()
                continue
            if chain is None:
                chain = self.model.chain(header, "chain", token.line)
            rule_tokens = self.statement()
            self.add_rule(family, table, name, rule_tokens, prepend=False)
        if chain is None:
            self.model.chain(header, "chain", token.line)

    def chain_type(self, words: list[str], token: _Token) -> dict[str, Any]:
        out: dict[str, Any] = {}
        index = 0
        while index < len(words):
            word = words[index]
            if word in ("type", "hook", "policy") and index + 1 < len(words):
                out[word] = words[index + 1]
                index += 2
            elif word == "priority" and index + 1 < len(words):
                value = words[index + 1]
                out["prio"] = int(value) if re.fullmatch(r"-?\d+", value) else 0
                index += 2
            else:
                index += 1
        if "hook" not in out:
            raise self.fail(token, "a chain type without a hook", "'type filter hook input priority 0;'")
        return out

    def set_block(self, family: str, table: str, name: str, kind: str, token: _Token) -> None:
        value: dict[str, Any] = {"family": family, "table": table, "name": name, "elem": []}
        while True:
            self.skip_newlines()
            first = self.next()
            if first.value == "}" and not first.quoted:
                break
            if first.value in ("type", "typeof"):
                words = self.statement()
                text = " ".join(w.value for w in words)
                if kind == "map" and " : " in f" {text} ":
                    key_type, data_type = text.split(":", 1)
                    value["type"], value["map"] = key_type.strip(), data_type.strip()
                else:
                    value["type"] = text
            elif first.value == "elements":
                self.expect("=")
                self.expect("{")
                value["elem"] = self.elements()
            else:
                self.statement()
        self.model.set(value, f"{kind} {name}")

    def elements(self) -> list[Any]:
        """The inside of ``{ ... }`` up to its closing brace, as JSON-like values."""
        items: list[list[_Token]] = [[]]
        depth = 0
        while True:
            token = self.next()
            if not token.quoted and token.value == "{":
                depth += 1
            elif not token.quoted and token.value == "}":
                if depth == 0:
                    break
                depth -= 1
            if not token.quoted and token.value == "," and depth == 0:
                items.append([])
                continue
            if token.value == NEWLINE and not token.quoted:
                continue
            items[-1].append(token)
        return [self.element_value(item) for item in items if item]

    def element_value(self, tokens: list[_Token]) -> Any:
        words = [t.value for t in tokens]
        if ":" in words:
            split = words.index(":")
            key = _scalar(words[0]) if split == 1 else " ".join(words[:split])
            verdict_words = words[split + 1 :]
            return [key, _verdict_json(verdict_words)]
        # "timeout 1h expires 30m" and "comment" after an element are dropped
        return _scalar(words[0])

    def command(self, what: str, insert: bool, token: _Token) -> None:
        words = self.statement_preview()
        values = [w.value for w in words]
        if what == "table":
            self.pos += 1
            self.table_statement(token)
            return
        if what in ("chain", "set", "map", "element", "rule") and len(values) >= 4:
            self.pos += 1  # the keyword
            family, table = self.next().value, self.next().value
            name = self.next().value
            self.saw_table = True
            self.model.table(family, table)
            if what == "chain":
                self.chain_block(family, table, name, token)
            elif what in ("set", "map"):
                self.expect("{")
                self.set_block(family, table, name, what, token)
            elif what == "element":
                self.expect("{")
                self.model.element({"family": family, "table": table, "name": name, "elem": self.elements()}, "element")
            else:
                rule_tokens = self.statement()
                if rule_tokens and rule_tokens[0].value in ("position", "handle", "index"):
                    rule_tokens = rule_tokens[2:]
                self.add_rule(family, table, name, rule_tokens, prepend=insert)
            return
        raise self.fail(token, f"found {' '.join(values)[:60]!r}", EXPECT_TEXT)

    def add_rule(self, family: str, table: str, chain: str, tokens: list[_Token], prepend: bool) -> None:
        handle = next((t.value.split(":", 1)[1] for t in tokens if t.value.startswith("#handle:")), "")
        nxt = self.peek()
        if not handle and nxt is not None and nxt.value.startswith("#handle:"):
            handle = nxt.value.split(":", 1)[1]
        tokens = [t for t in tokens if not t.value.startswith("#handle:")]
        if not tokens:
            return
        line = tokens[0].line
        text = " ".join(f'"{t.value}"' if t.quoted else t.value for t in tokens)
        exprs, comment = _RuleText(tokens, self.path).parse()
        value: dict[str, Any] = {"family": family, "table": table, "chain": chain, "expr": exprs}
        if handle:
            value["handle"] = int(handle)
        if comment:
            value["comment"] = comment
        if (f"{family} {table}", chain) not in self.model.ruleset.chains:
            self.model.chain({"family": family, "table": table, "name": chain}, "chain", line)
        self.model.rule(value, f"rule in chain {chain}", line, text, prepend=prepend)


def _scalar(word: str) -> Any:
    if re.fullmatch(r"\d+", word):
        return int(word)
    found = re.fullmatch(r"(\d+)-(\d+)", word)
    if found:
        return {"range": [int(found.group(1)), int(found.group(2))]}
    if "/" in word and not word.startswith("/"):
        addr, _slash, length = word.partition("/")
        if length.isdigit():
            return {"prefix": {"addr": addr, "len": int(length)}}
    if re.fullmatch(r"[0-9a-fA-F.:]+-[0-9a-fA-F.:]+", word) and ("." in word or ":" in word):
        low, high = word.split("-", 1)
        return {"range": [low, high]}
    return word


def _verdict_json(words: list[str]) -> dict[str, Any]:
    if not words:
        return {"continue": None}
    if words[0] in ("jump", "goto") and len(words) > 1:
        return {words[0]: {"target": words[1]}}
    if words[0] in VERDICTS:
        return {words[0]: None}
    return {"continue": None}


# Words that start a new match or statement inside a rule.
MATCH_WORDS = {
    "ip", "ip6", "tcp", "udp", "sctp", "dccp", "th", "udplite", "icmp", "icmpv6", "meta", "ct", "iif", "iifname",
    "oif", "oifname", "fib", "mark", "ether", "vlan", "arp", "ah", "esp", "comp", "socket", "osf", "ipsec", "rt",
    "exthdr", "frag", "dst", "hbh", "mh", "srh", "numgen", "jhash", "symhash", "nfproto", "l4proto", "pkttype",
    "skuid", "skgid", "cgroup", "iiftype", "oiftype", "igmp", "tunnel",
}  # fmt: skip
STATEMENT_WORDS = {
    "counter", "log", "limit", "quota", "comment", "dnat", "snat", "masquerade", "redirect", "notrack", "meter",
    "add", "update", "delete", "tproxy", "synproxy", "flow", "dup", "fwd", "xt", "queue", "reset", "last",
    "secmark",
}  # fmt: skip
META_SHORT = {"iif", "iifname", "oif", "oifname", "mark", "nfproto", "l4proto", "pkttype", "skuid", "skgid",
              "cgroup", "iiftype", "oiftype"}  # fmt: skip
OPERATORS = {"==", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge"}
OP_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}


class _RuleText:
    """One rule's tokens turned into nft JSON expressions."""

    def __init__(self, tokens: list[_Token], path: str) -> None:
        self.tokens = tokens
        self.path = path
        self.pos = 0
        self.line = tokens[0].line if tokens else 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def word(self) -> str:
        token = self.peek()
        return token.value if token is not None and not token.quoted else ""

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def starts(self, token: _Token | None) -> bool:
        return (
            token is not None
            and not token.quoted
            and (token.value in MATCH_WORDS or token.value in STATEMENT_WORDS or token.value in VERDICTS)
        )

    def rest_of_statement(self) -> list[str]:
        out: list[str] = []
        depth = 0
        while (token := self.peek()) is not None:
            if depth == 0 and self.starts(token):
                break
            self.pos += 1
            if not token.quoted and token.value == "{":
                depth += 1
            elif not token.quoted and token.value == "}":
                depth -= 1
            out.append(token.value)
        return out

    def parse(self) -> tuple[list[Any], str]:
        exprs: list[Any] = []
        comment = ""
        while (token := self.peek()) is not None:
            word = token.value if not token.quoted else ""
            if word == "comment":
                self.pos += 1
                if self.peek() is not None:
                    comment = self.take().value
                continue
            if word in VERDICTS:
                exprs.append(self.verdict())
                continue
            if word in STATEMENT_WORDS:
                exprs.append(self.statement_word())
                continue
            if word in MATCH_WORDS:
                exprs.append(self.match())
                continue
            # anything else: keep it as an unknown condition
            words = [self.take().value, *self.rest_of_statement()]
            exprs.append({"match": {"op": "==", "left": {"unknown": " ".join(words)}, "right": ""}})
        return exprs, comment

    def verdict(self) -> dict[str, Any]:
        word = self.take().value
        if word in ("jump", "goto"):
            target = self.take().value if self.peek() is not None else ""
            return {word: {"target": target}}
        if word == "reject":
            if self.word() == "with":
                self.pos += 1
                proto = self.take().value if self.peek() is not None else ""
                if proto == "tcp" and self.word() == "reset":
                    self.pos += 1
                else:
                    if self.word() == "type":
                        self.pos += 1
                    if self.peek() is not None and not self.starts(self.peek()):
                        self.pos += 1
            return {"reject": None}
        if word == "queue":
            self.rest_of_statement()
        return {word: None}

    def statement_word(self) -> dict[str, Any]:
        word = self.take().value
        if word in ("dnat", "snat") and self.word() in ("ip", "ip6"):
            self.pos += 1
        args = self.rest_of_statement()
        if word == "limit":
            over = "over" in args
            rate = next((a for a in args if "/" in a), "")
            return {"limit": {"rate": rate.split("/")[0], "per": rate.split("/")[-1], "inv": over}}
        if word == "xt" and len(args) >= 2:
            return {"xt": {"type": args[0], "name": args[1].strip('"')}}
        if word in ("quota", "meter"):
            return {word: " ".join(args)}
        return {word: None}

    def selector(self) -> tuple[dict[str, Any], bool]:
        """The left side of a match; the flag is False when it is a statement (``ct helper set ...``)."""
        word = self.take().value
        if word == "meta":
            key = self.take().value if self.peek() is not None else ""
            left: dict[str, Any] = {"meta": {"key": key}}
        elif word in META_SHORT:
            left = {"meta": {"key": word}}
        elif word == "ct":
            key = self.take().value if self.peek() is not None else ""
            if key in ("original", "reply"):
                key = self.take().value if self.peek() is not None else ""
                left = {"ct": {"key": key, "dir": "original"}}
            else:
                left = {"ct": {"key": key}}
        elif word == "fib":
            flags = []
            while (
                self.peek() is not None
                and self.word() not in ("type", "oif", "oifname")
                and not self.starts(self.peek())
            ):
                flag = self.take().value
                if flag != ".":
                    flags.append(flag)
            result = self.take().value if self.peek() is not None else ""
            left = {"fib": {"flags": flags, "result": result}}
        else:
            field = ""
            nxt = self.peek()
            takes_field = (
                nxt is not None
                and not nxt.quoted
                and nxt.value not in OPERATORS
                and not self.starts(nxt)
                and nxt.value not in ("{", "vmap", "set")
            )
            if nxt is not None and takes_field and (not _looks_like_value(nxt.value) or nxt.value == "flags"):
                field = self.take().value
            left = {"payload": {"protocol": word, "field": field}}
        if self.word() == "set":
            self.pos += 1
            self.rest_of_statement()
            return left, False
        while self.word() == ".":  # a concatenation: keep it whole, as text
            self.pos += 1
            more, _ = self.selector()
            left = {"concat": [left, more]}
        return left, True

    def match(self) -> dict[str, Any]:
        left, is_match = self.selector()
        if not is_match:  # a statement that sets something: "ct helper set", "meta mark set"
            ct = left.get("ct")
            if isinstance(ct, dict) and ct.get("key") == "helper":
                return {"ct helper": None}
            return {"mangle": None}
        op = "=="
        word = self.word()
        if word == "vmap":
            self.pos += 1
            return {"vmap": {"key": left, "data": self.value(vmap=True)}}
        if word in OPERATORS:
            op = OP_WORDS.get(word, word)
            self.pos += 1
        if self.word() == "&":
            self.pos += 1
            mask = self.value()
            op2 = "=="
            if self.word() in OPERATORS:
                op2 = OP_WORDS.get(self.word(), self.word())
                self.pos += 1
            right = self.value()
            return {"match": {"op": op2, "left": {"&": [left, mask]}, "right": right}}
        nxt = self.peek()
        if nxt is None or (not nxt.quoted and (nxt.value in VERDICTS or nxt.value in STATEMENT_WORDS)):
            # "tcp flags syn / syn,ack" style and bare selectors such as "ct state" fall through here
            return {"match": {"op": op, "left": left, "right": True}}
        right = self.value()
        if self.word() == "/":  # flags: "syn / syn,ack"
            self.pos += 1
            mask = self.value()
            return {"match": {"op": op, "left": {"&": [left, mask]}, "right": right}}
        return {"match": {"op": op, "left": left, "right": right}}

    def value(self, vmap: bool = False) -> Any:
        token = self.peek()
        if token is None:
            raise data_error(self.path, self.line, "a match without a value at the end of the rule", EXPECT_TEXT)
        if not token.quoted and token.value == "{":
            self.pos += 1
            items: list[list[_Token]] = [[]]
            depth = 0
            while True:
                if self.peek() is None:
                    raise data_error(self.path, self.line, "a set '{' that is not closed", EXPECT_TEXT)
                inner = self.take()
                if not inner.quoted and inner.value == "{":
                    depth += 1
                elif not inner.quoted and inner.value == "}":
                    if depth == 0:
                        break
                    depth -= 1
                if not inner.quoted and inner.value == "," and depth == 0:
                    items.append([])
                    continue
                items[-1].append(inner)
            values: list[Any] = []
            for item in items:
                if not item:
                    continue
                words = [t.value for t in item]
                if vmap and ":" in words:
                    split = words.index(":")
                    values.append([_scalar(words[0]), _verdict_json(words[split + 1 :])])
                else:
                    values.append(_scalar(words[0]) if not item[0].quoted else item[0].value)
            return {"set": values}
        if not token.quoted and token.value.startswith("@"):
            self.pos += 1
            return token.value
        if not token.quoted and token.value == "(":
            self.pos += 1
            grouped: list[str] = []
            while (part := self.peek()) is not None and part.value != ")":
                self.pos += 1
                if part.value != "|":
                    grouped.append(part.value)
            self.pos += 1
            return grouped
        self.pos += 1
        first: Any = token.value if token.quoted else _scalar(token.value)
        listed: list[Any] = [first]
        while self.word() == ",":  # a,b,c without spaces
            self.pos += 1
            if self.peek() is None:
                break
            nxt = self.take()
            listed.append(nxt.value if nxt.quoted else _scalar(nxt.value))
        return listed[0] if len(listed) == 1 else listed


def _looks_like_value(word: str) -> bool:
    return bool(re.match(r"^[0-9@\"{!]", word)) or word in ("established", "related", "new", "invalid", "untracked")


def _from_text(text: str, path: str) -> Ruleset:
    parser = _TextParser(text, path)
    try:
        return parser.parse()
    except RecursionError:
        raise data_error(path, 0, "expressions nested too deeply", EXPECT_TEXT) from None
