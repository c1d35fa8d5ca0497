"""ufw target: every golden file checked by ufw 0.36 itself, hostile text kept inert, ufw's limits reported.

- each command goes through ufw's own parser (``ufw.frontend.parse_command``, Debian's /usr/bin/python3);
- each profile goes through ufw's own loader (``ufw.applications.get_profiles``), which skips bad sections;
- as root, each script runs against the real ``ufw`` with a private copy of its configuration (``--datadir``) in a
  private network namespace, twice, and the firewall is enabled there; in a two-host test network real packets
  show that exactly the catalog ports pass and that deny rules beat allow rules already in place.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyport import api
from anyport.model import PortRange, merge_ranges
from anyport.query.kb import KnowledgeBase
from anyport.rules.base import UnsupportedError
from anyport.rules.options import make_options
from anyport.rules.selection import select
from anyport.rules.targets import get_target
from anyport.rules.targets.iptables import MULTIPORT_SLOTS
from lab.netns import Lab, LabUnavailable, lab

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden" / "rules"
HOSTILE = TESTS / "data" / "hostile.yaml"
SCRIPTS = sorted(GOLDEN.glob("ufw-*.sh"))
PROFILES = sorted(GOLDEN.glob("ufw-*.sh.profile"))
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's Python carries the ufw module (package ufw)
UFW = "/usr/sbin/ufw"
PWNED = Path("/tmp/anyport-pwned")  # what the hostile service's title tries to create
MATCH = (
    r"(in|out)( on [A-Za-z0-9_.:@-]+)? proto [a-z0-9]+ from ([0-9a-fA-F.:/]+|any) to ([0-9a-fA-F.:/]+|any)"
    r"( port [0-9,:]+)?"
)
RULE = re.compile(
    rf"^ufw (allow|prepend deny|prepend reject) {MATCH} comment '[A-Za-z0-9 ._,:/+=@-]*'$"
    rf"|^ufw delete (allow|limit|deny|reject) {MATCH} >/dev/null$"
)

PARSE = r"""
import gettext, json, sys
gettext.install("ufw")
import ufw.frontend, ufw.util
out = []
for argv in json.load(sys.stdin):
    try:
        pr = ufw.frontend.parse_command(list(argv))
    except SystemExit as exc:  # ufw prints its error and exits
        out.append({"error": "exit %s" % exc})
        continue
    except Exception as exc:
        out.append({"error": repr(exc)})
        continue
    r = pr.data["rule"]
    out.append({"action": pr.action, "iptype": pr.data["iptype"], "dport": r.dport, "protocol": r.protocol,
                "src": r.src, "dst": r.dst, "direction": r.direction, "in": r.interface_in,
                "out": r.interface_out, "position": r.position, "comment": ufw.util.hex_decode(r.comment)})
json.dump(out, sys.stdout)
"""

LOAD_PROFILES = r"""
import gettext, json, sys
gettext.install("ufw")
import ufw.applications
json.dump(ufw.applications.get_profiles(sys.argv[1]), sys.stdout)
"""


def need_ufw_module() -> None:
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import ufw.frontend"], capture_output=True, check=False)
    if probe.returncode:
        pytest.skip("ufw's Python modules are missing: install the Debian package ufw (scripts/install-test-deps.sh)")


def script_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#") and line != "set -eu"]


def commands(text: str, adding: bool = False) -> list[str]:
    """The ufw commands of a script, without output redirection; ``adding``: only those that add a rule."""
    lines = [line.removesuffix(" >/dev/null") for line in script_lines(text)]
    return [line for line in lines if not (adding and line.startswith("ufw delete "))]


def parse(lines: list[str]) -> list[dict[str, object]]:
    """Every line through ufw's own parser; each result is the parsed rule or {'error': ...}."""
    argvs = [shlex.split(line) for line in lines]
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", PARSE], input=json.dumps(argvs), capture_output=True, text=True, check=True
    )
    parsed: list[dict[str, object]] = json.loads(result.stdout)
    return parsed


