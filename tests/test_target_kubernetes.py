"""kubernetes: NetworkPolicy YAML parsed back and validated against Kubernetes' own OpenAPI schema (strictly)."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError

TESTS = Path(__file__).resolve().parent
GOLDEN_FILES = sorted((TESTS / "golden" / "rules").glob("kubernetes-*.yaml"))
SCHEMA = TESTS / "data" / "kubernetes" / "networkpolicy-openapi.json"
NETWORK_POLICY = "io.k8s.api.networking.v1.NetworkPolicy"
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _closed(node: Any) -> Any:
    """Every object schema that lists its properties refuses others (the API server's strict field validation)."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_closed(item) for item in node]
    return node


def validator() -> jsonschema.protocols.Validator:
    document = json.loads(SCHEMA.read_text("utf-8"))
    root = {"$ref": f"#/components/schemas/{NETWORK_POLICY}", "components": _closed(document["components"])}
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(root)  # type: ignore[no-any-return]


def check_policy(policy: dict[str, Any]) -> None:
    """The schema, then the value rules Kubernetes keeps in prose and its validation code."""
    errors = sorted(validator().iter_errors(policy), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["kind"] == "NetworkPolicy"
    assert DNS_1123.match(policy["metadata"]["name"])
    spec = policy["spec"]
    assert set(spec["policyTypes"]) <= {"Ingress", "Egress"}
    for section, peer_key in (("ingress", "from"), ("egress", "to")):
        assert (section in spec) == (section.capitalize() in spec["policyTypes"])
        for rule in spec.get(section, []):
            assert rule["ports"], "a rule without ports would open every port"
            for port in rule["ports"]:
                assert port["protocol"] in ("TCP", "UDP", "SCTP")
                assert isinstance(port["port"], int)
                assert 1 <= port["port"] <= port.get("endPort", port["port"]) <= 65535
            for peer in rule.get(peer_key, []):
                ipaddress.ip_network(peer["ipBlock"]["cidr"])  # strict: host bits set would fail


def check_text(text: str) -> dict[str, Any] | None:
    """Every string scalar is double-quoted; the document parses back to a NetworkPolicy (or to nothing)."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        body = stripped.removeprefix("- ")
        key, sep, value = body.partition(": ")
        if not sep:
            if body.endswith(":") and body[:-1].isalpha():
                continue  # a key opening a block
            key, value = "", body  # a bare list item
        assert not key or key.isalpha(), line
        assert value.isdigit() or value == "{}" or value.startswith('"'), line
    policy = yaml.safe_load(text)
    if policy is not None:
        check_policy(policy)
    return policy  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_files_are_valid_network_policies(path: Path) -> None:
    policy = check_text(path.read_text("utf-8"))
    if "deny" in path.name:
        assert policy is None  # Kubernetes cannot deny: no object at all rather than one that isolates pods
    else:
        assert policy is not None


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 4


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda p: p["spec"]["ingress"][0]["ports"][0].update(endport=9), "endport"),
        (lambda p: p["spec"].pop("podSelector"), "podSelector"),
        (lambda p: p["spec"]["ingress"][0]["ports"][0].update(port=[1]), "port"),
        (lambda p: p["spec"]["ingress"][0]["ports"][0].update(protocol="ICMP"), "protocol"),
        (lambda p: p["spec"]["ingress"][0]["ports"][0].update(port=1000, endPort=999), "port"),
    ],
)
def test_validation_can_fail(change: Any, fragment: str) -> None:
    policy = yaml.safe_load((TESTS / "golden" / "rules" / "kubernetes-mixed.yaml").read_text("utf-8"))
    broken = copy.deepcopy(policy)
    change(broken)
    with pytest.raises(AssertionError):
        check_policy(broken)


def test_hostile_service_only_in_comments() -> None:
    text = (TESTS / "golden" / "rules" / "kubernetes-mixed.yaml").read_text("utf-8")
    hostile = [line for line in text.splitlines() if "$(touch" in line]
    assert hostile
    assert all(line.startswith("#") for line in hostile)
    policy = yaml.safe_load(text)
    assert "$(" not in json.dumps(policy)
    ports = {(p["protocol"], p["port"], p.get("endPort")) for p in policy["spec"]["ingress"][0]["ports"]}
    assert ("TCP", 4444, None) in ports
    assert ("UDP", 4445, 4446) in ports


def test_ranges_sources_and_egress(kb: KnowledgeBase) -> None:
    policy = check_text(api.rules(["udp/5000-5010"], target="kubernetes", sources=["192.0.2.0/24"], kb=kb).text)
    assert policy is not None
    rule = policy["spec"]["ingress"][0]
    assert rule["ports"] == [{"protocol": "UDP", "port": 5000, "endPort": 5010}]
    assert rule["from"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    out = check_text(api.rules(["https"], target="kubernetes", direction="out", dests=["2001:db8::/32"], kb=kb).text)
    assert out is not None
    assert out["spec"]["policyTypes"] == ["Egress"]
    assert out["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "2001:db8::/32"}}]


def test_pod_selector_selects_all_and_says_to_set_it(kb: KnowledgeBase) -> None:
    text = api.rules(["ssh"], target="kubernetes", kb=kb).text
    assert "podSelector: {}" in text
    assert "# set podSelector" in text
    policy = check_text(text)
    assert policy is not None
    assert "from" not in policy["spec"]["ingress"][0]  # no sources: every peer
    assert "no sources given" in text


def test_own_sources_get_their_own_rule(kb: KnowledgeBase) -> None:
    policy = check_text(api.rules(["https", "ssh@192.0.2.0/24"], target="kubernetes", kb=kb).text)
    assert policy is not None
    rules = policy["spec"]["ingress"]
    assert len(rules) == 2
    assert "from" not in rules[0]
    assert rules[1]["from"] == [{"ipBlock": {"cidr": "192.0.2.0/24"}}]


def test_unsupported_features_are_named(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["pptp", "ip:50", "dccp/5004", "ftp"], target="kubernetes", interface="eth0", kb=kb)
    message = str(excinfo.value)
    assert "IP protocol 47" in message
    assert "IP protocol 50" in message
    assert "dccp ports 5004" in message
    assert "conntrack helper" in message
    with pytest.raises(UnsupportedError, match="interface eth0"):
        api.rules(["ssh"], target="kubernetes", interface="eth0", kb=kb)
    with pytest.raises(UnsupportedError, match="deny rules"):
        api.rules(["ssh"], target="kubernetes", action="deny", kb=kb)


def test_nothing_expressible_writes_no_policy(kb: KnowledgeBase) -> None:
    text = api.rules(["ip:50"], target="kubernetes", best_effort=True, kb=kb).text
    assert yaml.safe_load(text) is None  # an empty policy would cut the pods off
    assert "NOT EXPRESSED" in text
