"""One module per firewall platform; this registry maps ``--target`` names to them."""

from __future__ import annotations

import importlib

from anyport.rules.base import RulesError, Target

# name -> (module, class). Adding a platform = one module + one row here + its golden tests + a doc line.
TARGETS: dict[str, tuple[str, str]] = {
    "nftables": ("anyport.rules.targets.nftables", "Nftables"),
    "iptables": ("anyport.rules.targets.iptables", "Iptables"),
    "ufw": ("anyport.rules.targets.ufw", "Ufw"),
    "firewalld": ("anyport.rules.targets.firewalld", "Firewalld"),
    "pf": ("anyport.rules.targets.pf", "Pf"),
    "windows": ("anyport.rules.targets.windows", "Windows"),
    "cisco-ios": ("anyport.rules.targets.cisco_ios", "CiscoIos"),
    "juniper-srx": ("anyport.rules.targets.juniper_srx", "JuniperSrx"),
    "aws-sg": ("anyport.rules.targets.aws_sg", "AwsSecurityGroup"),
    "kubernetes": ("anyport.rules.targets.kubernetes", "KubernetesNetworkPolicy"),
}


def get_target(name: str) -> Target:
    """The target called ``name`` (``aerleon:<platform>`` goes through the optional aerleon library)."""
    if name.startswith("aerleon:"):
        module = importlib.import_module("anyport.rules.targets.aerleon_bridge")
        target: Target = module.AerleonTarget(name.split(":", 1)[1])
        return target
    if name not in TARGETS:
        import difflib

        close = difflib.get_close_matches(name, TARGETS, n=1)
        hint = f"did you mean {close[0]}?" if close else f"choose one of {', '.join(sorted(TARGETS))}"
        raise RulesError(f"unknown target {name!r}; {hint}")
    module_name, class_name = TARGETS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    instance: Target = cls()
    return instance
