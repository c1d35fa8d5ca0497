"""The index: built deterministically, rebuilt when any source changes, opened read-only."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from pathlib import Path

import pytest

from anyport.errors import DataError
from anyport.index.store import content_hash, current_sources, ensure_index, open_index
from anyport.query.kb import KnowledgeBase

LOCAL = """\
services:
  - id: acme-widget
    title: ACME Widget Server
    categories: [management]
    description: Our own widget server.
    ports:
      - tcp: 47123
    sources:
      - url: https://intranet.example/widget
"""


def sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("ANYPORT_CACHE_DIR", str(cache))
    return cache


def test_the_build_is_deterministic(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = ensure_index()
    assert first.built
    other = tmp_path / "other-cache"
    monkeypatch.setenv("ANYPORT_CACHE_DIR", str(other))
    second = ensure_index()
    assert second.built
    assert Path(first.path).name == Path(second.path).name
    assert sha(first.path) == sha(second.path)


def test_an_unchanged_source_tree_is_not_rebuilt(fresh_cache: Path) -> None:
    assert ensure_index().built
    again = ensure_index()
    assert not again.built


def test_a_new_local_file_triggers_a_rebuild(
    fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = ensure_index()
    local = tmp_path / "mine.yaml"
    local.write_text(LOCAL, "utf-8")
    monkeypatch.setenv("ANYPORT_PATH", str(local))
    after = ensure_index()
    assert after.built
    assert after.path != before.path
    con = open_index(after.path)
    assert con.execute("SELECT origin FROM services WHERE id = 'acme-widget'").fetchone() == ("local",)


def test_an_edited_file_with_the_same_content_reuses_the_index(
    fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "mine.yaml"
    local.write_text(LOCAL, "utf-8")
    monkeypatch.setenv("ANYPORT_PATH", str(local))
    first = ensure_index()
    future = time.time() + 10
    os.utime(local, (future, future))  # touched, not changed
    second = ensure_index()
    assert not second.built
    assert second.path == first.path


def test_the_index_is_read_only(fresh_cache: Path) -> None:
    con = open_index(ensure_index().path)
    with pytest.raises(sqlite3.OperationalError):
        con.execute("DELETE FROM services")


def test_a_corrupt_index_is_a_data_error(tmp_path: Path) -> None:
    bad = tmp_path / "index-bad.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataError, match="delete it and anyport will rebuild it"):
        open_index(str(bad))


def test_content_hash_ignores_where_the_package_is(fresh_cache: Path) -> None:
    sources = current_sources()
    assert content_hash(sources) == content_hash(sources)


def test_registries_are_complete(fresh_cache: Path) -> None:
    con = open_index(ensure_index().path)
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    assert int(meta["iana_records"]) == 14499
    assert int(meta["trojan_records"]) >= 1000
    assert int(meta["protocols"]) >= 140
    assert int(meta["services"]) >= 639
    sctp = con.execute("SELECT count(*) FROM iana WHERE transport = 'sctp'").fetchone()[0]
    dccp = con.execute("SELECT count(*) FROM iana WHERE transport = 'dccp'").fetchone()[0]
    ranges = con.execute("SELECT count(*) FROM iana WHERE start < end").fetchone()[0]
    assert sctp >= 90
    assert dccp >= 10
    assert ranges > 700


def test_nmap_frequencies_are_read_when_present(
    kb: KnowledgeBase, fresh_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from anyport.query.lookup import lookup

    nmap = tmp_path / "nmap-services"
    nmap.write_text(
        "# a tiny nmap-services in nmap's format\n"
        "jetdirect\t9100/tcp\t0.002\t# HP JetDirect card\n"
        "garbage line\n"
        "sonarqube\t9000/tcp\t0.9\t# invented to test the boost\n",
        "utf-8",
    )
    monkeypatch.setenv("ANYPORT_NMAP_SERVICES", str(nmap))
    info = ensure_index()
    with_nmap = KnowledgeBase(open_index(info.path), info.path)
    assert with_nmap.nmap_available
    rows = with_nmap.rows("SELECT name, frequency FROM nmap ORDER BY port")
    assert rows == [("sonarqube", 0.9), ("jetdirect", 0.002)]
    result = lookup(with_nmap, "9000/tcp")
    assert all(m.source != "nmap" for m in result.matches)  # a ranking signal only
    boosted = next(m for m in result.matches if m.name == "sonarqube")
    plain = next(m for m in lookup(kb, "9000/tcp").matches if m.name == "sonarqube")
    assert boosted.confidence == pytest.approx(plain.confidence + 0.05)
    assert result.matches[0].name == "sonarqube"
