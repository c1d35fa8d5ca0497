"""firewalld target: every golden file checked by firewalld's own code, hostile text kept inert, limits reported.

- each service XML goes through firewalld's reader (``firewall.core.io.service.service_reader``, Debian's
  /usr/bin/python3 with python3-firewall) and through ``xmllint --schema`` with firewalld's service.xsd
  (tests/data/firewalld, see PROVENANCE.md);
- each install script runs against ``firewall-offline-cmd`` on a private copy of the configuration
  (``--system-config``), twice, and firewalld's own ``--check-config`` accepts the result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyport import api
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.targets.firewalld import FIREWALLD_HELPERS

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden" / "rules"
DATA = TESTS / "data" / "firewalld"
HOSTILE = TESTS / "data" / "hostile.yaml"
UPSTREAM_XSD = DATA / "service.xsd"
XSD = DATA / "service-firewalld-1.3.xsd"
XMLS = sorted(p for p in GOLDEN.glob("firewalld-*") if p.name.endswith(".xml"))
SCRIPTS = sorted(GOLDEN.glob("firewalld-*.xml.sh"))
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's Python carries firewalld's modules (package python3-firewall)
SHIPPED = Path("/usr/lib/firewalld")
PWNED = Path("/tmp/anyport-pwned")
SCHEMA_ORDER = ["short", "description", "port", "source-port", "protocol", "module", "destination", "include", "helper"]
SCRIPT_LINE = re.compile(
    r"^(firewall-cmd --permanent( --(zone=\"\$ZONE\"|policy=[a-z0-9-]+))? --[a-z-]+(=[A-Za-z0-9_.:/\"$-]+)?"
    r"( --(name|module|family|add-port)=[A-Za-z0-9_.:/-]+)?"
    r"( >/dev/null 2>&1; then)?"
    r"|firewall-cmd --permanent --(zone=\"\$ZONE\"|policy=[a-z0-9-]+) --add-rich-rule='rule( family=\"ipv[46]\")?"
    r"( source address=\"[0-9a-f.:/]+\")? service name=\"[a-z0-9-]+\" (accept|drop|reject)'"
    r"|if !? ?firewall-cmd --permanent --info-(service|helper|policy)=[a-z0-9.-]+ >/dev/null 2>&1; then"
    r"|    firewall-cmd --permanent --[a-z-]+=[a-z0-9.-]+( --module=nf_conntrack_[a-z_]+)?( --family=ipv4)?"
    r"|fi|done|set -eu|firewall-cmd --reload|TMP=\$\(mktemp -d\)|trap 'rm -rf \"\$TMP\"' EXIT"
    r"|cp \"\$XML(\.[0-9]+\.xml)?\" \"\$TMP/[a-z0-9-]+\.xml\""
    r"|XML=\$\{1:-\"\$\{0%\.sh\}\"\}"
    r"|for file in \"\$XML\"( \"\$XML\.[0-9]+\.xml\")*; do"
    r"|    \[ -f \"\$file\" \] \|\| \{ echo \"\$0: \$file not found; give the service XML as the first argument\" >&2; exit 1; \}"
    r"|ZONE=\$\(firewall-cmd --get-default-zone\)"
    r"|ZONE=\$\(firewall-cmd --get-zone-of-interface=[A-Za-z0-9_.:@-]+ 2>/dev/null\) \|\| ZONE=\$\(firewall-cmd --get-default-zone\))$"
)

READ = r"""
import json, sys
from firewall.core.logger import log
warnings = []
log.warning = lambda fmt, *args, **kw: warnings.append(fmt % args if args else fmt)
from firewall.core.io.service import service_reader
out = {}
for name, directory in json.load(sys.stdin):
    del warnings[:]
    try:
        s = service_reader(name + ".xml", directory)
    except Exception as exc:
        out[name] = {"error": str(exc)}
        continue
    out[name] = {"short": s.short, "description": s.description, "ports": s.ports, "protocols": s.protocols,
                 "source_ports": s.source_ports, "destination": s.destination, "helpers": s.helpers,
                 "includes": s.includes, "modules": s.modules, "warnings": list(warnings)}
