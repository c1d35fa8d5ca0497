"""``anyport export``: golden definitions per format, each loaded by the real tool's own loader; bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from anyport.errors import NotFoundError, QueryError
from anyport.model import PortRange
from anyport.query.kb import KnowledgeBase
from anyport.query.service import service_info
from anyport.rules import export as export_module
from anyport.rules.base import RulesError, clean_text
from anyport.rules.export import FORMATS, ExportSet, build, export
from conftest import run_cli

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile.yaml"
DEBIAN_PYTHON = "/usr/bin/python3"
# References (netmeeting, pptp -> gre, transmission -> bittorrent), helpers (ftp, sip, h323, pptp, snmp), sctp
# (sip), IP protocols (gre), run-time ports left out (ftp, irc, netmeeting) and the hostile local service.
SERVICES = ["netmeeting", "pptp", "ftp", "sip", "irc", "transmission", "snmp", "evil-service"]
LOCAL = "127.0.0.1"
SUFFIX = {"firewalld": "", "ufw": ".ini", "aerleon": ".yaml", "capirca": ".svc", "nmap-services": ".txt"}


@pytest.fixture(scope="module")
def export_set(kb_hostile: KnowledgeBase) -> ExportSet:
    return build(kb_hostile, SERVICES)


def write(tmp_path: Path, files: dict[str, str], main: str = "out") -> list[Path]:
    paths = []
    for suffix, text in files.items():
        path = tmp_path / (suffix or main)
        path.write_text(text, "utf-8")
        paths.append(path)
    return paths


def expand(ranges: list[PortRange], transport: str) -> set[tuple[int, str]]:
    return {(port, transport) for r in ranges for port in range(r.start, r.end + 1)}


def inlined_ports(export_set: ExportSet, root: str, transports: tuple[str, ...]) -> set[tuple[int, str]]:
    """Every port of a requested service and the services it references, as single (port, transport) pairs."""
    found: set[tuple[int, str]] = set()
    for sid in export_set.closure(root):
        for transport, ranges in export_set.definitions[sid].ports.items():
            if transport in transports:
                found |= expand(ranges, transport)
    return found


def parse_port_items(items: list[str], range_mark: str) -> set[tuple[int, str]]:
    """'389,522,6660:6669/tcp' or '6881-6889/udp' -> single (port, transport) pairs."""
    found: set[tuple[int, str]] = set()
    for item in items:
        ports, transport = item.split("/")
        for part in ports.split(","):
            start, _, end = part.partition(range_mark)
            found |= {(port, transport) for port in range(int(start), int(end or start) + 1)}
    return found


def debian_module(module: str) -> None:
    """Skip unless Debian's python3 has the module (python3-firewall, ufw)."""
    if not os.path.exists(DEBIAN_PYTHON):
        pytest.skip(f"{DEBIAN_PYTHON} is not installed")
    check = subprocess.run([DEBIAN_PYTHON, "-c", f"import {module}"], capture_output=True, check=False)
    if check.returncode != 0:
        pytest.skip(f"{module} is not importable by {DEBIAN_PYTHON} (scripts/install-test-deps.sh installs it)")


def run_debian(script: str, *args: str) -> object:
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", script, *args], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr, result.stderr
    assert "Skipping" not in result.stderr, result.stderr
    return json.loads(result.stdout)


# Golden output


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "json"])
def test_golden_output_per_format(kb_hostile: KnowledgeBase, fmt: str, golden) -> None:  # type: ignore[no-untyped-def]
    output = export(kb_hostile, SERVICES, fmt)
    if fmt == "firewalld":
        assert "" not in output.files
        assert all(suffix.startswith("anyport-") and suffix.endswith(".xml") for suffix in output.files)
    else:
        assert list(output.files) == [""]
    for suffix, text in output.files.items():
        golden(f"export/{fmt}-mixed{('-' + suffix) if suffix else SUFFIX[fmt]}", text)
        assert "\x1b" not in text
        assert "\r" not in text
        assert text.endswith("\n")


def test_golden_json(kb: KnowledgeBase, golden) -> None:  # type: ignore[no-untyped-def]
    output = export(kb, ["netmeeting", "pptp"], "json")
    golden("export/json-netmeeting-pptp.json", output.files[""])


