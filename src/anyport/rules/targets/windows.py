"""Windows Defender Firewall: a PowerShell script of NetSecurity cmdlets (``New-NetFirewallRule``).

The script first removes every rule of its group, so running it twice gives the same rules. Each value that comes
from the catalog or the command line is a single-quoted PowerShell string: PowerShell reads five characters as a
single quote (' and the typographic U+2018 to U+201B), all of them are doubled, and nothing inside such a string
is expanded or run. The script is pure ASCII: Windows PowerShell 5.1 reads a script without a byte order mark in
the ANSI code page, where the bytes of some UTF-8 characters become typographic quotes and could end a string.

In Windows Firewall a block rule wins over every allow rule (only IPsec-authenticated bypass rules beat it): deny
output says so, and a block wide enough to shadow other allow rules carries a warning of its own. Windows has no
conntrack helpers, matches ports of TCP and UDP only, and cannot answer a blocked inbound packet: all three are
reported as unsupported.
"""

from __future__ import annotations

from anyport.rules.base import Target, ascii_text, clean_text, family_of
from anyport.rules.options import Network, RuleOptions
from anyport.rules.selection import RuleGroup, Selection

# Characters PowerShell's tokenizer takes for a single quote (CharTraits.IsSingleQuote).
SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
# Restricting a rule to one address family: an address range covering the whole family.
WHOLE_FAMILY = {"ipv4": "0.0.0.0-255.255.255.255", "ipv6": "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}
ICMP_FAMILY = {1: "ipv4", 58: "ipv6"}
BROAD_PORTS = 1024  # a block covering this many ports or more gets its own warning


def ps_quote(text: str) -> str:
    """A single-quoted PowerShell string: one line, ASCII, every single-quote character doubled."""
    safe = ascii_text(clean_text(text, 400))
    return "'" + "".join(ch * 2 if ch in SINGLE_QUOTES else ch for ch in safe) + "'"


def ps_list(values: list[str]) -> str:
    return ",".join(ps_quote(v) for v in values)


def _address(net: Network) -> str:
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


class Windows(Target):
    name = "windows"
    title = "Windows Defender Firewall (PowerShell)"
    suffix = ".ps1"
    transports = ("tcp", "udp")  # LocalPort/RemotePort need -Protocol TCP or UDP
    own_sources = True

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        group_name = options.name
        groups = selection.groups(options)
        inbound = options.direction == "in"
        allow = options.action == "allow"
        if options.reject and not allow and inbound:
            self.unsupported_item(
                "reject inbound: Windows Firewall drops blocked inbound packets without a TCP reset or ICMP unreachable"
            )
        direction = "Inbound" if inbound else "Outbound"
        action = "Allow" if allow else "Block"
        port_param = "-LocalPort" if inbound else "-RemotePort"
        body: list[str] = []
        warnings: list[str] = []
        for group in groups:
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            if not families:
                continue
            tag = "" if group.index == 0 else f"-{group.index + 1}"
            peers = [_address(n) for n in group.sources if family_of(n) in families]
            own = [_address(n) for n in options.dests if family_of(n) in families]
            remote, local = (peers, own) if inbound else (own, peers)
            if len(families) == 1 and not remote and not local:
                remote = [WHOLE_FAMILY[families[0]]]  # rules match both families unless addresses say otherwise
            addresses = ""
            if remote:
                addresses += f" -RemoteAddress {ps_list(remote)}"
            if local:
                addresses += f" -LocalAddress {ps_list(local)}"
            if options.interface:
                addresses += f" -InterfaceAlias {ps_quote(options.interface)}"
            for transport in [t for t in group.transports() if t in self.transports]:
                ranges = group.merged(transport)
                owners = sorted({p.service for p in group.ports if p.transport == transport})
                name = f"{group_name}-{options.direction}-{transport}{tag}"
                width = sum(r.width for r in ranges)
                if not allow and width >= BROAD_PORTS:
                    warning = f"# WARNING: {name} blocks {width} {transport.upper()} ports: it shadows every allow rule for them"
                    warnings.append(warning)
                    body.append(warning)
                body.append(
                    self._rule(name, group_name, direction, action, selection, owners)
                    + f" -Protocol {transport.upper()} {port_param} {ps_list([str(r) for r in ranges])}{addresses}"
                    + " | Out-Null"
                )
            for number in group.protocol_numbers():
                if ICMP_FAMILY.get(number, families[0]) not in families:
                    body.append(f"# IP protocol {number} belongs to the other address family: no rule")
                    continue
                owners = sorted({p.service for p in group.protocols if p.protocol == number})
                name = f"{group_name}-{options.direction}-proto{number}{tag}"
                warning = ""
                if not allow and number in (6, 17):
                    warning = (
                        f"# WARNING: {name} blocks all of IP protocol {number}: it shadows every allow rule for it"
                    )
                elif not allow and number == 58:
                    warning = f"# WARNING: {name} blocks ICMPv6: IPv6 neighbour discovery stops working"
                elif not allow and number == 1:
                    warning = f"# WARNING: {name} blocks ICMPv4, including the messages path MTU discovery needs"
                if warning:
                    warnings.append(warning)
                    body.append(warning)
                body.append(
                    self._rule(name, group_name, direction, action, selection, owners)
                    + f" -Protocol {number}{addresses} | Out-Null"
                )
        header = self.header(selection, options) + self._notes(selection, options, groups) + warnings
        out = [ascii_text(line) for line in header]
        out += [
            "#Requires -RunAsAdministrator",
            "",
            "$ErrorActionPreference = 'Stop'",
            f"Remove-NetFirewallRule -Group {ps_quote(group_name)} -ErrorAction SilentlyContinue",
            *body,
        ]
        return {"": "\n".join(out) + "\n"}

    @staticmethod
    def _rule(name: str, group: str, direction: str, action: str, selection: Selection, owners: list[str]) -> str:
        described = "; ".join(f"{o} ({selection.titles.get(o, o)})" for o in owners)
        display = f"{name} ({action.lower()} {direction.lower()})"
        return (
            f"New-NetFirewallRule -Name {ps_quote(name)} -DisplayName {ps_quote(display)} -Group {ps_quote(group)}"
            f" -Description {ps_quote('anyport: ' + described)} -Direction {direction} -Action {action} -Profile Any"
        )

    @staticmethod
    def _notes(selection: Selection, options: RuleOptions, groups: list[RuleGroup]) -> list[str]:
        notes = [
            "# run as Administrator: powershell -NoProfile -ExecutionPolicy Bypass -File FILE.ps1",
            f"# it first removes every rule of group '{options.name}' (Remove-NetFirewallRule -Group "
            f"'{options.name}' undoes it)",
        ]
        inbound = options.direction == "in"
        if options.action == "deny":
            notes.append(
                "# Windows Firewall applies block rules before allow rules: these block rules win over any allow "
                "rule for the same traffic (only IPsec-authenticated bypass rules, -OverrideBlockRules, beat them)"
            )
            if not inbound:
                notes.append("# a blocked outbound connection fails at once in the local program")
        elif inbound:
            notes.append("# Windows blocks unsolicited inbound traffic by default: these allow rules open the ports")
        else:
            notes.append(
                "# Windows allows outbound traffic by default: these allow rules matter only where the profile's "
                "DefaultOutboundAction is Block"
            )
        if selection.helpers:
            notes.append(
                "# no conntrack helpers on Windows; its global StatefulFtp/StatefulPptp settings "
                "(Get-NetFirewallSetting) are left as they are"
            )
        dropped = Target.networks_without_rules(selection, options)
        if dropped:
            notes.append(
                "# no rules for "
                + ", ".join(str(n) for n in dropped)
                + ": this rule set has no rules of that address family"
            )
        return notes