json.dump(out, sys.stdout)
"""


def need_firewalld_module() -> None:
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import firewall.core.io.service"], capture_output=True, check=False)
    if probe.returncode:
        pytest.skip("firewalld's Python modules are missing: install python3-firewall (scripts/install-test-deps.sh)")


def need_xmllint() -> None:
    if shutil.which("xmllint") is None:
        pytest.skip("xmllint is missing: install libxml2-utils (scripts/install-test-deps.sh)")


def read_services(files: dict[str, Path], tmp_path: Path) -> dict[str, dict[str, object]]:
    """firewalld's reader on each file, installed under the given service name."""
    directory = tmp_path / "services"
    directory.mkdir(exist_ok=True)
    for name, path in files.items():
        shutil.copy(path, directory / f"{name}.xml")
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", READ],
        input=json.dumps([[name, str(directory)] for name in files]),
        capture_output=True,
        text=True,
        check=True,
    )
    services: dict[str, dict[str, object]] = json.loads(result.stdout)
    return services


def xmllint(schema: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["xmllint", "--noout", "--schema", str(schema), str(path)], capture_output=True, text=True, check=False
    )


def service_names(script: str) -> dict[str, str]:
    """XML file suffix ("" or ".2.xml") -> the service name the script installs it under."""
    copies = dict(re.findall(r'^cp "\$XML(\.[0-9]+\.xml)?" "\$TMP/([a-z0-9-]+)\.xml"$', script, re.MULTILINE))
    installed = re.findall(r'--new-service-from-file="\$TMP/([a-z0-9-]+)\.xml" --name=([a-z0-9-]+)$', script, re.M)
    assert len(installed) == len(copies)
    assert all(a == b for a, b in installed)
    return {suffix: name for suffix, name in copies.items() if (name, name) in installed}


def golden_service(path: Path) -> tuple[Path, str]:
    """The script of a golden XML and the service name it gives that XML."""
    base, _, rest = path.name.partition(".xml")
    script = path.with_name(f"{base}.xml.sh")
    return script, service_names(script.read_text("utf-8"))[rest]