def ranges_of(ports: str) -> list[PortRange]:
    out = []
    for part in ports.split(","):
        start, _, end = part.partition(":")
        out.append(PortRange(int(start), int(end or start)))
    return out


def slots(ports: str) -> int:
    return sum(2 if ":" in part else 1 for part in ports.split(","))


@pytest.fixture
def hostile_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeBase]:
    monkeypatch.setenv("ANYPORT_PATH", str(HOSTILE))
    base = KnowledgeBase.open()
    yield base
    base.close()


def test_there_are_golden_files_to_check() -> None:
    assert len(SCRIPTS) >= 5
    assert len(PROFILES) == len(SCRIPTS)


# --- ufw's own parser and profile loader -----------------------------------------------------------------------


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_golden_command_parses_with_ufw(path: Path) -> None:
    need_ufw_module()
    text = path.read_text("utf-8")
    for line in script_lines(text):
        assert RULE.match(line), f"not a plain ufw command: {line}"
    lines = commands(text)
    assert commands(text, adding=True), "no ufw rules"
    for index, line in enumerate(lines):  # a deny rule comes right after the deletes of its match, every action
        if " prepend " in line:
            match = line.split(" ", 3)[3].rsplit(" comment ", 1)[0]
            deletes = [f"ufw delete {verb} {match}" for verb in ("allow", "limit", "deny", "reject")]
            assert lines[index - 4 : index] == deletes, line
    for line, result in zip(lines, parse(lines), strict=True):
        assert "error" not in result, f"ufw rejects {line}: {result['error']}"
        if result["dport"] != "any":
            assert slots(str(result["dport"])) <= MULTIPORT_SLOTS
        assert "'" not in str(result["comment"])
        assert (result["position"] == -1) is (" prepend " in line), "deny rules go first, allow rules last"
    syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    assert syntax.returncode == 0, syntax.stderr


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.name)
def test_every_golden_profile_loads_with_ufw(path: Path, tmp_path: Path) -> None:
    need_ufw_module()
    directory = tmp_path / "applications.d"
    directory.mkdir()
    shutil.copy(path, directory / "anyport")
    result = subprocess.run(
        [DEBIAN_PYTHON, "-c", LOAD_PROFILES, str(directory)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"ufw skipped something: {result.stderr}"  # ufw warns when it skips a section
    profiles = json.loads(result.stdout)
    parser = configparser.RawConfigParser()
    parser.read_string(path.read_text("utf-8"))
    assert sorted(profiles) == sorted(parser.sections())
    assert profiles, "no profile"
    # The profiles hold exactly the script's ports (the script adds them per address family, the profile once).
    script = path.with_name(path.name.removesuffix(".profile")).read_text("utf-8")
    for transport in ("tcp", "udp"):
        in_script = [
            r
            for line in commands(script, adding=True)
            if f" proto {transport} " in line
            for r in ranges_of(line.split(" port ", 1)[1].split(" ", 1)[0])
        ]
        in_profiles = [
            r
            for profile in profiles.values()
            for entry in profile["ports"].split("|")
            if entry.endswith(f"/{transport}")
            for r in ranges_of(entry.split("/", 1)[0])
        ]
        assert merge_ranges(in_profiles) == merge_ranges(in_script), transport


def test_families_are_pinned_as_asked(kb: KnowledgeBase) -> None:
    need_ufw_module()
    for options, iptype in (({}, "both"), ({"ipv4_only": True}, "v4"), ({"ipv6_only": True}, "v6")):
        output = api.rules(["ssh", "ip:50"], target="ufw", kb=kb, **options)  # type: ignore[arg-type]
        results = parse(commands(output.files[""]))
        assert {r["iptype"] for r in results} == {iptype}, options


def test_ports_are_split_at_ufws_limit_and_all_kept(kb: KnowledgeBase) -> None:
    need_ufw_module()
    wanted = [PortRange(p, p) for p in range(1000, 1080, 3)] + [PortRange(p, p + 1) for p in range(2000, 2060, 5)]
    items = [f"tcp/{r.start}" if r.start == r.end else f"tcp/{r.start}-{r.end}" for r in wanted]
    output = api.rules(items, target="ufw", kb=kb)
    lines = commands(output.files[""])
    assert len(lines) > 2
    covered = []
    for result in parse(lines):
        assert "error" not in result, result
        assert slots(str(result["dport"])) <= MULTIPORT_SLOTS
        covered += ranges_of(str(result["dport"]))
    assert merge_ranges(covered) == merge_ranges(wanted)


# --- hostile text and reporting ---------------------------------------------------------------------------------


def test_hostile_text_stays_inert(hostile_env: KnowledgeBase, tmp_path: Path) -> None:
    """The script runs (with a stand-in ufw that records its arguments) and nothing in the titles executes."""
    output = api.rules(["evil-service", "ssh"], target="ufw", kb=hostile_env)
    script = tmp_path / "rules.sh"
    script.write_text(output.files[""], "utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "argv.jsonl"
    stub = bin_dir / "ufw"
    stub.write_text(
        f"#!{DEBIAN_PYTHON}\nimport json, sys\nopen({str(record)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n",
        "utf-8",
    )
    stub.chmod(0o755)
    PWNED.unlink(missing_ok=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    run = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stderr
    assert not PWNED.exists(), "text from the catalog was executed"
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert recorded == [shlex.split(line)[1:] for line in commands(output.files[""])]
    assert recorded
    for argv in recorded:
        assert re.fullmatch(r"[A-Za-z0-9 ._,:/+=@-]*", argv[-1]), argv[-1]  # the comment
    # The profile keeps the title as inert data, exactly as the catalog has it (one line).
    parser = configparser.RawConfigParser()
    parser.read_string(output.files[".profile"])
    title = parser["anyport-evil-service"]["title"]
    assert "$(touch /tmp/anyport-pwned)" in title
    assert "<script>" in title
    assert "\n" not in title


def test_everything_ufw_cannot_express_is_reported(kb: KnowledgeBase) -> None:
    with pytest.raises(UnsupportedError) as excinfo:
        api.rules(["sip", "ftp", "ip:4", "ip:41"], target="ufw", kb=kb)
    message = " | ".join(excinfo.value.items)
    for fragment in (
        "sctp ports 5060 (sip)",
        "conntrack helper ftp for 21/tcp",
        "conntrack helper sip for 5060/udp",
        "IP protocol 4 (ip:4)",
        "IP protocol 41 (ip:41) over IPv6",
    ):
        assert fragment in message
    assert "NOT EXPRESSED" not in message
    best = api.rules(["sip", "ftp", "ip:4", "ip:41"], target="ufw", kb=kb, best_effort=True)
    for text in best.files.values():
        assert "NOT EXPRESSED on ufw" in text
        assert "IP protocol 4 (ip:4)" in text
    script = best.files[""]
    assert " proto 4 " not in script
    assert " proto sctp " not in script
    assert "proto ipv6 from any to any" in script  # over IPv4 it can be written
    ipv4 = api.rules(["ip:41"], target="ufw", kb=kb, ipv4_only=True)  # nothing left to report
    assert ipv4.unsupported == []


def test_deny_rules_are_prepended_and_allow_rules_appended(kb: KnowledgeBase) -> None:
    allow = api.rules(["ssh"], target="ufw", kb=kb).files[""]
    deny = api.rules(["ssh"], target="ufw", kb=kb, action="deny").files[""]
    reject = api.rules(["ssh"], target="ufw", kb=kb, action="deny", reject=True, direction="out").files[""]
    assert commands(allow) == ["ufw allow in proto tcp from any to any port 22 comment 'anyport ssh'"]
    match = "proto tcp from any to any port 22"
    deletes = [f"ufw delete {verb} in {match}" for verb in ("allow", "limit", "deny", "reject")]
    assert commands(deny) == [*deletes, f"ufw prepend deny in {match} comment 'anyport ssh'"]
    assert commands(reject, adding=True) == [f"ufw prepend reject out {match} comment 'anyport ssh'"]


# --- the real ufw, in private namespaces --------------------------------------------------------------------------


def need_root_ufw() -> None:
    need_ufw_module()
    if os.geteuid() != 0:
        pytest.skip("running ufw for real (in a private network namespace) needs root")
    for tool in (UFW, shutil.which("unshare"), shutil.which("iptables-save")):
        if tool is None or not Path(tool).exists():
            pytest.skip("ufw, unshare or iptables is missing (scripts/install-test-deps.sh installs them)")


def private_ufw(tmp_path: Path) -> Path:
    """A copy of ufw's configuration that only this test uses; returns a bin dir whose ``ufw`` uses it.

    ``--datadir`` moves every file ufw writes; ``--rootdir=/`` makes ufw-init read it too. Kernel settings from
    /etc/ufw/sysctl.conf are not applied (an empty file instead), so the test never changes the host.
    """
    data = tmp_path / "ufwdata"
    (data / "etc" / "default").mkdir(parents=True)
    (data / "lib" / "ufw").mkdir(parents=True)
    shutil.copytree("/etc/ufw", data / "etc" / "ufw", symlinks=True)
    conf = data / "etc" / "ufw" / "ufw.conf"
    conf.write_text(re.sub(r"(?m)^ENABLED=.*$", "ENABLED=no", conf.read_text()))
    (data / "etc" / "ufw" / "applications.d").mkdir(exist_ok=True)
    empty = data / "etc" / "ufw" / "anyport-empty-sysctl.conf"
    empty.write_text("")
    default = Path("/etc/default/ufw").read_text()
    default = re.sub(r"(?m)^IPT_SYSCTL=.*$", f"IPT_SYSCTL={empty}", default)
    default = re.sub(r"(?m)^IPV6=.*$", "IPV6=yes", default)
    (data / "etc" / "default" / "ufw").write_text(default)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ufw"
    wrapper.write_text(f'#!/bin/sh\nexec {UFW} --rootdir=/ --datadir={data} "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


def in_private_netns(bin_dir: Path, shell: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["unshare", "--net", "sh", "-eu", "-c", shell],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_golden_script_loads_into_real_ufw(path: Path, tmp_path: Path) -> None:
    need_root_ufw()
    bin_dir = private_ufw(tmp_path)
    profile = path.with_name(path.name + ".profile")
    apps = tmp_path / "ufwdata" / "etc" / "ufw" / "applications.d" / "anyport"
    shutil.copy(profile, apps)
    first_app = configparser.RawConfigParser()
    first_app.read(profile)
    app = first_app.sections()[0]
    result = in_private_netns(
        bin_dir,
        f"sh {shlex.quote(str(path))}; sh {shlex.quote(str(path))}; ufw --force enable; "
        "echo '== added'; ufw show added; echo '== status'; ufw status verbose; "
        f"echo '== app'; ufw app info {shlex.quote(app)}; "
        "echo '== v4'; iptables-save -t filter; echo '== v6'; ip6tables-save -t filter",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sections = dict(re.findall(r"(?ms)^== (\w+)\n(.*?)(?=^== |\Z)", result.stdout))
    added = [line for line in sections["added"].splitlines() if line.startswith("ufw ")]
    lines = commands(path.read_text("utf-8"), adding=True)
    assert len(added) == len(lines), "the second run must not add anything (or a rule went missing)"
    assert "Status: active" in sections["status"]
    assert f"Profile: {app}" in sections["app"]
    for line in lines:
        words = shlex.split(line)
        if words[1] == "prepend":
            del words[1]
        verdict = {"allow": "ACCEPT", "deny": "DROP", "reject": "REJECT"}[words[1]]
        addresses = [words[words.index("from") + 1], words[words.index("to") + 1]]
        family = "v6" if any(":" in a for a in addresses) else "v4"
        chain = f"{'ufw6' if family == 'v6' else 'ufw'}-user-{'input' if words[2] == 'in' else 'output'}"
        if "port" in words:
            ports = words[words.index("port") + 1]
            wanted = f"--dports {ports}" if "," in ports or ":" in ports else f"--dport {ports}"
        else:
            wanted = f"-p {words[words.index('proto') + 1]} "
        loaded = [rule for rule in sections[family].splitlines() if rule.startswith(f"-A {chain} ")]
        assert any(wanted in rule and f"-j {verdict}" in rule for rule in loaded), (
            f"{line} is not in {family}: {loaded}"
        )


@pytest.fixture(scope="module")
def netlab() -> Iterator[Lab]:
    try:
        with lab() as created:
            yield created
    except LabUnavailable as exc:
        pytest.skip(str(exc))


def start_ufw_on_server(netlab: Lab, bin_dir: Path, shell: str) -> None:
    env_path = f"{bin_dir}:{os.environ['PATH']}"
    result = netlab.in_ns(netlab.server, "env", f"PATH={env_path}", "sh", "-eu", "-c", shell, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def stop_ufw_on_server(netlab: Lab, bin_dir: Path) -> None:
    start_ufw_on_server(netlab, bin_dir, "ufw --force reset >/dev/null; ufw --force disable >/dev/null || true")
    netlab.flush()


def test_real_packets_pass_exactly_the_catalog_ports(netlab: Lab, kb: KnowledgeBase, tmp_path: Path) -> None:
    need_root_ufw()
    bin_dir = private_ufw(tmp_path)
    options = make_options()
    selection = select(kb, ["ssh", "sip", "bittorrent", "tcp/8443", "udp/5000-5010", "ntp"], options)
    options = make_options(best_effort=True)  # SIP over SCTP and the SIP helper are beyond ufw
    script = tmp_path / "rules.sh"
    script.write_text(get_target("ufw").generate(selection, options).files[""], "utf-8")
    opened = {(t, p) for t in ("tcp", "udp") for r in selection.merged(t) for p in range(r.start, r.end + 1)}
    probes = set()
    for transport in ("tcp", "udp"):
        for rng in selection.merged(transport):  # both ends of every range, and the neighbours that stay closed
            probes |= {
                (transport, rng.start),
                (transport, rng.end),
                (transport, rng.start - 1),
                (transport, rng.end + 1),
            }
    probes |= {("tcp", 23), ("tcp", 3306), ("udp", 9999)}
    netlab.flush()
    start_ufw_on_server(netlab, bin_dir, f"sh {shlex.quote(str(script))} >/dev/null; ufw --force enable >/dev/null")
    try:
        results = netlab.probe([(f, t, p) for f in ("ipv4", "ipv6") for t, p in sorted(probes)])
        wrong = {key: ok for key, ok in results.items() if ok != ((key[1], key[2]) in opened)}
        assert not wrong, f"ufw lets through the wrong ports: {wrong}"
        assert any(results.values())
        assert not all(results.values())
    finally:
        stop_ufw_on_server(netlab, bin_dir)


def test_deny_rules_beat_allow_rules_already_there(netlab: Lab, kb: KnowledgeBase, tmp_path: Path) -> None:
    """ufw stops at the first matching rule: 'prepend' puts the deny before the allow the admin added earlier."""
    need_root_ufw()
    bin_dir = private_ufw(tmp_path)
    output = api.rules(["ssh"], target="ufw", kb=kb, action="deny")
    script = tmp_path / "deny.sh"
    script.write_text(output.files[""], "utf-8")
    netlab.flush()
    probes = [(f, "tcp", p) for f in ("ipv4", "ipv6") for p in (22, 8443)]
    start_ufw_on_server(
        netlab, bin_dir, "ufw allow 22/tcp >/dev/null; ufw allow 20:8443/tcp >/dev/null; ufw --force enable >/dev/null"
    )
    try:
        before = netlab.probe(probes)
        assert all(before.values()), f"the admin's allow rules should let everything in first: {before}"
        start_ufw_on_server(netlab, bin_dir, f"sh {shlex.quote(str(script))} >/dev/null")
        after = netlab.probe(probes)
        assert after == {probe: probe[2] != 22 for probe in probes}, after
    finally:
        stop_ufw_on_server(netlab, bin_dir)
