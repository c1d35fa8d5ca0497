"""``anyport summary --html``: the enriched summary (packets, port activity, time span), the self-contained HTML
report (golden file, escaping of hostile log fields and catalog texts, well-formed SVG) and the page in a real
browser (Debian's Chromium through Playwright) at desktop and phone width. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from anyport.query.kb import KnowledgeBase
from anyport.traffic.annotate import render_summary, summary_files
from anyport.traffic.readers import ReadStats, read_flows
from anyport.traffic.report import esc, render_html
from conftest import TESTS, run_cli

DATA = TESTS / "data"
ZEEK_LOGS = sorted(p.name for p in (DATA / "zeek").glob("*.log"))
ARTIFACTS = TESTS / "artifacts"
# every element the report may contain: anything else in the parsed page came from an input
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "footer", "section", "div", "p", "b", "i",
    "span", "code", "h1", "h2", "h3", "ul", "li", "figure", "figcaption", "table", "thead", "tbody", "tr", "th",
    "td", "svg", "g", "rect", "line", "text", "path",
}  # fmt: skip
HOSTILE_SERVICE = "<script>alert(1)</script>"
HOSTILE_FILE = "<img src=x onerror=alert(9)>.csv"


@pytest.fixture
def in_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative input paths (the report shows them), the same on every machine."""
    monkeypatch.chdir(DATA)


def zeek_summary(kb: KnowledgeBase) -> dict[str, object]:
    return summary_files([f"zeek/{name}" for name in ZEEK_LOGS], kb=kb)


@pytest.fixture
def hostile_log(tmp_path: Path) -> Path:
    """A CSV flow table whose name, service column and bad lines try to inject markup, and a flow on the hostile
    local service's port 4444 (tests/data/hostile.yaml: its title and risk note are hostile too)."""
    path = tmp_path / HOSTILE_FILE
    rows = [
        "proto,src_port,dst_port,src,dst,service,bytes,pkts",
        f"tcp,51000,4444,192.0.2.1,192.0.2.2,{HOSTILE_SERVICE},100,3",
        'tcp,51001,8081,192.0.2.1,192.0.2.2,"it\'s ""evil""",10,1',  # the hostile alias on an unusual port
        'udp,40000,7,192.0.2.1,192.0.2.2,"""><svg onload=alert(3)>",5,1',
        "tcp,51002,22,192.0.2.1,192.0.2.2,ssh\x01&amp;,1,1",
        "tcp,<b>x</b>,80,192.0.2.1,192.0.2.2,http,1,1",
        "tcp,1,2,3",
    ]
    path.write_text("\n".join(rows) + "\n", "utf-8")
    return path


def svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(name for name, _value in attrs)


# -- the enriched summary -----------------------------------------------------------------------------------


def test_packets_come_from_every_reader(tmp_path: Path) -> None:
    flows = list(read_flows(str(DATA / "zeek" / "zat_conn.log")))
    first = flows[0]
    assert first.packets == int(str(first.fields["orig_pkts"])) + int(str(first.fields["resp_pkts"])) == 53
    table = tmp_path / "flows.csv"
    table.write_text("proto,sport,dport,pkts\ntcp,40000,443,12\ntcp,40001,443,\n", "utf-8")
    assert [f.packets for f in read_flows(str(table))] == [12, None]
    nfdump = tmp_path / "nfdump.csv"
    nfdump.write_text(
        "ts,te,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt\n"
        "2026-11-26 03:30:00,2026-11-26 03:30:05,5.000,192.0.2.1,192.0.2.2,40000,22,TCP,.AP.SF,0,0,7,900,5,700\n",
        "utf-8",
    )
    (flow,) = read_flows(str(nfdump))
    assert (flow.packets, flow.bytes) == (12, 1600)
    log = tmp_path / "kern.log"
    log.write_text(
        "Nov 26 03:30:00 host kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.0.2.1 DST=192.0.2.2 LEN=60 PROTO=TCP "
        "SPT=40000 DPT=23 SYN\n",
        "utf-8",
    )
    assert [f.packets for f in read_flows(str(log))] == [1]


