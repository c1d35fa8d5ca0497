"""aws-sg: IpPermissions JSON checked against botocore's EC2 service model (AWS's own API description, offline)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.targets.aws_sg import DESCRIPTION_MAX, description

GOLDEN_RULES = Path(__file__).resolve().parent / "golden" / "rules"
GOLDEN_FILES = sorted(GOLDEN_RULES.glob("aws-sg-*.json"))
# AWS's documented Description constraint for IpRange, Ipv6Range and the other range types.
ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789. _-:/()#,@[]+=&;{}!$*")
HOSTILE_BITS = ("$(", "`", "<script>", '"quoted"', "touch /tmp", "DROP TABLE")


def ec2_operation(outbound: bool) -> Any:
    botocore_session = pytest.importorskip(
        "botocore.session", reason="botocore (dev extra) validates against AWS's EC2 API model"
    )
    model = botocore_session.get_session().get_service_model("ec2")
    name = "AuthorizeSecurityGroupEgress" if outbound else "AuthorizeSecurityGroupIngress"
    return model.operation_model(name)


def validate(permissions: list[dict[str, Any]], outbound: bool) -> None:
    """botocore's parameter validation (what the AWS CLI runs before sending), then the rules it leaves to AWS."""
    from botocore.validate import ParamValidator

    operation = ec2_operation(outbound)
    report = ParamValidator().validate(
        {"GroupId": "sg-0123456789abcdef0", "IpPermissions": permissions}, operation.input_shape
    )
    assert not report.has_errors(), report.generate_report()
    for permission in permissions:
        protocol = permission["IpProtocol"]
        assert protocol in ("tcp", "udp", "icmp", "icmpv6") or (protocol.isdigit() and 0 <= int(protocol) <= 255)
        assert protocol != "-1", "never every protocol"
        if protocol in ("tcp", "udp"):
            assert 0 <= permission["FromPort"] <= permission["ToPort"] <= 65535
        elif protocol.isdigit():
            assert "FromPort" not in permission  # AWS ignores ports for other protocols: none are claimed
        ranges = permission.get("IpRanges", []) + permission.get("Ipv6Ranges", [])
        assert ranges, "a permission without CIDRs allows nothing"
        for item in permission.get("IpRanges", []):
            assert ipaddress.ip_network(item["CidrIp"]).version == 4
        for item in permission.get("Ipv6Ranges", []):
            assert ipaddress.ip_network(item["CidrIpv6"]).version == 6
        for item in ranges:
            text = item["Description"]
            assert len(text) <= DESCRIPTION_MAX
            assert set(text) <= ALLOWED, text


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_golden_files_are_valid_ip_permissions(path: Path) -> None:
    side = path.with_name(path.name + ".txt").read_text("utf-8")
    outbound = "authorize-security-group-egress" in side
    validate(json.loads(path.read_text("utf-8")), outbound)
    assert all(line.startswith("#") for line in side.splitlines()), "the side file is comments only"


def test_golden_files_exist() -> None:
    assert len(GOLDEN_FILES) >= 4


def test_validation_can_fail() -> None:
    with pytest.raises(AssertionError, match="FromPort"):
        validate([{"IpProtocol": "tcp", "FromPort": "22", "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}], False)
    with pytest.raises(AssertionError, match="Unknown parameter"):
        validate([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrRanges": []}], False)
    with pytest.raises(AssertionError):
        validate(
            [
                {
                    "IpProtocol": "tcp",
                    "FromPort": 22,
                    "ToPort": 22,
                    "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": 'a"b'}],
                }
            ],
            False,
        )


def test_hostile_service_stays_out_of_the_json() -> None:
    text = (GOLDEN_RULES / "aws-sg-mixed.json").read_text("utf-8")
    for bit in HOSTILE_BITS:
        assert bit not in text
    permissions = json.loads(text)
    evil = [p for p in permissions if p.get("FromPort") == 4444]
    assert evil
    assert evil[0]["IpRanges"][0]["Description"] == "anyport evil-service"
    side = (GOLDEN_RULES / "aws-sg-mixed.json.txt").read_text("utf-8")
    assert "$(touch /tmp/anyport-pwned)" in side  # kept for the reader, inside a comment line


@given(st.text(max_size=400))
def test_descriptions_only_use_allowed_characters(text: str) -> None:
    result = description(text)
    assert set(result) <= ALLOWED
    assert len(result) <= DESCRIPTION_MAX
    assert result == result.strip()


def test_no_sources_means_every_address(kb: KnowledgeBase) -> None:
    output = api.rules(["ssh"], target="aws-sg", kb=kb)
    (permission,) = json.loads(output.files[""])
    assert permission["IpRanges"][0]["CidrIp"] == "0.0.0.0/0"
    assert permission["Ipv6Ranges"][0]["CidrIpv6"] == "::/0"
    assert "no ipv4 sources given: 0.0.0.0/0" in output.files[".txt"]
    assert "no ipv6 sources given: ::/0" in output.files[".txt"]


def test_sources_and_outbound_destinations(kb: KnowledgeBase) -> None:
    inbound = json.loads(api.rules(["ssh"], target="aws-sg", sources=["192.0.2.0/24"], kb=kb).files[""])
    assert [r["CidrIp"] for r in inbound[0]["IpRanges"]] == ["192.0.2.0/24"]
    assert "Ipv6Ranges" not in inbound[0]  # an IPv4 source leaves IPv6 out, as on every target
    output = api.rules(["https"], target="aws-sg", direction="out", dests=["2001:db8::/32"], kb=kb)
    permissions = json.loads(output.files[""])
    assert {r["CidrIpv6"] for p in permissions for r in p["Ipv6Ranges"]} == {"2001:db8::/32"}
    assert "authorize-security-group-egress" in output.files[".txt"]
    validate(permissions, outbound=True)


def test_own_sources_per_service(kb: KnowledgeBase) -> None:
    permissions = json.loads(api.rules(["https", "ssh@192.0.2.0/24"], target="aws-sg", kb=kb).files[""])
    ssh = [p for p in permissions if p["FromPort"] == 22]
    https = [p for p in permissions if p["FromPort"] == 443]
    assert [r["CidrIp"] for r in ssh[0]["IpRanges"]] == ["192.0.2.0/24"]
    assert [r["CidrIp"] for r in https[0]["IpRanges"]] == ["0.0.0.0/0"]


def test_ip_protocols_go_by_number(kb: KnowledgeBase) -> None:
    permissions = json.loads(api.rules(["pptp", "ip:50"], target="aws-sg", best_effort=True, kb=kb).files[""])
    numbered = {p["IpProtocol"] for p in permissions if p["IpProtocol"].isdigit()}
    assert numbered == {"47", "50"}
    validate(permissions, outbound=False)


def test_unsupported_features_are_named(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["sip", "ftp"], target="aws-sg", interface="eth0", dests=["198.51.100.7"], kb=kb)
    message = str(excinfo.value)
    for fragment in ("sctp ports 5060", "conntrack helper ftp", "interface eth0", "destination addresses"):
        assert fragment in message
    with pytest.raises(UnsupportedError, match="deny rules"):
        api.rules(["ssh"], target="aws-sg", action="deny", kb=kb)


def test_deny_in_best_effort_writes_no_permission(kb: KnowledgeBase) -> None:
    output = api.rules(["ssh"], target="aws-sg", action="deny", best_effort=True, kb=kb)
    assert json.loads(output.files[""]) == []  # allow rules here would invert the request
    assert "NOT EXPRESSED" in output.files[".txt"]
    assert "deny rules" in output.files[".txt"]
