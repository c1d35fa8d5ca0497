"""Read ``ufw status``, ``ufw status verbose`` and ``ufw status numbered``.

Each line under the ``To  Action  From`` header is a rule: ``22/tcp  ALLOW IN  Anywhere``,
``192.0.2.2 53/udp  ALLOW IN  Anywhere``, ``Anywhere on eth0  DENY IN  203.0.113.0/24``, ``8080/tcp (v6) on eth0
ALLOW  Anywhere (v6)``, ``80,443/tcp (WWW Full)  ALLOW IN  Anywhere``, ``Anywhere  ALLOW IN  203.0.113.5/gre``.
A port without a protocol means TCP and UDP (as ufw does); a port on the From side is a source port. LIMIT is an
accept with ufw's rate limit. The ``Default:`` line of the verbose form gives the policies; without it ufw's own
defaults are assumed (deny incoming, allow outgoing) and the report says so.

Only the user's rules appear in the status output: ufw's built-in rules (established connections, ICMP, DHCP
replies, mDNS and SSDP multicast) are not in it, and application profiles show their ports only in the verbose
form.
"""

from __future__ import annotations

import ipaddress
import re

from anyport.errors import DataError
from anyport.model import PortRange
from anyport.protocols import ip_protocol_number
from anyport.rules.rulesets import (
    EXPECTED,
    Chain,
    Conditions,
    Extra,
    Network,
    Rule,
    Ruleset,
    data_error,
    normalise,
    port_range,
    wrong_format,
)

ACTIONS = {"ALLOW": "accept", "DENY": "drop", "REJECT": "reject", "LIMIT": "accept"}
DIRECTIONS = {"IN": "input", "OUT": "output", "FWD": "forward"}
LINE = re.compile(
    r"^(?:\[\s*(?P<number>\d+)\]\s+)?(?P<to>\S.*?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)(?:\s+(?P<dir>IN|OUT|FWD))?"
    r"\s+(?P<from>\S.*?)(?:\s+#\s?(?P<comment>.*?))?\s*$"
)
TAIL = re.compile(r"\s+\((?:log|log-all|out)\)$")
PORTS = re.compile(r"^(?P<ports>\d+(?::\d+)?(?:,\d+(?::\d+)?)*)(?:/(?P<proto>[a-z]+))?$")
DEFAULTS = re.compile(
    r"^Default:\s*(?P<inc>\w+)\s*\(incoming\),\s*(?P<out>\w+)\s*\(outgoing\)(?:,\s*(?P<fwd>\w+)\s*\(routed\))?"
)
EXPECT_RULE = "a rule line 'TO  ACTION [IN|OUT|FWD]  FROM' of ufw status"
POLICY = {"deny": "drop", "reject": "drop", "allow": "accept", "disabled": "drop"}


class _Side:
    """One of the To and From columns."""

    def __init__(self) -> None:
        self.nets: tuple[Network, ...] | None = None
        self.ports: tuple[PortRange, ...] | None = None
        self.protocols: frozenset[int] | None = None
        self.app = ""
        self.iface = ""
        self.v6 = False