def test_summary_counts_packets_ports_and_time(kb: KnowledgeBase) -> None:
    summary = summary_files([str(DATA / "zeek" / "zat_conn.log")], kb=kb)
    flows = list(read_flows(str(DATA / "zeek" / "zat_conn.log"), stats=ReadStats("zat")))
    assert summary["packets"] == sum(f.packets or 0 for f in flows)
    assert summary["bytes"] == sum(f.bytes or 0 for f in flows)
    transports: Any = summary["transports"]
    assert sum(t["flows"] for t in transports.values()) == summary["flows"] == 360
    activity: Any = summary["port_activity"]
    assert activity["bucket_size"] == 64
    bucketed = sum(count for rows in activity["buckets"].values() for _bucket, count in rows)
    assert bucketed == 360 - int(summary["without_port"])  # type: ignore[call-overload]
    on_80 = next(e["flows"] for e in activity["top_ports"] if e["port"] == "80/tcp")
    assert [1, on_80] in activity["buckets"]["tcp"]  # bucket 1 is ports 64-127, here only http on 80
    assert activity["top_ports"][0] == {"port": "16464/udp", "flows": 202, "service": "apple-game-center"}
    services: Any = summary["by_service"]
    http = next(e for e in services if e["service"] == "http")
    assert http["packets"] > http["flows"] > 0
    by_bytes: Any = summary["by_service_bytes"]
    assert [e["bytes"] for e in by_bytes] == sorted((e["bytes"] for e in by_bytes), reverse=True)
    span: Any = summary["time"]
    starts = [float(str(f.fields["ts"])) for f in flows]
    assert span["first"] == pytest.approx(min(starts))
    assert span["last"] >= max(starts)
    assert span["first_utc"] == "2013-09-15T23:44:10Z"
    assert span["flows"] == 360
    assert "packets" in render_summary(summary)
    assert "from 2013-09-15T23:44:10Z" in render_summary(summary)


def test_capture_flows_carry_packets_and_times(kb: KnowledgeBase) -> None:
    from anyport.traffic.capture import read_flows as read_capture

    path = str(DATA / "pcap" / "ssh.pcap")
    flows, capture = read_capture(path)
    summary = summary_files([path], kb=kb)
    assert summary["packets"] == sum(f.packets for f in flows) == capture.in_flows
    span: Any = summary["time"]
    assert span["first"] == pytest.approx(min(f.first_seen for f in flows), abs=1e-6)
    assert span["last"] == pytest.approx(max(f.last_seen for f in flows), abs=1e-6)


def test_zeek_placeholder_times_give_no_span(kb: KnowledgeBase) -> None:
    summary = summary_files([str(DATA / "zeek" / "opt.basic.conn.log")], kb=kb)  # ts is XXXXXXXXXX.XXXXXX
    assert summary["time"] is None
    assert "no readable time" in render_html(summary)


# -- the HTML report ----------------------------------------------------------------------------------------


def test_html_report_matches_golden(kb: KnowledgeBase, in_data: None, golden: Any) -> None:
    page = render_html(zeek_summary(kb))
    assert page == render_html(zeek_summary(kb))  # deterministic
    golden("summary-zeek.html", page)


def test_html_report_is_self_contained(kb: KnowledgeBase, in_data: None) -> None:
    page = render_html(zeek_summary(kb))
    assert page.startswith("<!DOCTYPE html>")
    for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert external not in page, external
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}  # the SVG namespace only


def test_svg_charts_are_well_formed_xml(
    kb: KnowledgeBase, kb_hostile: KnowledgeBase, hostile_log: Path, in_data: None
) -> None:
    for summary in (zeek_summary(kb), summary_files([str(hostile_log)], kb=kb_hostile)):
        charts = svgs(render_html(summary))
        assert len(charts) == 5  # services by flows, by bytes, the port space (wide and narrow), agreement
        for chart in charts:
            root = ET.fromstring(chart)
            assert root.tag == "{http://www.w3.org/2000/svg}svg"
            assert root.findall(".//{http://www.w3.org/2000/svg}rect"), chart[:200]


def test_hostile_strings_are_escaped(kb_hostile: KnowledgeBase, hostile_log: Path) -> None:
    summary = summary_files([str(hostile_log)], kb=kb_hostile)
    assert "evil-service" in {e["service"] for e in summary["by_service"]}  # type: ignore[attr-defined]
    page = render_html(summary)
    parser = Tags()
    parser.feed(page)
    assert set(parser.tags) <= ALLOWED_TAGS, set(parser.tags) - ALLOWED_TAGS
    assert not [name for name in parser.attributes if name.startswith("on")]
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the log's service column and the hostile title
    assert "&lt;img src=x onerror=alert(9)&gt;.csv" in page  # the file name
    assert "&quot;&gt;&lt;svg onload=alert(3)&gt;" in page
    assert "bad port &#x27;&lt;b&gt;x&lt;/b&gt;&#x27;" in page  # a bad line's reason quotes the input
    assert "&amp;amp;" in page
    assert "ssh\\x01" in page
    assert "&quot;; rm -rf / #" in page  # the hostile risk note


