"""nftables: one self-contained file with its own ``inet`` table.

Loading it twice gives the same rule set (the table is declared, deleted and created again). Ports live in named
sets with ``flags interval``; IPv4 and IPv6 share the rules; established and related traffic is accepted first,
ICMPv6 (neighbour discovery) is accepted without a state match so IPv6 keeps working, and conntrack helpers are
attached with ``ct helper`` objects.
"""

from __future__ import annotations

from anyport.rules.base import Target, clean_text
from anyport.rules.options import RuleOptions
from anyport.rules.selection import HelperRule, Selection

ICMP4 = "destination-unreachable, time-exceeded, parameter-problem, echo-request, echo-reply"


def _quote(text: str) -> str:
    """An nft string: no quotes, backslashes or control characters can get in."""
    return '"' + clean_text(text, 120).replace('"', "'").replace("\\", "/") + '"'


class Nftables(Target):
    name = "nftables"
    title = "nftables"
    suffix = ".nft"
    helpers = True
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        table = options.name
        groups = selection.groups(options)
        # The table's family is the families asked for (--ipv4-only/--ipv6-only), never narrowed by the sources:
        # with IPv4 sources only, IPv6 must still meet the drop policy rather than escape a `table ip`.
        v4 = "ipv4" in options.families
        v6 = "ipv6" in options.families
        family = "inet" if v4 and v6 else ("ip" if v4 else "ip6")
        out = ["#!/usr/sbin/nft -f", *self.header(selection, options), ""]
        out += [f"table {family} {table}", f"delete table {family} {table}", "", f"table {family} {table} {{"]
        hook = "input" if options.direction == "in" else "output"
        helpers = self._helpers(selection, options, family, out)
        for fam, addr in (("ipv4", "ipv4_addr"), ("ipv6", "ipv6_addr")):
            if options.networks("dests", fam) and options.family_wanted(fam):
                out += _set(f"dests_{fam[-2:]}", addr, [str(n) for n in options.networks("dests", fam)])
        rules: list[str] = []
        for group in groups:
            tag = "" if group.index == 0 else f"_{group.index + 1}"
            for transport in group.transports():
                out += _set(f"{transport}_ports{tag}", "inet_service", [str(r) for r in group.merged(transport)])
            if group.protocol_numbers():
                out += _set(f"ip_protocols{tag}", "inet_proto", [str(p) for p in group.protocol_numbers()], False)
            prefixes = []
            for fam, ip, addr in (("ipv4", "ip", "ipv4_addr"), ("ipv6", "ip6", "ipv6_addr")):
                if not group.family_wanted(fam, options):
                    continue
                parts = []
                if group.sources:
                    out += _set(f"sources_{fam[-2:]}{tag}", addr, [str(n) for n in group.networks(fam)])
                    parts.append(f"{ip} saddr @sources_{fam[-2:]}{tag} ")
                if options.dests:
                    parts.append(f"{ip} daddr @dests_{fam[-2:]} ")
                prefixes.append("".join(parts))
            if not group.sources and not options.dests:
                prefixes = [""]  # the table's family already says which addresses
            for prefix in prefixes:
                for transport in group.transports():
                    rules.append(f"{prefix}{transport} dport @{transport}_ports{tag}")
                if group.protocol_numbers():
                    rules.append(f"{prefix}meta l4proto @ip_protocols{tag}")
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
        out += [f"        {match_iface}{rule} {verdict}" for rule in rules]
        out += ["    }", "}", ""]
        return {"": "\n".join(out)}

    def _helpers(
        self, selection: Selection, options: RuleOptions, family: str, out: list[str]
    ) -> list[tuple[HelperRule, str]]:
        """Declare the ct helper objects; returns (helper, l3proto) for the ones attached."""
        helpers = []
        for helper in selection.helpers:
            families = [f for f in helper.families if f in options.families]
            families = [f for f in families if family == "inet" or (family == "ip") == (f == "ipv4")]
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
        return helpers

    @staticmethod
    def _helper_name(kernel_name: str, transport: str, port: int) -> str:
        return f"{kernel_name.lower().replace('.', '')}-{transport}-{port}"


def _set(name: str, kind: str, elements: list[str], interval: bool = True) -> list[str]:
    lines = [f"    set {name} {{", f"        type {kind}"]
    if interval:
        lines.append("        flags interval")
    return [*lines, f"        elements = {{ {', '.join(elements)} }}", "    }"]