def parse_ufw(text: str, path: str) -> Ruleset:
    ruleset = Ruleset(kind="ufw", format="ufw-status", path=path)
    lines = text.splitlines()
    numbered = [(n, line.rstrip()) for n, line in enumerate(lines, start=1) if line.strip()]
    first_number, first = numbered[0]
    status = re.match(r"^Status:\s*(active|inactive)\s*$", first.strip())
    if not status:
        raise wrong_format(path, first_number, first.strip(), "ufw", text)
    table = "ufw"
    policies = {"input": "drop", "output": "accept", "forward": "drop"}
    chains = {
        hook: Chain(name=f"ufw-{hook}", table=table, family="any", hook=hook, policy=policies[hook], kind="filter")
        for hook in ("input", "output", "forward")
    }
    if status.group(1) == "inactive":
        ruleset.active = False
        ruleset.notes.append("ufw is inactive: it filters nothing")
        for number, line in numbered[1:]:
            raise data_error(path, number, f"found {line.strip()[:60]!r} after 'Status: inactive'", "nothing else")
        for chain in chains.values():
            ruleset.chains[chain.key] = chain
        return ruleset
    saw_defaults = False
    in_rules = False
    index = 0
    apps: list[str] = []
    for number, line in numbered[1:]:
        stripped = line.strip()
        if stripped.startswith(("Logging:", "New profiles:")):
            continue
        if stripped.startswith("Default:"):
            found = DEFAULTS.match(stripped)
            if not found:
                raise data_error(
                    path, number, f"found {stripped[:60]!r}", "'Default: deny (incoming), allow (outgoing), ...'"
                )
            policies["input"] = POLICY.get(found.group("inc"), "drop")
            policies["output"] = POLICY.get(found.group("out"), "accept")
            policies["forward"] = POLICY.get(found.group("fwd") or "disabled", "drop")
            saw_defaults = True
            continue
        if re.match(r"^To\s+Action\s+From$", stripped):
            in_rules = True
            continue
        if re.match(r"^--\s+------\s+----$", stripped):
            continue
        if not in_rules:
            raise data_error(path, number, f"found {stripped[:60]!r}", "the 'To  Action  From' header before the rules")
        found = LINE.match(stripped)
        if not found:
            raise data_error(path, number, f"found {stripped[:60]!r}", EXPECT_RULE)
        index = int(found.group("number")) if found.group("number") else index + 1
        rule, app = _rule(found, number, index, table, path, stripped)
        if app:
            apps.append(app)
        chains[DIRECTIONS[found.group("dir") or "IN"]].rules.append(rule)
    for hook, chain in chains.items():
        chain.policy = policies[hook]
        ruleset.chains[chain.key] = chain
    if not saw_defaults:
        ruleset.notes.append(
            "the output has no 'Default:' line (use 'ufw status verbose'): assumed ufw's defaults, "
            "deny incoming and allow outgoing"
        )
    if apps:
        names = ", ".join(dict.fromkeys(apps))
        ruleset.notes.append(
            f"application rules ({names}) do not show their ports here: use 'ufw status verbose' to see them"
        )
    ruleset.notes.append(
        "ufw status lists the user's rules only; ufw's built-in rules also accept replies to the host's own "
        "connections, some ICMP, DHCP replies and mDNS/SSDP multicast"
    )
    if len(ruleset.rules) != len({r.index for r in ruleset.rules}):
        raise DataError(f"{path}: the rule numbers repeat; expected {EXPECTED['ufw']}")
    return ruleset


def _rule(found: re.Match[str], number: int, index: int, table: str, path: str, text: str) -> tuple[Rule, str]:
    to_text = found.group("to")
    from_text = TAIL.sub("", found.group("from"))
    comment = found.group("comment") or ""
    if TAIL.search(from_text):
        from_text = TAIL.sub("", from_text)
    to = _side(to_text, number, path)
    source = _side(from_text, number, path)
    direction = found.group("dir") or "IN"
    action = ACTIONS[found.group("action")]
    extras: list[Extra] = []
    if found.group("action") == "LIMIT":
        extras.append(Extra("limit", "limit (ufw: at most 6 connections in 30 s per source)"))
    app = to.app if to.app and to.ports is None else ""
    if source.app and source.ports is None:
        app = app or source.app
    protocols = to.protocols
    if source.protocols is not None:
        protocols = source.protocols if protocols is None else protocols & source.protocols
    family = "ipv6" if (to.v6 or source.v6) else "ipv4"
    for nets in (to.nets, source.nets):
        if nets and all(n.version == 6 for n in nets):
            family = "ipv6"
    iif: tuple[str, ...] | None = None
    oif: tuple[str, ...] | None = None
    if direction == "IN":
        names = tuple(n for n in (to.iface, source.iface) if n)
        iif = names[:1] or None
    elif direction == "OUT":
        names = tuple(n for n in (source.iface, to.iface) if n)
        oif = names[:1] or None
    else:
        iif = (source.iface,) if source.iface else None
        oif = (to.iface,) if to.iface else None
    if app:
        protocols = frozenset({-1})  # ports unknown here: the rule is kept but opens nothing the report can name
        extras.append(Extra("other", f"application profile {app!r}"))
    cond = normalise(
        Conditions(
            family=family,
            protocols=protocols,
            dports=to.ports,
            sports=source.ports,
            sources=source.nets,
            dests=to.nets,
            iif=iif,
            oif=oif,
            extras=tuple(extras),
        )
    )
    rule = Rule(
        index=index,
        line=number,
        text=" ".join(text.split()),
        table=table,
        chain=f"ufw-{DIRECTIONS[direction]}",
        action=action,
        conditions=cond if cond is not None else Conditions(protocols=frozenset({-1})),
        comment=comment,
        locator=f"rule [{index}]",
    )
    if cond is None:
        rule.reachable = False
        rule.why_unreachable = "its protocols contradict each other"
    return rule, app


