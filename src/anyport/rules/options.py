"""What the user asked for besides the services: direction, action, networks, interface, families."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from anyport.errors import QueryError

IFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RuleOptions:
    direction: str = "in"  # in: others reach this host; out: this host reaches others
    action: str = "allow"  # allow or deny
    reject: bool = False  # deny by rejecting (RST / ICMP unreachable) instead of dropping
    sources: tuple[Network, ...] = ()
    dests: tuple[Network, ...] = ()
    interface: str = ""
    include_dynamic: bool = False
    skip_optional: bool = False
    ipv4: bool = True
    ipv6: bool = True
    best_effort: bool = False
    name: str = "anyport"  # table / chain / group name on platforms that need one

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f for f, on in (("ipv4", self.ipv4), ("ipv6", self.ipv6)) if on)

    def networks(self, which: str, family: str) -> tuple[Network, ...]:
        """Sources or destinations of one address family."""
        nets = self.sources if which == "sources" else self.dests
        version = 4 if family == "ipv4" else 6
        return tuple(n for n in nets if n.version == version)

    def family_wanted(self, family: str) -> bool:
        """A family gets rules unless it is switched off or the user's networks are all of the other one."""
        if family not in self.families:
            return False
        for which in ("sources", "dests"):
            nets = self.sources if which == "sources" else self.dests
            if nets and not self.networks(which, family):
                return False
        return True


def parse_networks(values: list[str], what: str) -> tuple[Network, ...]:
    """CIDRs or addresses; a QueryError names the first that is not one."""
    nets: list[Network] = []
    for value in values:
        for part in value.split(","):
            text = part.strip()
            if not text:
                continue
            try:
                nets.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise QueryError(
                    f"{what} {text!r} is not an IP network; write an address or CIDR like 192.0.2.0/24 or 2001:db8::/32"
                ) from None
    return tuple(dict.fromkeys(nets))


def make_options(
    *,
    direction: str = "in",
    action: str = "allow",
    reject: bool = False,
    sources: list[str] | None = None,
    dests: list[str] | None = None,
    interface: str = "",
    include_dynamic: bool = False,
    skip_optional: bool = False,
    ipv4_only: bool = False,
    ipv6_only: bool = False,
    best_effort: bool = False,
) -> RuleOptions:
    """Validated options (every problem is a QueryError with a one-line message)."""
    if direction not in ("in", "out"):
        raise QueryError(f"direction {direction!r} is not in or out")
    if action not in ("allow", "deny"):
        raise QueryError(f"action {action!r} is not allow or deny")
    if ipv4_only and ipv6_only:
        raise QueryError("--ipv4-only and --ipv6-only exclude each other; give one")
    if interface and not IFACE.match(interface):
        raise QueryError(
            f"interface {interface!r} is not an interface name; use letters, digits, '.', '-' (15 at most)"
        )
    options = RuleOptions(
        direction=direction,
        action=action,
        reject=reject,
        sources=parse_networks(sources or [], "source"),
        dests=parse_networks(dests or [], "destination"),
        interface=interface,
        include_dynamic=include_dynamic,
        skip_optional=skip_optional,
        ipv4=not ipv6_only,
        ipv6=not ipv4_only,
        best_effort=best_effort,
    )
    if not any(options.family_wanted(f) for f in options.families):
        raise QueryError("the given networks leave no address family to write rules for; check --ipv4-only/--ipv6-only")
    return options
