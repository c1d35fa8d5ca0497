"""Your own services: validated, merged, and preferred over the shipped catalog."""

from __future__ import annotations

from pathlib import Path

from conftest import run_cli

LOCAL = """\
services:
  - id: acme-widget
    title: ACME Widget Server
    aliases: [widget]
    categories: [management]
    description: Our own widget server, reachable from the admin VLAN.
    ports:
      - tcp: 47123
        role: admin
    sources:
      - url: https://intranet.example/widget
  - id: ssh
    title: SSH on our bastions
    categories: [remote-access]
    description: Site-specific SSH entry that replaces the shipped one.
    ports:
      - tcp: 22
    sources:
      - url: https://intranet.example/ssh
"""


def write_local(tmp_path: Path, text: str = LOCAL) -> Path:
    directory = tmp_path / "services"
    directory.mkdir()
    (directory / "site.yaml").write_text(text, "utf-8")
    return directory


def test_local_services_are_looked_up(tmp_path: Path) -> None:
    directory = write_local(tmp_path)
    result = run_cli("47123", "--json", env={"ANYPORT_PATH": str(directory)})
    assert result.returncode == 0, result.stderr
    assert '"name": "acme-widget"' in result.stdout
    assert '"source": "local"' in result.stdout


def test_local_services_win_over_the_catalog(tmp_path: Path) -> None:
    directory = write_local(tmp_path)
    result = run_cli("service", "ssh", env={"ANYPORT_PATH": str(directory)})
    assert result.returncode == 0, result.stderr
    assert "SSH on our bastions" in result.stdout


def test_config_directory_is_read(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "anyport").mkdir(parents=True)
    write_local(config / "anyport")
    result = run_cli("search", "widget", env={"XDG_CONFIG_HOME": str(config)})
    assert result.returncode == 0, result.stderr
    assert "acme-widget" in result.stdout


def test_a_broken_local_file_is_one_clear_line(tmp_path: Path) -> None:
    directory = write_local(tmp_path, LOCAL.replace("tcp: 47123", "tcp: 0"))
    result = run_cli("443", env={"ANYPORT_PATH": str(directory)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "site.yaml:8: tcp: port 0 is outside 1-65535" in lines[0]
    assert "Traceback" not in result.stderr


def test_validate_checks_a_file_before_it_is_used(tmp_path: Path) -> None:
    good = write_local(tmp_path) / "site.yaml"
    ok = run_cli("validate", str(good))
    assert ok.returncode == 0
    assert "ok: 2 service(s)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(LOCAL.replace("role: admin", "role: boss").replace("[management]", "[managment]"), "utf-8")
    result = run_cli("validate", str(bad))
    assert result.returncode == 2
    assert f"{bad}:5: categories: 'managment' is not a known category; did you mean 'management'?" in result.stderr
    assert f"{bad}:9: role 'boss' is not allowed" in result.stderr
    assert "2 problem(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_resolves_references_against_the_catalog(tmp_path: Path) -> None:
    path = tmp_path / "refs.yaml"
    path.write_text(
        LOCAL.replace("      - tcp: 47123\n        role: admin", "      - ref: ldap\n      - ref: nope"), "utf-8"
    )
    result = run_cli("validate", str(path))
    assert result.returncode == 2
    assert "unknown service 'nope'" in result.stderr
    assert "'ldap'" not in result.stderr


def test_validate_missing_file_and_directory(tmp_path: Path) -> None:
    result = run_cli("validate", str(tmp_path / "missing.yaml"), str(tmp_path))
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr
    assert "is a directory" in result.stderr