def test_json_is_what_service_json_gives(kb_hostile: KnowledgeBase) -> None:
    output = export(kb_hostile, ["evil-service", "pptp", "evil-service"], "json")
    data = json.loads(output.files[""])
    assert data == [service_info(kb_hostile, sid).to_dict() for sid in ("evil-service", "pptp")]
    assert data[0]["title"].startswith('Evil "quoted" $(touch')


# Each format loaded by its tool


FIREWALLD_READER = """
import json, os, sys
from firewall.core.io.service import service_reader
directory = sys.argv[1]
services = {}
for name in sorted(os.listdir(directory)):
    services[name[:-4]] = service_reader(name, directory)
for service in services.values():
    # what firewalld checks when it loads the configuration: ports, protocols, included services exist
    service.check_config_dict(service.export_config_dict(), {"services": services})
print(json.dumps({name: {"short": s.short, "description": s.description, "ports": s.ports,
                         "protocols": s.protocols, "includes": s.includes, "helpers": s.helpers}
                  for name, s in services.items()}))
"""


def test_firewalld_reader_loads_every_file(kb_hostile: KnowledgeBase, export_set: ExportSet, tmp_path: Path) -> None:
    debian_module("firewall.core.io.service")
    output = export(kb_hostile, SERVICES, "firewalld")
    write(tmp_path, output.files)
    loaded = run_debian(FIREWALLD_READER, str(tmp_path))
    assert isinstance(loaded, dict)
    assert set(loaded) == {f"anyport-{sid}" for sid in export_set.definitions}
    for sid, definition in export_set.definitions.items():
        service = loaded[f"anyport-{sid}"]
        expected_ports = [
            [str(r.start) if r.width == 1 else f"{r.start}-{r.end}", transport]
            for transport, ranges in definition.ports.items()
            for r in ranges
        ]
        assert service["ports"] == expected_ports
        assert service["protocols"] == [str(p) for p in definition.protocols]
        assert service["includes"] == [f"anyport-{ref}" for ref in definition.references]
        assert service["helpers"] == list(dict.fromkeys(h.kernel_name for h in definition.helpers))
        assert service["short"] == clean_text(definition.service.title)
    assert loaded["anyport-pptp"]["includes"] == ["anyport-gre"]
    assert loaded["anyport-gre"]["protocols"] == ["47"]
    assert loaded["anyport-evil-service"]["description"] == clean_text(
        export_set.definitions["evil-service"].service.description, 1000
    )
    helpers_dir = Path("/usr/lib/firewalld/helpers")
    if helpers_dir.is_dir():
        for service in loaded.values():
            for helper in service["helpers"]:
                assert (helpers_dir / f"{helper}.xml").exists(), helper


def test_firewalld_helper_on_a_port_its_helper_does_not_watch(tmp_path: Path, isolated_env: dict[str, str]) -> None:
    local = tmp_path / "ftp-alt.yaml"
    local.write_text(
        "services:\n  - id: ftp-alt\n    title: FTP on 2121\n    categories: [file-transfer]\n"
        "    description: FTP moved to 2121.\n    ports:\n      - tcp: 2121\n        helper: ftp\n"
        "    sources:\n      - url: https://example.invalid/ftp\n",
        "utf-8",
    )
    patch = pytest.MonkeyPatch()
    patch.setenv("ANYPORT_PATH", str(local))
    try:
        base = KnowledgeBase.open()
        output = export(base, ["ftp-alt"], "firewalld")
        base.close()
    finally:
        patch.undo()
    text = output.files["anyport-ftp-alt.xml"]
    assert "<helper" not in text
    assert '<port port="2121" protocol="tcp"/>' in text
    assert any("watches 21/tcp" in item for item in output.unsupported)


UFW_PARSER = """
import gettext, json, sys
gettext.install("ufw")
import ufw.applications, ufw.common, ufw.util
profiles = ufw.applications.get_profiles(sys.argv[1])  # runs ufw's verify_profile on each
for name, profile in profiles.items():
    for entry in ufw.applications.get_ports(profile):  # what 'ufw allow APP' turns into rules
        port, proto = ufw.util.parse_port_proto(entry)
        ufw.common.UFWRule("ACCEPT", proto, port)
print(json.dumps({name: {"title": p["title"], "description": p["description"],
                         "ports": ufw.applications.get_ports(p)} for name, p in profiles.items()}))
"""


