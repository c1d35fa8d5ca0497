"""Kubernetes: one ``networking.k8s.io/v1`` NetworkPolicy (YAML written here, deterministically, every string quoted).

A NetworkPolicy only allows, for the pods its ``podSelector`` picks (``{}``: every pod of the namespace, to be
narrowed by hand). ``ingress`` rules say who may reach those pods, ``egress`` rules where they may connect; ports
are TCP, UDP or SCTP, ranges use ``endPort``; addresses are ``ipBlock`` CIDRs. It cannot match IP protocols
(GRE, ESP...), DCCP, interfaces, conntrack helpers, nor deny anything: those are reported as unsupported.
"""

from __future__ import annotations

import json

from anyport.rules.base import Target
from anyport.rules.options import RuleOptions
from anyport.rules.selection import Selection

ANY = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is valid YAML): nothing can break out of it."""
    return json.dumps(text, ensure_ascii=True)


class KubernetesNetworkPolicy(Target):
    name = "kubernetes"
    title = "Kubernetes NetworkPolicy"
    suffix = ".yaml"
    ip_protocols = False
    transports = ("tcp", "udp", "sctp")
    deny = False
    interface = False
    own_sources = True  # one ingress rule per set of sources

    def render(self, selection: Selection, options: RuleOptions) -> dict[str, str]:
        inbound = options.direction == "in"
        groups = selection.groups(options)
        # Ingress rules match the peer that connects (source); egress rules the peer connected to (destination).
        # The other side is the selected pods themselves, which a NetworkPolicy picks by label, not by address.
        other = list(options.dests) if inbound else [n for g in groups for n in g.sources]
        if other:
            where = "destination" if inbound else "source"
            self.unsupported_item(
                f"{where} addresses {', '.join(str(n) for n in dict.fromkeys(other))} (a NetworkPolicy picks its "
                "own pods with podSelector, not by address)"
            )
        out = self.header(selection, options)
        if options.action != "allow":
            # An empty policy would isolate the pods and deny everything else: write no object at all.
            out += ["# NetworkPolicies only allow: nothing to apply for deny rules", ""]
            return {"": "\n".join(out)}
        peer_word = "from" if inbound else "to"
        what = "sources" if inbound else "destinations"
        rules: list[list[str]] = []
        notes: list[str] = []
        for group in groups:
            families = [f for f in ("ipv4", "ipv6") if group.family_wanted(f, options)]
            ports = [
                (transport.upper(), rng.start, rng.end)
                for transport in group.transports()
                if transport in self.transports
                for rng in group.merged(transport)
            ]
            if not families or not ports:
                continue
            nets = [n for f in families for n in (group.networks(f) if inbound else options.networks("dests", f))]
            blocks = [str(n) for n in nets]
            if not blocks and len(families) == 1:
                blocks = [ANY[families[0]]]  # one family only: an ipBlock covering that family says so
                notes.append(f"# no {what} given: {blocks[0]} (every {families[0]} address)")
            elif not blocks:
                notes.append(f"# no {what} given: '{peer_word}' is left out, so every peer (IPv4 and IPv6) matches")
            rule = ["    - ports:"]
            for protocol, start, end in ports:
                rule.append(f"        - protocol: {_q(protocol)}")
                rule.append(f"          port: {start}")
                if end != start:
                    rule.append(f"          endPort: {end}")
            if blocks:
                rule.append(f"      {peer_word}:")
                rule += [f"        - ipBlock:\n            cidr: {_q(cidr)}" for cidr in blocks]
            rules.append(rule)
        out += list(dict.fromkeys(notes))
        if not rules:
            # A policy without rules would isolate the pods (deny everything): write no object at all.
            out += ["# nothing here that a NetworkPolicy can allow: nothing to apply", ""]
            return {"": "\n".join(out)}
        section = "ingress" if inbound else "egress"
        out += [
            f"# once a policy selects a pod for {section.capitalize()}, only what some policy allows passes "
            f"({'DNS and every other destination too' if not inbound else 'every other source and port is refused'});",
            "# replies to allowed connections pass (policies are stateful)",
            f"apiVersion: {_q('networking.k8s.io/v1')}",
            f"kind: {_q('NetworkPolicy')}",
            "metadata:",
            f"  name: {_q(options.name)}",
            "spec:",
            "  # set podSelector to the pods this policy is for (matchLabels: {app: ...}); {} selects every pod",
            "  # of the namespace",
            "  podSelector: {}",
            "  policyTypes:",
            f"    - {_q(section.capitalize())}",
            f"  {section}:",
        ]
        for rule in rules:
            out += rule
        return {"": "\n".join(out) + "\n"}
