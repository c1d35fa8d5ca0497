"""Turn service names and raw port specs into exactly what a firewall must open.

References are resolved (NetMeeting brings LDAP, H.323...); ports picked at run time are left out unless asked
for, and replaced by a conntrack helper where one exists; every inclusion and exclusion is recorded with its
reason so that the rules' header can say it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyport.errors import QueryError
from anyport.model import PortRange, PortSpec, Service, merge_ranges
from anyport.query.grammar import parse_query
from anyport.query.kb import KnowledgeBase
from anyport.query.service import find_service, service_info
from anyport.rules.options import Network, RuleOptions, parse_networks
from anyport.vocab import TRANSPORTS

RUN_TIME = ("dynamic", "negotiated", "selected")
SELECTED_NARROW = 10
# Linux conntrack helper names, as the kernel registers them, for the control port of each protocol.
KERNEL_HELPERS = {
    ("ftp", "tcp"): "ftp",
    ("tftp", "udp"): "tftp",
    ("sip", "udp"): "sip",
    ("sip", "tcp"): "sip",
    ("h323", "tcp"): "Q.931",
    ("h323", "udp"): "RAS",
    ("pptp", "tcp"): "pptp",
    ("irc", "tcp"): "irc",
    ("amanda", "udp"): "amanda",
    ("netbios-ns", "udp"): "netbios-ns",
    ("snmp", "udp"): "snmp",
    ("sane", "tcp"): "sane",
}
# Helpers the kernel has for IPv4 only (checked: nft refuses them in an ip6 table).
IPV4_ONLY_HELPERS = {"snmp", "netbios-ns", "pptp", "irc"}


@dataclass(frozen=True)
class PortRule:
    """Ports of one transport that one service (or raw spec) needs."""

    service: str
    transport: str
    ranges: tuple[PortRange, ...]
    note: str = ""
    sources: tuple[Network, ...] = ()  # set by SERVICE@CIDR: replaces --source for this service

    @property
    def ports(self) -> str:
        return ",".join(str(r) for r in self.ranges)


@dataclass(frozen=True)
class ProtocolRule:
    service: str
    protocol: int
    note: str = ""
    sources: tuple[Network, ...] = ()


@dataclass(frozen=True)
class HelperRule:
    """A conntrack helper on a service's control port: it opens the related data ports on demand."""

    service: str
    helper: str  # the catalog's name: ftp, sip, h323...
    kernel_name: str  # the kernel's: ftp, sip, Q.931, RAS...
    transport: str
    port: int

    @property
    def families(self) -> tuple[str, ...]:
        return ("ipv4",) if self.kernel_name in IPV4_ONLY_HELPERS else ("ipv4", "ipv6")


@dataclass
class Selection:
    """Everything the rules must express, plus the story of how it was chosen."""

    requested: list[str]
    ports: list[PortRule] = field(default_factory=list)
    protocols: list[ProtocolRule] = field(default_factory=list)
    helpers: list[HelperRule] = field(default_factory=list)
    included: list[tuple[str, str]] = field(default_factory=list)  # (service or spec, why)
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (what, why)
    warnings: list[str] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)

    def merged(self, transport: str) -> list[PortRange]:
        """All ports of one transport, merged."""
        return merge_ranges([r for p in self.ports if p.transport == transport for r in p.ranges])

    def transports(self) -> list[str]:
        return [t for t in TRANSPORTS if self.merged(t)]

    def protocol_numbers(self) -> list[int]:
        return sorted({p.protocol for p in self.protocols})

    @property
    def empty(self) -> bool:
        return not self.ports and not self.protocols

    @property
    def has_own_sources(self) -> bool:
        """True when some service was given its own sources (``ssh@192.0.2.0/24``)."""
        return any(r.sources for r in self.ports) or any(p.sources for p in self.protocols)

    def groups(self, options: RuleOptions) -> list[RuleGroup]:
        """The rules split by the sources they allow: --source for most, SERVICE@CIDR for some."""
        keys: dict[tuple[Network, ...], RuleGroup] = {}
        for rule in self.ports:
            sources = rule.sources or options.sources
            keys.setdefault(sources, RuleGroup(sources, len(keys))).ports.append(rule)
        for proto in self.protocols:
            sources = proto.sources or options.sources
            keys.setdefault(sources, RuleGroup(sources, len(keys))).protocols.append(proto)
        return list(keys.values())