def test_ufw_parser_loads_every_profile(kb_hostile: KnowledgeBase, export_set: ExportSet, tmp_path: Path) -> None:
    debian_module("ufw.applications")
    output = export(kb_hostile, SERVICES, "ufw")
    apps = tmp_path / "applications.d"
    apps.mkdir()
    write(apps, output.files, "anyport")
    loaded = run_debian(UFW_PARSER, str(apps))
    assert isinstance(loaded, dict)
    assert list(loaded) == [f"anyport-{sid}" for sid in SERVICES]
    for sid in SERVICES:
        profile = loaded[f"anyport-{sid}"]
        assert parse_port_items(profile["ports"], ":") == inlined_ports(export_set, sid, ("tcp", "udp"))
        assert profile["title"] == clean_text(export_set.definitions[sid].service.title)
    # references are inlined: NetMeeting's profile carries LDAP's port
    assert (389, "tcp") in parse_port_items(loaded["anyport-netmeeting"]["ports"], ":")
    assert any("IP protocol 47 (gre)" in item for item in output.unsupported)
    assert any("5060/sctp" in item for item in output.unsupported)


def test_ufw_itself_allows_the_profiles(kb_hostile: KnowledgeBase, export_set: ExportSet, tmp_path: Path) -> None:
    """The real ufw, on a copy of its configuration (--datadir/--rootdir), turns each profile into rules (dry run)."""
    ufw = shutil.which("ufw")
    if ufw is None or os.geteuid() != 0 or not Path("/etc/ufw").is_dir() or not Path("/lib/ufw").is_dir():
        pytest.skip("needs the ufw package and root (ufw refuses to run otherwise)")
    root = tmp_path / "ufwroot"
    shutil.copytree("/etc/ufw", root / "etc" / "ufw")
    (root / "etc" / "default").mkdir()
    shutil.copy2("/etc/default/ufw", root / "etc" / "default" / "ufw")
    shutil.copytree("/lib/ufw", root / "lib" / "ufw")
    apps = root / "etc" / "ufw" / "applications.d"
    for old in apps.iterdir():
        old.unlink()
    write(apps, export(kb_hostile, SERVICES, "ufw").files, "anyport")
    base = [ufw, f"--datadir={root}", f"--rootdir={root}"]
    listed = subprocess.run([*base, "app", "list"], capture_output=True, text=True, check=False, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [line.strip() for line in listed.stdout.splitlines()[1:]] == sorted(f"anyport-{sid}" for sid in SERVICES)
    for sid in ("netmeeting", "evil-service"):
        allowed = subprocess.run(
            [*base, "--dry-run", "allow", f"anyport-{sid}"], capture_output=True, text=True, check=False, timeout=60
        )
        assert allowed.returncode == 0, allowed.stderr
        rules = [line for line in allowed.stdout.splitlines() if f"dapp_anyport-{sid}" in line]
        assert rules, allowed.stdout
    assert "--dports 4445:4446" in allowed.stdout


def aerleon_services(directory: Path) -> dict[str, set[tuple[int, str]]]:
    naming = pytest.importorskip("aerleon.lib.naming")
    definitions = naming.Naming(str(directory))
    return {name: parse_port_items(definitions.GetService(name), "-") for name in definitions.GetServiceNames()}


@pytest.mark.parametrize("fmt", ["aerleon", "capirca"])
def test_aerleon_naming_loads_the_definitions(
    kb_hostile: KnowledgeBase, export_set: ExportSet, fmt: str, tmp_path: Path
) -> None:
    output = export(kb_hostile, SERVICES, fmt)
    write(tmp_path, output.files, f"anyport{SUFFIX[fmt]}")
    loaded = aerleon_services(tmp_path)
    defined = [sid for sid in export_set.definitions if sid != "gre"]  # GRE is an IP protocol, not a service
    assert set(loaded) == {f"ANYPORT_{sid.upper().replace('-', '_')}" for sid in defined}
    for sid in defined:
        name = f"ANYPORT_{sid.upper().replace('-', '_')}"
        assert loaded[name] == inlined_ports(export_set, sid, ("tcp", "udp", "sctp", "dccp")), sid
    assert any("IP protocol 47 (gre)" in item for item in output.unsupported)


def test_capirca_naming_loads_the_svc_file(kb_hostile: KnowledgeBase, export_set: ExportSet, tmp_path: Path) -> None:
    naming = pytest.importorskip("capirca.lib.naming")
    (tmp_path / "NETWORKS.net").write_text("ANY = 0.0.0.0/0\n", "utf-8")  # capirca wants network definitions too
    write(tmp_path, export(kb_hostile, SERVICES, "capirca").files, "anyport.svc")
    definitions = naming.Naming(str(tmp_path))
    ports = parse_port_items(definitions.GetService("ANYPORT_NETMEETING"), "-")
    assert ports == inlined_ports(export_set, "netmeeting", ("tcp", "udp"))


def test_aerleon_terms_use_the_definitions(kb_hostile: KnowledgeBase, tmp_path: Path) -> None:
    """A policy using the exported names generates (one term per protocol, as the file's header says)."""
    naming = pytest.importorskip("aerleon.lib.naming")
    api = pytest.importorskip("aerleon.api")
    write(tmp_path, export(kb_hostile, ["netmeeting", "evil-service"], "aerleon").files, "anyport.yaml")
    terms = [
        {"name": f"{name.lower()}-{proto}", "destination-port": name, "protocol": proto, "action": "accept"}
        for name in ("ANYPORT_NETMEETING", "ANYPORT_EVIL_SERVICE")
        for proto in ("tcp", "udp")
    ]
    policy = {"filename": "t", "filters": [{"header": {"targets": {"iptables": "INPUT ACCEPT"}}, "terms": terms}]}
    generated = "".join(api.Generate([policy], naming.Naming(str(tmp_path))).values())
    assert "-p tcp -m multiport --dports 389,522,1503,1720,1731 " in generated
    assert "-p udp -m multiport --dports 389,522,1720,1731 " in generated
    assert "-p udp --dport 4445:4446 " in generated


def test_nmap_loads_the_servicedb(kb_hostile: KnowledgeBase, export_set: ExportSet, tmp_path: Path) -> None:
    nmap = shutil.which("nmap")
    if nmap is None:
        pytest.skip("nmap is not installed")
    output = export(kb_hostile, SERVICES, "nmap-services")
    (path,) = write(tmp_path, output.files, "nmap-services")
    lines = [line for line in output.files[""].splitlines() if line and not line.startswith("#")]
    assert all(len(line.split("\t")) == 4 and line.split("\t")[2] == "0.000000" for line in lines)
    expected: dict[tuple[int, str], str] = {}
    for root in SERVICES:
        for sid in export_set.closure(root):
            for transport, ranges in export_set.definitions[sid].ports.items():
                if transport in ("tcp", "udp", "sctp"):
                    for key in sorted(expand(ranges, transport)):
                        expected.setdefault(key, sid)
    assert len(lines) == len(expected)
    # --servicedb implies a fast scan of the file's ports; -dd lists every port with its name from the file.
    scans = ["-sS", "-sU", "-sY"] if os.geteuid() == 0 else ["-sT"]
    result = subprocess.run(
        [nmap, "--servicedb", str(path), "-Pn", "-n", *scans, "--top-ports", str(len(lines)), "-dd", "-oX", "-", LOCAL],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    root_element = ET.fromstring(result.stdout)
    seen = {
        (int(port.get("portid", "0")), port.get("protocol", "")): port.find("service").get("name")  # type: ignore[union-attr]
        for port in root_element.iter("port")
    }
    scanned = {key: name for key, name in expected.items() if os.geteuid() == 0 or key[1] == "tcp"}
    assert seen == scanned


def test_nmap_refuses_absurd_expansions(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "NMAP_MAX_PORTS", 100)
    with pytest.raises(RulesError, match=r"bittorrent would need \d+, more than the limit of 100"):
        export(kb, ["bittorrent"], "nmap-services")


# Names, references and escaping


def test_references_are_includes_or_inlined(kb: KnowledgeBase) -> None:
    firewalld = export(kb, ["netmeeting"], "firewalld").files
    assert list(firewalld) == [
        "anyport-netmeeting.xml",
        "anyport-ldap.xml",
        "anyport-ulp.xml",
        "anyport-h323-hostcall.xml",
        "anyport-ms-iccp.xml",
    ]
    assert '<include service="anyport-ldap"/>' in firewalld["anyport-netmeeting.xml"]
    assert 'port="389"' not in firewalld["anyport-netmeeting.xml"]
    svc = export(kb, ["netmeeting"], "capirca").files[""]
    assert "ANYPORT_NETMEETING = 1503/tcp\n" in svc
    assert "ANYPORT_LDAP = 389/tcp\n" in svc
    ufw = export(kb, ["netmeeting"], "ufw").files[""]
    assert "[anyport-netmeeting]" in ufw
    assert "[anyport-ldap]" not in ufw
    assert "ports=389,522,1503,1720,1731/tcp|389,522,1720,1731/udp\n" in ufw
    nmap = export(kb, ["netmeeting"], "nmap-services").files[""]
    assert "ldap\t389/tcp\t0.000000\t# LDAP (Lightweight Directory Access Protocol) (used by netmeeting)\n" in nmap


def test_hostile_texts_stay_inside_comments_and_fields(kb_hostile: KnowledgeBase) -> None:
    for fmt in ("firewalld", "ufw", "aerleon", "capirca", "nmap-services"):
        for text in export(kb_hostile, ["evil-service"], fmt).files.values():
            for line in text.splitlines():
                if "touch /tmp/anyport-pwned" in line or "rm -rf" in line:
                    stripped = line.strip()
                    assert stripped.startswith(
                        ("#", "<!--", "<short>", "title=", "evil-service\t")
                    ) or stripped.startswith("<description>"), (fmt, line)
            if fmt == "firewalld":
                comments = [part.split("-->")[0] for part in text.split("<!--")[1:]]
                assert all("--" not in comment for comment in comments), comments
                elements = re.sub(r"<!--.*?-->", "", text)
                assert "<script>" not in elements
                assert "&lt;script&gt;" in elements


def test_services_are_exported_once_in_the_order_given(kb: KnowledgeBase) -> None:
    files = export(kb, ["ssh", "SSH", "ftp"], "firewalld").files
    assert list(files) == ["anyport-ssh.xml", "anyport-ftp.xml"]
    assert "[anyport-ssh]" in export(kb, ["ssh", "ssh"], "ufw").files[""]


def test_ufw_port_entries_respect_the_multiport_limit() -> None:
    ranges = [PortRange(p, p) for p in range(1000, 1040)] + [PortRange(p, p + 5) for p in range(2000, 2100, 10)]
    entries = export_module._ufw_entries({"tcp": ranges})
    assert all(entry.count(",") + entry.count(":") <= 14 for entry in entries)
    assert parse_port_items(entries, ":") == expand(ranges, "tcp")


# Errors


def test_unknown_service_suggests_names(kb: KnowledgeBase) -> None:
    with pytest.raises(NotFoundError, match="bittorrent") as caught:
        export(kb, ["bittorent"], "ufw")
    assert "bittorrent" in caught.value.suggestions


def test_nothing_to_export(kb: KnowledgeBase) -> None:
    with pytest.raises(QueryError, match=r"nothing to export for aim: .*outbound only"):
        export(kb, ["aim"], "firewalld")
    with pytest.raises(RulesError, match="ufw cannot express anything gre needs: IP protocol 47"):
        export(kb, ["gre"], "ufw")
    with pytest.raises(RulesError, match="nmap-services cannot express anything gre needs"):
        export(kb, ["gre"], "nmap-services")
    assert '<protocol value="47"/>' in export(kb, ["gre"], "firewalld").files["anyport-gre.xml"]


def test_services_whose_ids_start_with_a_digit(kb: KnowledgeBase) -> None:
    assert "[anyport-9p]" in export(kb, ["9p"], "ufw").files[""]


def test_cli_writes_firewalld_files_into_a_directory(tmp_path: Path) -> None:
    result = run_cli("export", "ssh", "pptp", "--format", "firewalld", "-o", f"{tmp_path}/")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["anyport-gre.xml", "anyport-pptp.xml", "anyport-ssh.xml"]
    unknown = run_cli("export", "no-such-service-here", "--format", "ufw")
    assert unknown.returncode != 0
    assert "no service named" in unknown.stderr