def elements(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


@pytest.fixture
def hostile_kb(monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeBase]:
    monkeypatch.setenv("ANYPORT_PATH", str(HOSTILE))
    base = KnowledgeBase.open()
    yield base
    base.close()


@pytest.fixture
def helpers_kb(monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeBase]:
    monkeypatch.setenv("ANYPORT_PATH", str(DATA / "helpers.yaml"))
    base = KnowledgeBase.open()
    yield base
    base.close()


def test_there_are_golden_files_to_check() -> None:
    assert len(SCRIPTS) >= 5
    assert len(XMLS) > len(SCRIPTS)  # the 'admin' case has a second service for ssh@...


# --- the schema --------------------------------------------------------------------------------------------------


def test_the_schema_only_adds_what_firewalld_ships() -> None:
    """The extended schema keeps every line of upstream's; it accepts all of Debian's service files (in writer
    order), while upstream's rejects exactly the ones with a helper or an include."""
    need_xmllint()
    upstream = UPSTREAM_XSD.read_text("utf-8").splitlines()
    extended = XSD.read_text("utf-8").splitlines()
    missing = [line for line in upstream if line not in extended]
    assert not missing
    shipped = sorted((SHIPPED / "services").glob("*.xml"))
    if len(shipped) < 100:
        pytest.skip("firewalld's service files are not installed (Debian package firewalld)")
    rejected = []
    for path in shipped:
        root = elements(path)
        has_new = any(child.tag in ("helper", "include") for child in root)
        if xmllint(UPSTREAM_XSD, path).returncode:
            rejected.append(path.name)
            assert has_new, f"upstream's schema rejects {path.name} for another reason"
        root[:] = sorted(root, key=lambda child: SCHEMA_ORDER.index(child.tag))
        ordered = Path(f"/tmp/anyport-fw-{os.getpid()}-{path.name}")
        try:
            ET.ElementTree(root).write(ordered, encoding="utf-8", xml_declaration=True)
            check = xmllint(XSD, ordered)
        finally:
            ordered.unlink(missing_ok=True)
        assert check.returncode == 0, check.stderr
    assert len(rejected) >= 20


@pytest.mark.parametrize("path", XMLS, ids=lambda p: p.name)
def test_every_golden_xml_is_valid_for_the_schema(path: Path) -> None:
    need_xmllint()
    result = xmllint(XSD, path)
    assert result.returncode == 0, result.stderr
    if not any(child.tag == "helper" for child in elements(path)):
        upstream = xmllint(UPSTREAM_XSD, path)
        assert upstream.returncode == 0, upstream.stderr


# --- firewalld's own reader and offline command ------------------------------------------------------------------


@pytest.mark.parametrize("path", XMLS, ids=lambda p: p.name)
def test_every_golden_xml_reads_with_firewalld(path: Path, tmp_path: Path) -> None:
    need_firewalld_module()
    script, name = golden_service(path)
    service = read_services({name: path}, tmp_path)[name]
    assert "error" not in service, service
    assert service["warnings"] == [], "firewalld ignored part of the file"
    root = elements(path)
    assert service["ports"] == [[p.get("port"), p.get("protocol")] for p in root.iter("port")]
    assert service["protocols"] == [p.get("value") for p in root.iter("protocol")]
    assert service["source_ports"] == []
    assert service["modules"] == []
    assert service["includes"] == []
    assert service["short"]
    assert service["description"]
    created = re.findall(r"--new-helper=([a-z0-9.-]+)", script.read_text("utf-8"))
    helpers = service["helpers"]
    assert isinstance(helpers, list)
    shipped = {p.stem for p in (SHIPPED / "helpers").glob("*.xml")} or {h[0] for h in FIREWALLD_HELPERS.values()}
    for helper in helpers:
        assert helper in shipped or helper in created, helper


def need_offline_cmd() -> None:
    need_firewalld_module()
    if shutil.which("firewall-offline-cmd") is None:
        pytest.skip("firewall-offline-cmd is missing: install the Debian package firewalld")
    if not os.access("/etc/firewalld", os.R_OK | os.X_OK):
        pytest.skip("copying /etc/firewalld for a private configuration needs root")


def private_firewalld(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of /etc/firewalld and a ``firewall-cmd`` that edits it with firewall-offline-cmd.

    Returns (bin dir, configuration dir, log of the calls). ``--permanent`` is dropped (the offline command is
    always permanent) and ``--reload`` does nothing; the host's firewalld configuration is never touched.
    """
    config = tmp_path / "etc-firewalld"
    shutil.copytree("/etc/firewalld", config, symlinks=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "firewall-cmd.log"
    stand_in = bin_dir / "firewall-cmd"
    stand_in.write_text(
        f"#!{DEBIAN_PYTHON}\n"
        "import json, os, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "args = [a for a in sys.argv[1:] if a != '--permanent']\n"
        "if args == ['--reload']:\n"
        "    sys.exit(0)\n"
        "os.execv('/usr/bin/firewall-offline-cmd',\n"
        f"         ['firewall-offline-cmd', '--system-config={config}', *args])\n",
        "utf-8",
    )
    stand_in.chmod(0o755)
    return bin_dir, config, log


def offline(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["firewall-offline-cmd", f"--system-config={config}", *args], capture_output=True, text=True, check=False
    )


def install(script_text: str, xmls: dict[str, str], tmp_path: Path) -> tuple[Path, Path]:
    """Write the files as the CLI would (rules.xml, rules.xml.sh, rules.xml.2.xml) and run the script twice."""
    bin_dir, config, log = private_firewalld(tmp_path)
    base = tmp_path / "out" / "rules.xml"
    base.parent.mkdir()
    for suffix, text in xmls.items():
        Path(f"{base}{suffix}").write_text(text, "utf-8")
    script = Path(f"{base}.sh")
    script.write_text(script_text, "utf-8")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for _ in range(2):  # running it again must work and change nothing
        run = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=300, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
    check = offline(config, "--check-config")
    assert check.returncode == 0, check.stdout + check.stderr
    return config, log


def info(config: Path, *args: str) -> dict[str, str]:
    """``--info-*`` / ``--list-all`` output as {field: value}."""
    result = offline(config, *args)
    assert result.returncode == 0, result.stderr
    fields = {}
    for line in result.stdout.splitlines()[1:]:
        key, _, value = line.strip().partition(":")
        fields[key] = value.strip()
    fields["rich rules"] = "\n".join(line.strip() for line in result.stdout.split("rich rules:", 1)[-1].splitlines())
    return fields


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_golden_script_installs_with_firewalld(script: Path, tmp_path: Path) -> None:
    need_offline_cmd()
    text = script.read_text("utf-8")
    base = script.name.removesuffix(".sh")
    xmls = {p.name[len(base) :]: p.read_text("utf-8") for p in XMLS if p.name.startswith(base)}
    config, _log = install(text, xmls, tmp_path)
    names = service_names(text)
    assert sorted(names) == sorted(xmls)
    zone = offline(config, "--get-default-zone").stdout.strip()
    policy = re.search(r"--policy=([a-z0-9-]+)", text)
    where = info(config, f"--info-policy={policy.group(1)}") if policy else info(config, f"--zone={zone}", "--list-all")
    if policy:
        assert where["ingress-zones"] == "HOST"
        assert where["egress-zones"] == "ANY"
    for suffix, name in names.items():
        service = info(config, f"--info-service={name}")
        root = ET.fromstring(xmls[suffix])
        assert service["ports"].split() == [f"{p.get('port')}/{p.get('protocol')}" for p in root.iter("port")]
        assert service["protocols"].split() == [p.get("value") for p in root.iter("protocol")]
        assert service["helpers"].split() == [h.get("name") for h in root.iter("helper")]
        enabled = name in where["services"].split() or f'service name="{name}"' in where["rich rules"]
        assert enabled, f"{name} is installed but not enabled: {where}"
    for rule in re.findall(r"--add-rich-rule='([^']*)'", text):
        assert rule in where["rich rules"].splitlines(), f"missing (or duplicated) rich rule {rule}"
    assert len(where["rich rules"].split("\n")) == len(set(where["rich rules"].split("\n")))


def test_helpers_on_other_ports_get_helpers_of_their_own(helpers_kb: KnowledgeBase, tmp_path: Path) -> None:
    need_offline_cmd()
    output = api.rules(["ftp-alt", "snmp-alt", "tftp"], target="firewalld", kb=helpers_kb)
    root = ET.fromstring(output.files[""])
    assert [h.get("name") for h in root.iter("helper")] == ["anyport-ftp-tcp-2121", "anyport-snmp-udp-1161", "tftp"]
    config, _log = install(output.files[".sh"], {"": output.files[""]}, tmp_path)
    ftp = info(config, "--info-helper=anyport-ftp-tcp-2121")
    assert ftp["module"] == "nf_conntrack_ftp"
    assert ftp["ports"] == "2121/tcp"
    assert ftp["family"] == ""
    snmp = info(config, "--info-helper=anyport-snmp-udp-1161")
    assert snmp["module"] == "nf_conntrack_snmp"
    assert snmp["ports"] == "1161/udp"
    assert snmp["family"] == "ipv4"
    assert "IPv4 only" in output.files[".sh"]


def test_the_helper_table_matches_firewalld() -> None:
    """Module, ports and family of every built-in helper as firewalld ships it in /usr/lib/firewalld/helpers."""
    if not (SHIPPED / "helpers").is_dir():
        pytest.skip("firewalld's helper files are not installed (Debian package firewalld)")
    for kernel, (name, module, ports, family) in FIREWALLD_HELPERS.items():
        root = elements(SHIPPED / "helpers" / f"{name}.xml")
        assert root.get("module") == module, kernel
        assert root.get("family", "") == family, kernel
        assert sorted((int(p.get("port", 0)), p.get("protocol")) for p in root.iter("port")) == sorted(ports), kernel
    for h323 in ("Q.931", "RAS"):  # shipped, but their module's short name (h323) is not a kernel helper
        assert elements(SHIPPED / "helpers" / f"{h323}.xml").get("module") == "nf_conntrack_h323"
        assert h323 not in FIREWALLD_HELPERS


# --- hostile text, families, reporting ---------------------------------------------------------------------------


def test_hostile_text_stays_inert(hostile_kb: KnowledgeBase, tmp_path: Path) -> None:
    need_firewalld_module()
    output = api.rules(["evil-service", "ssh"], target="firewalld", kb=hostile_kb)
    xml = output.files[""]
    root = ET.fromstring(xml)  # well-formed
    title = 'Evil "quoted" $(touch /tmp/anyport-pwned) `id` ; DROP TABLE x; \\ back\\slash <script>alert(1)</script>'
    assert title in (root.findtext("description") or "")
    comment, body = xml.split("<!--", 1)[1].split("-->", 1)
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    assert "--" not in comment
    assert "$(touch /tmp/anyport-pwned)" in comment  # said, in a comment, where it cannot do anything
    path = tmp_path / "evil.xml"
    path.write_text(xml, "utf-8")
    name = service_names(output.files[".sh"])[""]
    service = read_services({name: path}, tmp_path)[name]
    assert title in str(service["description"])
    # The script: every line a known, fixed shape; run with a stand-in firewall-cmd, nothing from the titles runs.
    script = output.files[".sh"]
    for line in script.splitlines():
        assert not line or line.startswith("#") or SCRIPT_LINE.match(line), line
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.jsonl"
    stub = bin_dir / "firewall-cmd"
    stub.write_text(
        f"#!{DEBIAN_PYTHON}\nimport json, sys\n"
        f"open({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if '--get-default-zone' in sys.argv: print('public')\n"
        "sys.exit(1 if any(a.startswith('--info-') for a in sys.argv) else 0)\n",
        "utf-8",
    )
    stub.chmod(0o755)
    (tmp_path / "evil.xml.sh").write_text(script, "utf-8")
    PWNED.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    run = subprocess.run(["sh", str(tmp_path / "evil.xml.sh")], capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 0, run.stderr
    assert not PWNED.exists(), "text from the catalog was executed"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    installs = [call for call in calls if any(a.startswith("--new-service-from-file=") for a in call)]
    assert len(installs) == 1
    assert installs[0][-1] == f"--name={name}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_golden_script_has_only_known_lines(path: Path) -> None:
    for line in path.read_text("utf-8").splitlines():
        assert not line or line.startswith("#") or SCRIPT_LINE.match(line), line
    syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_families_and_destinations(kb: KnowledgeBase) -> None:
    ipv4 = api.rules(["ssh"], target="firewalld", kb=kb, ipv4_only=True)
    assert '--add-rich-rule=\'rule family="ipv4" service name="anyport-ssh" accept\'' in ipv4.files[".sh"]
    assert "--add-service" not in ipv4.files[".sh"]
    both = api.rules(["ssh"], target="firewalld", kb=kb)
    assert '--zone="$ZONE" --add-service=anyport-ssh' in both.files[".sh"]
    dest = api.rules(["ssh"], target="firewalld", kb=kb, dests=["198.51.100.7", "2001:db8::1/128"])
    destination = ET.fromstring(dest.files[""]).find("destination")
    assert destination is not None
    assert destination.attrib == {"ipv4": "198.51.100.7", "ipv6": "2001:db8::1"}
    only4 = api.rules(["ssh"], target="firewalld", kb=kb, dests=["198.51.100.0/24"])
    assert ET.fromstring(only4.files[""]).find("destination").attrib == {"ipv4": "198.51.100.0/24"}  # type: ignore[union-attr]
    deny = api.rules(["ssh"], target="firewalld", kb=kb, action="deny", sources=["192.0.2.0/24"])
    assert 'rule family="ipv4" source address="192.0.2.0/24" service name="anyport-ssh" drop' in deny.files[".sh"]


def test_everything_firewalld_cannot_express_is_reported(kb: KnowledgeBase, tmp_path: Path) -> None:
    args = {"interface": "eth0", "dests": ["198.51.100.7", "198.51.100.8"]}
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["netmeeting", "ftp"], target="firewalld", kb=kb, **args)  # type: ignore[arg-type]
    items = excinfo.value.items
    for fragment in (
        "conntrack helper Q.931 for 1720/tcp (h323-hostcall)",
        "interface eth0: firewalld filters by zone",
        "destination 198.51.100.8/32",
    ):
        assert any(fragment in item for item in items), fragment
    assert not any("ftp" in item for item in items)  # the FTP helper is fine
    best = api.rules(["netmeeting", "ftp"], target="firewalld", kb=kb, best_effort=True, **args)  # type: ignore[arg-type]
    root = ET.fromstring(best.files[""])  # the note sits inside the XML comment; the file stays well-formed
    assert [h.get("name") for h in root.iter("helper")] == ["ftp"]
    assert "NOT EXPRESSED on firewalld" in best.files[""].split("-->", 1)[0]
    assert "# NOT EXPRESSED on firewalld (--best-effort):" in best.files[".sh"]
    assert "get-zone-of-interface=eth0" in best.files[".sh"]
    if shutil.which("xmllint"):
        path = tmp_path / "best.xml"
        path.write_text(best.files[""], "utf-8")
        assert xmllint(XSD, path).returncode == 0


def test_outbound_rules_use_a_policy_from_the_host(kb: KnowledgeBase) -> None:
    out = api.rules(["ssh"], target="firewalld", kb=kb, direction="out").files[".sh"]
    assert "--policy=anyport-out --add-ingress-zone=HOST" in out
    assert "--policy=anyport-out --add-service=anyport-ssh" in out
    assert "--set-target=REJECT" in out.split("set -eu")[1]  # explained in a comment, never run
    assert not any(line.startswith("firewall-cmd") and "--set-target" in line for line in out.splitlines())


@pytest.mark.parametrize(
    "options",
    [
        {"action": "deny"},
        {"action": "deny", "reject": True, "ipv6_only": True},
        {"direction": "out"},
        {"direction": "out", "interface": "eth0", "sources": ["192.0.2.0/24"], "best_effort": True},
        {"dests": ["198.51.100.7", "2001:db8::7"], "sources": ["192.0.2.0/24", "2001:db8::/32"]},
    ],
    ids=["deny-in", "reject-ipv6", "allow-out", "out-interface", "dests"],
)
def test_more_variants_install_with_firewalld(kb: KnowledgeBase, tmp_path: Path, options: dict[str, object]) -> None:
    need_offline_cmd()
    output = api.rules(["ssh", "pptp", "ftp@198.51.100.0/24"], target="firewalld", kb=kb, **options)  # type: ignore[arg-type]
    xmls = {suffix: text for suffix, text in output.files.items() if suffix != ".sh"}
    config, _log = install(output.files[".sh"], xmls, tmp_path)
    text = output.files[".sh"]
    policy = re.search(r"--policy=([a-z0-9-]+)", text)
    where = info(config, f"--info-policy={policy.group(1)}") if policy else info(config, "--zone=public", "--list-all")
    rules = re.findall(r"--add-rich-rule='([^']*)'", text)
    for rule in rules:
        assert rule in where["rich rules"].splitlines(), rule
    for name in service_names(text).values():
        if f"# {name} is installed but not enabled" in text:
            continue
        assert name in where["services"].split() or f'service name="{name}"' in where["rich rules"], name
    assert ("--add-service=" in text) is (options.get("action", "allow") == "allow" and "sources" not in options)