@dataclass
class RuleGroup:
    """Ports and protocols that share the same allowed sources."""

    sources: tuple[Network, ...]
    index: int
    ports: list[PortRule] = field(default_factory=list)
    protocols: list[ProtocolRule] = field(default_factory=list)

    def merged(self, transport: str) -> list[PortRange]:
        return merge_ranges([r for p in self.ports if p.transport == transport for r in p.ranges])

    def transports(self) -> list[str]:
        return [t for t in TRANSPORTS if self.merged(t)]

    def protocol_numbers(self) -> list[int]:
        return sorted({p.protocol for p in self.protocols})

    def networks(self, family: str) -> tuple[Network, ...]:
        version = 4 if family == "ipv4" else 6
        return tuple(n for n in self.sources if n.version == version)

    def family_wanted(self, family: str, options: RuleOptions) -> bool:
        """Rules for this family: the family is on, and the group's sources (if any) include that family."""
        if family not in options.families:
            return False
        if options.dests and not options.networks("dests", family):
            return False
        return not self.sources or bool(self.networks(family))


def select(kb: KnowledgeBase, items: list[str], options: RuleOptions) -> Selection:
    """Resolve services and raw specs (``tcp/8443``, ``udp/5000-5010``, ``ip:47``) into a Selection."""
    if not items:
        raise QueryError("no services given; name services (e.g. ssh, sip) or specs like tcp/8443")
    selection = Selection(requested=list(items))
    seen_services: set[tuple[str, tuple[Network, ...]]] = set()
    for given in items:
        item, sources = _split_sources(given)
        if not item.strip():
            raise QueryError("empty service name; name a service (e.g. ssh) or a spec like tcp/8443")
        raw = _raw_spec(item)
        if raw is not None:
            _add_raw(selection, item, raw, sources)
            continue
        service = find_service(kb, item)
        if (service.id, sources) in seen_services:
            continue
        seen_services.add((service.id, sources))
        _add_service(kb, selection, service, options, sources)
    # Media negotiated in SIP or H.323 signalling is opened by those helpers (RTP/RTCP in the SDP or H.245).
    media_helpers = sorted({h.kernel_name for h in selection.helpers if h.helper in ("sip", "h323")})
    if media_helpers:
        selection.excluded = [
            (what, f"{why}; the {'/'.join(media_helpers)} helper opens the media ports each call negotiates")
            if what.split(" ", 1)[0] in ("rtp", "rtcp") and "--include-dynamic" in why
            else (what, why)
            for what, why in selection.excluded
        ]
    # Rules must not depend on the order services were named in: helpers are sorted and deduplicated.
    unique = {(h.kernel_name, h.transport, h.port): h for h in reversed(selection.helpers)}
    selection.helpers = [unique[key] for key in sorted(unique)]
    if selection.empty:
        reasons = "; ".join(f"{what}: {why}" for what, why in selection.excluded[:3])
        raise QueryError(f"nothing to open for {', '.join(items)}" + (f" ({reasons})" if reasons else ""))
    return selection


def _split_sources(item: str) -> tuple[str, tuple[Network, ...]]:
    """``ssh@192.0.2.0/24,2001:db8::/32`` -> ("ssh", networks); no ``@`` -> (item, ())."""
    if "@" not in item:
        return item, ()
    name, _, cidrs = item.rpartition("@")
    if not cidrs.strip():
        raise QueryError(f"{item!r} ends with '@'; add the allowed sources, e.g. {name}@192.0.2.0/24")
    return name, parse_networks([cidrs], f"source for {name or item}")