def test_escape_survives_what_json_logs_can_hold() -> None:
    assert esc("\ud800<\x00>") == "?&lt;\\x00&gt;"
    ET.fromstring(f"<t>{esc(chr(0xFFFE) + chr(0x1B) + '&')}</t>")


def test_empty_summary_still_renders(kb: KnowledgeBase, tmp_path: Path) -> None:
    log = tmp_path / "icmp.csv"
    log.write_text("proto,src_port,dst_port\nicmp,,\n", "utf-8")
    page = render_html(summary_files([str(log)], kb=kb))
    assert "No flows with a port." in page
    assert "no tcp flows with a port" in page
    for chart in svgs(page):
        ET.fromstring(chart)


# -- the command --------------------------------------------------------------------------------------------


def test_summary_html_option_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_cli("summary", str(DATA / "zeek" / "zat_conn.log"), "--html", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"wrote the HTML report to {out}"]
    assert out.read_text("utf-8").startswith("<!DOCTYPE html>")
    assert not [p.name for p in tmp_path.iterdir() if p.name != "report.html"]  # no temporary file left behind
    both = run_cli("summary", str(DATA / "zeek" / "zat_conn.log"), "--html", str(out), "--json")
    data = json.loads(both.stdout)
    assert {"flows", "bytes", "packets", "by_service", "port_activity", "time", "transports", "files"} <= set(data)
    missing = run_cli("summary", str(DATA / "zeek" / "zat_conn.log"), "--html", str(tmp_path / "no" / "r.html"))
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1


# -- in a browser -------------------------------------------------------------------------------------------


VISIBLE_CHARTS = """
() => [...document.querySelectorAll("svg")].filter(s => getComputedStyle(s).display !== "none").map(s => {
  const box = s.getBoundingClientRect();
  const bars = [...s.querySelectorAll("rect")].filter(r => r.getBoundingClientRect().height > 0.5).length;
  return {cls: s.getAttribute("class"), width: box.width, height: box.height, bars};
})
"""


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 900), ("phone", 390, 844)])
def test_report_in_chromium(
    browser: Any, kb: KnowledgeBase, tmp_path: Path, in_data: None, name: str, width: int, height: int
) -> None:
    report = tmp_path / "summary.html"
    report.write_text(render_html(zeek_summary(kb)), "utf-8")
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"summary-{name}.png"), full_page=True)
        page.locator("svg.ports:visible").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"summary-{name}-ports.png"))
        charts = page.evaluate(VISIBLE_CHARTS)
        classes = [c["cls"] for c in charts]
        assert classes == ["bars", "bars", f"ports {'wide' if name == 'desktop' else 'narrow'}", "meter"], classes
        for chart in charts:
            assert chart["width"] > 300, chart
            assert chart["height"] > 15, chart
            assert chart["bars"] > 0, chart
        ports = next(c for c in charts if c["cls"].startswith("ports"))
        assert ports["width"] <= width
        assert ports["bars"] > 12
        scroll = page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
        assert max(scroll[:2]) <= scroll[2], scroll  # no sideways scrolling of the page
        from test_web_browser import CONTRAST_SCRIPT

        contrast = page.evaluate(CONTRAST_SCRIPT)
        assert contrast["checked"] > 20
        assert not contrast["bad"], contrast["bad"]
        if name == "desktop":
            page.emulate_media(media="print")
            assert page.locator("svg.ports.wide").is_visible()
            assert not page.locator("svg.ports.narrow").is_visible()
            page.screenshot(path=str(ARTIFACTS / "summary-print.png"), full_page=True)
    finally:
        context.close()
    assert not errors, errors
    assert [url for url in requests if not url.startswith("file://")] == []  # nothing fetched from anywhere


def test_hostile_report_in_chromium(browser: Any, kb_hostile: KnowledgeBase, hostile_log: Path) -> None:
    report = hostile_log.with_name("hostile.html")
    report.write_text(render_html(summary_files([str(hostile_log)], kb=kb_hostile)), "utf-8")
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(report.as_uri())
        page.screenshot(path=str(ARTIFACTS / "summary-hostile-phone.png"), full_page=True)
        text = page.inner_text("body")
        assert HOSTILE_SERVICE in text  # shown as text, not run
        assert HOSTILE_FILE in text
        assert "bad port '<b>x</b>'" in text
        assert page.evaluate("() => document.querySelectorAll('script, img, iframe').length") == 0
        scroll = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
        assert scroll[0] <= scroll[1], scroll
    finally:
        context.close()
    assert dialogs == []
