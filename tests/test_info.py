"""`anyport info`: every data set in use with its size, hash and dates, and where the user's own files are."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from anyport import __version__, datafiles
from conftest import HOSTILE, run_cli


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def test_info_describes_the_shipped_data_and_the_index() -> None:
    result = run_cli("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["version"] == __version__
    sets = {d["name"]: d for d in info["datasets"]}
    assert list(sets)[:4] == ["IANA service names", "IANA protocol numbers", "trojan-port history", "catalog"]
    services = sets["IANA service names"]
    assert services["origin"] == "shipped"
    assert services["path"] == datafiles.IANA_SERVICES_CSV
    assert services["records"] == 14499
    assert services["size"] == os.path.getsize(datafiles.IANA_SERVICES_CSV)
    assert services["sha256"] == _sha(datafiles.IANA_SERVICES_CSV)
    assert services["dates"] == {"as of": "2026-02-13"}  # from the shipped PROVENANCE.md
    assert sets["IANA protocol numbers"]["dates"] == {"as of": "2025-07-11"}
    assert sets["trojan-port history"]["records"] == 1031
    assert sets["catalog"]["records"] > 500
    assert sets["nmap-services"]["origin"] == "not found"
    index = info["index"]
    assert Path(index["path"]).parent == Path(os.environ["ANYPORT_CACHE_DIR"])
    assert index["size"] == os.path.getsize(index["path"])
    assert info["locations"]["updated_registries"] == {
        "path": os.path.join(os.environ["ANYPORT_DATA_DIR"], "iana"),
        "manifest": False,
    }
    assert info["notes"] == []


def test_info_shows_the_users_own_files_and_nmap(tmp_path: Path) -> None:
    nmap = tmp_path / "nmap-services"
    nmap.write_text("# nmap\nhttp\t80/tcp\t0.48\t# World Wide Web HTTP\nssh\t22/tcp\t0.18\nbroken line\n")
    missing = tmp_path / "not-there"
    env = {"ANYPORT_PATH": os.pathsep.join([str(HOSTILE), str(missing)]), "ANYPORT_NMAP_SERVICES": str(nmap)}
    result = run_cli("info", "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    sets = {d["name"]: d for d in info["datasets"]}
    assert sets["nmap-services"]["origin"] == "found"
    assert sets["nmap-services"]["records"] == 2
    assert sets["nmap-services"]["sha256"] == _sha(str(nmap))
    assert sets["your service files"]["size"] == HOSTILE.stat().st_size
    directories = info["locations"]["service_directories"]
    assert [(d["path"], d["from"], d["exists"]) for d in directories] == [
        (str(HOSTILE), "ANYPORT_PATH", True),
        (str(missing), "ANYPORT_PATH", False),
        (os.path.join(os.environ["XDG_CONFIG_HOME"], "anyport", "services"), "config", False),
    ]
    assert info["locations"]["service_files"] == [str(HOSTILE)]

    text = run_cli("info", env=env)
    assert text.returncode == 0, text.stderr
    assert f"service files from {missing} (ANYPORT_PATH, does not exist)" in text.stdout
    assert f"    {HOSTILE}\n" in text.stdout
    assert "nmap-services            found, 2 records" in text.stdout


def test_info_text_names_every_data_set() -> None:
    result = run_cli("info")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"anyport {__version__}\n")
    for line in (
        "  IANA service names       shipped, 14,499 records",
        "  IANA protocol numbers    shipped,",
        "  trojan-port history      shipped, 1,031 records",
        "  nmap-services            not found",
        "index:",
        "'anyport update' writes them here",
    ):
        assert line in result.stdout
