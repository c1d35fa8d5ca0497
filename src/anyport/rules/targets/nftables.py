"""nftables: one self-contained file with its own ``inet`` table.

Loading it twice gives the same rule set (the table is declared, deleted and created again). Ports live in named
sets with ``flags interval``; IPv4 and IPv6 share the rules; established and related traffic is accepted first,
ICMPv6 (neighbour discovery) is accepted without a state match so IPv6 keeps working, and conntrack helpers are
attached with ``ct helper`` objects.
"""

from __future__ import annotations

from anyport.rules.base import Target, clean_text
from anyport.rules.options import RuleOptions
from anyport.rules.selection import Selection

ICMP4 = "destination-unreachable, time-exceeded, parameter-problem, echo-request, echo-reply"


def _quote(text: str) -> str:
    """An nft string: no quotes, backslashes or control characters can get in."""
    return '"' + clean_text(text, 120).replace('"', "'").replace("\\", "/") + '"'


class Nftables(Target):
    name = "nftables"
    title = "nftables"
    helpers = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        table = options.name
        # One family only: a table of that family, so the other family's traffic is left alone.
        v4, v6 = options.family_wanted("ipv4"), options.family_wanted("ipv6")
        family = "inet" if v4 and v6 else ("ip" if v4 else "ip6")
        out = ["#!/usr/sbin/nft -f", *self.header(selection, options), ""]
        out += [f"table {family} {table}", f"delete table {family} {table}", "", f"table {family} {table} {{"]
        hook = "input" if options.direction == "in" else "output"
        helpers = []
        for helper in selection.helpers:
            families = [f for f in helper.families if options.family_wanted(f)]
            if not families:  # SNMP and NetBIOS helpers exist for IPv4 only; over IPv6 nothing needs them
                out.append(f"    # no {helper.kernel_name} conntrack helper for IPv6 in the kernel: not attached here")
                continue
            l3proto = family if len(families) == 2 else ("ip" if families == ["ipv4"] else "ip6")
            helpers.append((helper, l3proto))
            out += [
                f"    ct helper {self._helper_name(helper.kernel_name, helper.transport, helper.port)} {{",
                f'        type "{helper.kernel_name}" protocol {helper.transport}',
                f"        l3proto {l3proto}",
                "    }",
            ]
        sets = []
        for transport in selection.transports():
            ranges = selection.merged(transport)
            elements = ", ".join(str(r) for r in ranges)
            sets.append(transport)
            out += [
                f"    set {transport}_ports {{",
                "        type inet_service",
                "        flags interval",
                f"        elements = {{ {elements} }}",
                "    }",
            ]
        protocols = selection.protocol_numbers()
        if protocols:
            out += [
                "    set ip_protocols {",
                "        type inet_proto",
                f"        elements = {{ {', '.join(str(p) for p in protocols)} }}",
                "    }",
            ]
        for which in ("sources", "dests"):
            for family, addr in (("ipv4", "ipv4_addr"), ("ipv6", "ipv6_addr")):
                nets = options.networks(which, family)
                if nets:
                    out += [
                        f"    set {which}_{family[-2:]} {{",
                        f"        type {addr}",
                        "        flags interval",
                        f"        elements = {{ {', '.join(str(n) for n in nets)} }}",
                        "    }",
                    ]
        if helpers:
            hook_helper = "prerouting" if options.direction == "in" else "output"
            out += [
                "",
                "    chain helpers {",
                f"        type filter hook {hook_helper} priority filter; policy accept;",
            ]
            for helper, l3proto in helpers:
                only = "meta nfproto ipv4 " if l3proto == "ip" and family == "inet" else ""
                out.append(
                    f"        {only}{helper.transport} dport {helper.port} ct helper set "
                    f'"{self._helper_name(helper.kernel_name, helper.transport, helper.port)}"'
                )
            out.append("    }")
        allow = options.action == "allow"
        policy = "drop" if allow else "accept"
        out += ["", f"    chain {hook} {{", f"        type filter hook {hook} priority filter; policy {policy};"]
        if allow:
            lo = "iif" if hook == "input" else "oif"
            out += [
                "        ct state established,related accept",
                "        ct state invalid drop",
                f'        {lo} "lo" accept',
            ]
            if v6:
                out += [
                    "        # ICMPv6 without a state match: neighbour discovery must always pass or IPv6 stops working",
                    "        meta l4proto ipv6-icmp accept",
                ]
            if v4:
                out.append(f"        meta l4proto icmp icmp type {{ {ICMP4} }} accept")
        verdict = "accept" if allow else ("reject" if options.reject else "drop")
        match_iface = ""
        if options.interface:
            match_iface = f"{'iifname' if hook == 'input' else 'oifname'} {_quote(options.interface)} "
        prefixes = self._address_prefixes(options)
        for prefix in prefixes:
            for transport in sets:
                out.append(f"        {match_iface}{prefix}{transport} dport @{transport}_ports {verdict}")
            if protocols:
                out.append(f"        {match_iface}{prefix}meta l4proto @ip_protocols {verdict}")
        out += ["    }", "}", ""]
        return {"": "\n".join(out)}

    @staticmethod
    def _helper_name(kernel_name: str, transport: str, port: int) -> str:
        return f"{kernel_name.lower().replace('.', '')}-{transport}-{port}"

    @staticmethod
    def _address_prefixes(options: RuleOptions) -> list[str]:
        """One match prefix per address family that gets rules (``ip saddr @sources_v4 `` ...)."""
        if not options.sources and not options.dests:
            return [""]  # the table's family already says which addresses
        prefixes = []
        for family, ip in (("ipv4", "ip"), ("ipv6", "ip6")):
            if not options.family_wanted(family):
                continue
            parts = []
            if options.networks("sources", family):
                parts.append(f"{ip} saddr @sources_{family[-2:]} ")
            if options.networks("dests", family):
                parts.append(f"{ip} daddr @dests_{family[-2:]} ")
            prefixes.append("".join(parts))
        return prefixes