def _side(text: str, number: int, path: str) -> _Side:
    side = _Side()
    rest = text.strip()
    on = re.search(r"\s+on\s+(\S+)$", rest)
    if on:
        side.iface = on.group(1)
        rest = rest[: on.start()].strip()
    paren = re.match(r"^(?P<main>.*?)\s*\((?P<inner>.*)\)$", rest)
    if paren:
        inner = paren.group("inner").strip()
        rest = paren.group("main").strip()
        if inner == "v6":
            side.v6 = True
        elif inner.endswith("(v6)"):
            side.v6 = True
            side.app = inner[:-4].strip()
        else:
            side.app = inner
    if not rest:
        raise data_error(path, number, f"an empty address or port in {text!r}", EXPECT_RULE)
    if rest == "Anywhere":
        return side
    parts = rest.split()
    address = _address(parts[0])
    if address is not None:
        nets, proto = address
        if nets is not None:
            side.nets = nets
        if proto is not None:
            side.protocols = frozenset({proto})
        parts = parts[1:]
        if len(parts) > 1:
            raise data_error(path, number, f"found {text!r}", "ADDRESS PORT/PROTO, PORT/PROTO, Anywhere or an app name")
    if parts:
        ports = PORTS.match(parts[0]) if len(parts) == 1 else None
        if ports is None:
            if address is not None:
                raise data_error(
                    path, number, f"found {text!r}", "ADDRESS PORT/PROTO, PORT/PROTO, Anywhere or an app name"
                )
            side.app = rest  # an application profile: "OpenSSH", "WWW Full"
            return side
        side.ports = _ports(ports.group("ports"), number, path)
        proto_name = ports.group("proto")
        if proto_name:
            number_ = ip_protocol_number(proto_name)
            if number_ is None:
                raise data_error(
                    path, number, f"unknown protocol {proto_name!r}", "tcp, udp or another IP protocol name"
                )
            side.protocols = frozenset({number_})
        elif side.protocols is None:
            side.protocols = frozenset({6, 17})
    return side


def _address(word: str) -> tuple[tuple[Network, ...] | None, int | None] | None:
    """``10.0.0.0/8``, ``192.0.2.1``, ``203.0.113.5/gre`` or ``Anywhere/esp``; None if it is none of those."""
    proto: int | None = None
    base = word
    if "/" in word:
        head, _slash, tail = word.rpartition("/")
        if tail.isalpha():
            proto = ip_protocol_number(tail)
            if proto is None:
                return None
            base = head
    if base == "Anywhere":
        return None, proto
    try:
        return (ipaddress.ip_network(base, strict=False),), proto
    except ValueError:
        return None


def _ports(text: str, number: int, path: str) -> tuple[PortRange, ...]:
    out = []
    for item in text.split(","):
        low, _colon, high = item.partition(":")
        try:
            out.append(port_range(int(low), int(high or low)))
        except ValueError as exc:
            raise data_error(path, number, f"bad port {item!r} ({exc})", "ports 1-65535") from None
    return tuple(out)