def _raw_spec(item: str) -> PortSpec | None:
    text = item.strip()
    lowered = text.lower()
    looks_raw = lowered.startswith("ip:") or "/" in text or text[:1].isdigit()
    if not looks_raw:
        return None
    query = parse_query(text)
    if query.kind == "ip":
        return PortSpec(kind="ip", transport="ip", ip_proto=query.ip_proto)
    if query.kind in ("port", "range"):
        if len(query.transports) != 1:
            raise QueryError(f"{text!r} needs a transport for a rule; write tcp/{text} or udp/{text}")
        if query.start == 0:
            raise QueryError(f"{text!r}: port 0 cannot be opened; ports for rules are 1-65535")
        return PortSpec(kind="port", transport=query.transports[0], ranges=(PortRange(query.start, query.end),))
    return None


def _from(sources: tuple[Network, ...]) -> str:
    return f" from {', '.join(str(n) for n in sources)} only" if sources else ""


def _add_raw(selection: Selection, item: str, spec: PortSpec, sources: tuple[Network, ...]) -> None:
    label = item.strip()
    selection.titles[label] = label
    if spec.kind == "ip":
        assert spec.ip_proto is not None
        selection.protocols.append(ProtocolRule(label, spec.ip_proto, sources=sources))
    else:
        selection.ports.append(PortRule(label, spec.transport, spec.ranges, sources=sources))
    selection.included.append((label, "given as a port spec" + _from(sources)))


def _wanted(spec: PortSpec, options: RuleOptions) -> str:
    """'' when the spec belongs in the rules, else why not."""
    if options.direction == "in" and spec.direction == "outbound":
        return "the service only connects out on it (use --direction out)"
    if options.skip_optional and spec.optional:
        return "optional (--skip-optional)"
    return ""


def _add_service(
    kb: KnowledgeBase, selection: Selection, service: Service, options: RuleOptions, sources: tuple[Network, ...]
) -> None:
    info = service_info(kb, service.id)
    selection.titles[service.id] = service.title
    for ref in info.referenced:
        selection.titles[ref.id] = ref.title
    why = "requested"
    if info.referenced:
        why += "; uses " + ", ".join(r.id for r in info.referenced)
    selection.included.append((service.id, why + _from(sources)))
    helpers_here: dict[str, HelperRule] = {}
    deferred: list[tuple[str, PortSpec]] = []
    for item in info.resolved:
        spec = item.spec
        owner = item.service
        label = f"{owner} {spec.describe()}"
        reason = _wanted(spec, options)
        if reason:
            selection.excluded.append((label, reason))
            continue
        if spec.kind == "ip":
            assert spec.ip_proto is not None
            rule = ProtocolRule(owner, spec.ip_proto, spec.note, sources)
            if rule not in selection.protocols:  # asked for and also used by another (gre, and pptp's gre)
                selection.protocols.append(rule)
            continue
        run_time = spec.allocation in RUN_TIME and not (
            spec.allocation == "selected" and sum(r.width for r in spec.ranges) <= SELECTED_NARROW
        )
        if run_time:
            deferred.append((owner, spec))
            continue
        if spec.helper:
            kernel = KERNEL_HELPERS.get((spec.helper, spec.transport))
            if kernel and len(spec.ranges) == 1 and spec.ranges[0].width == 1:
                control = HelperRule(owner, spec.helper, kernel, spec.transport, spec.ranges[0].start)
                selection.helpers.append(control)
                helpers_here[owner] = control
        selection.ports.append(PortRule(owner, spec.transport, spec.ranges, spec.note, sources))
    for owner, spec in deferred:
        label = f"{owner} {spec.describe()}"
        helper = helpers_here.get(owner)
        if options.include_dynamic:
            selection.ports.append(PortRule(owner, spec.transport, spec.ranges, spec.note, sources))
            selection.warnings.append(f"{label} is {spec.allocation} and opened in full (--include-dynamic)")
        elif helper is not None:
            selection.excluded.append(
                (label, f"{spec.allocation}; the {helper.kernel_name} conntrack helper opens it on demand")
            )
        else:
            selection.excluded.append((label, f"{spec.allocation} ports (add --include-dynamic to open the range)"))
    for warning in info.warnings:
        if warning not in selection.warnings:
            selection.warnings.append(warning)
