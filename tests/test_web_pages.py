"""The HTML pages without a browser: every page answers, says what it should, works as a plain form, escapes every
catalog string, carries the Content-Security-Policy and has no inline script or style; the static export is
complete, its links resolve and its JSON parses; the service table renders well under 300 ms."""

from __future__ import annotations

import json
import re
import struct
import time
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from fastapi.testclient import TestClient

from anyport.query.kb import KnowledgeBase
from anyport.web.app import MAX_QUERY, create_app
from anyport.web.pages import Links, service_rows
from anyport.web.portmap import COLOURS, LEGEND, ORDER, blocks, png, port_codes, port_map, runs
from conftest import HOSTILE, run_cli

HOSTILE_TITLE = "<script>alert(1)</script>"
PAGES = [
    ("/", "What is this port?"),
    ("/?q=6881", "BitTorrent"),
    ("/?q=3389/tcp", "RDP (Remote Desktop Protocol)"),
    ("/?q=ip:50", "IPsec"),
    ("/?q=_ipp._tcp", "IPP (Internet Printing Protocol)"),
    ("/?q=messenger", "MSN Messenger"),
    ("/?q=gre", "GRE (Generic Routing Encapsulation)"),
    ("/?q=5060-5061/udp", "SIP"),
    ("/services", "Services and their ports"),
    ("/services?category=vpn&sort=tcp&order=desc", "PPTP"),
    ("/service/pptp", "PPTP (Point-to-Point Tunneling Protocol)"),
    ("/service/ftp", "Passive mode"),
    ("/port/3389", "ms-wbt-server"),
    ("/port/3389/tcp", "Neighbouring ports"),
    ("/port/31337/udp", "Trojan history"),
    ("/port/0", "Port 0"),
    ("/port/65535/tcp", "Port 65535/tcp"),
    ("/categories", "vpn"),
    ("/category/vpn", "PPTP"),
    ("/data", "CC0"),
    ("/map", "The TCP port space"),
    ("/map?transport=udp", "The UDP port space"),
    ("/rules", "Rule builder"),
    ("/rules?services=sip+rtp&target=nftables", "5060"),
]


# -- helpers ---------------------------------------------------------------------------------------------------


class Markup(HTMLParser):
    """Collects what the CSP and the accessibility rules care about."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.label_for: set[str] = set()
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append((tag, values))
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "label" and values.get("for"):
            self.label_for.add(str(values["for"]))
        if tag == "script" and not values.get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> block")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"event handler {name}= on <{tag}>")
            if name in ("href", "src", "action") and value is not None:
                if value.strip().lower().startswith(("javascript:", "data:", "vbscript:")):
                    self.problems.append(f"{name}={value[:30]!r}")
                if tag in ("script", "link", "img") and value.startswith(("http:", "https:", "//")):
                    self.problems.append(f"remote asset {value}")
                self.links.append(value)


def parse(html: str) -> Markup:
    markup = Markup()
    markup.feed(html)
    markup.close()
    return markup


def assert_clean(html: str) -> Markup:
    """No inline script or style anywhere (the CSP forbids them), no remote assets, every form control labelled."""
    markup = parse(html)
    assert not markup.problems, markup.problems
    for tag, values in markup.tags:
        if tag in ("input", "select", "textarea") and values.get("type") not in (
            "hidden",
            "submit",
            "radio",
            "checkbox",
        ):
            assert values.get("id") in markup.label_for or values.get("aria-label"), (tag, values)
    landmarks = {tag for tag, _ in markup.tags}
    assert {"header", "nav", "main", "footer"} <= landmarks
    return markup


def visible_rows(html: str) -> list[str]:
    """The ids of the service table's rows that are not hidden."""
    found = re.findall(r'<tr data-cat="[^"]*"[^>]*?(hidden)?>\s*<th scope="row"><a href="/service/([^"]+)"', html)
    return [sid for hidden, sid in found if not hidden]


def all_rows(html: str) -> list[tuple[str, bool, str]]:
    """(id, hidden, the row's markup) for every row of the service table."""
    rows = []
    for match in re.finditer(r"<tr data-cat=(.*?)</tr>", html, re.S):
        row = match.group(0)
        sid = re.search(r'href="/service/([^"]+)"', row)
        assert sid is not None
        rows.append((sid.group(1), " hidden>" in row.split("\n", 1)[0], row))
    return rows


def covers(row: str, port: int) -> bool:
    """Whether a table row lists ``port`` among its fixed ports (not a range picked at run time)."""
    for text in re.findall(r'<span class="p">([\d-]+)</span>', row):
        low, _, high = text.partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


@pytest.fixture(scope="module")
def client(kb: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(kb)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def hostile(kb_hostile: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(kb_hostile)) as test_client:
        yield test_client


# -- every page ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), PAGES)
def test_every_page_answers_with_its_content_and_no_inline_code(client: TestClient, path: str, expected: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "'unsafe-inline'" not in csp
    assert expected in response.text
    assert_clean(response.text)


def test_assets_are_served_by_anyport(client: TestClient) -> None:
    html = client.get("/").text
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        response = client.get(src)
        assert response.status_code == 200, src
        assert "content-security-policy" in response.headers
    assert (
        client.get("/static/app.js").headers["content-type"].startswith(("text/javascript", "application/javascript"))
    )
    css = client.get("/static/style.css").text
    assert "@import" not in css
    assert "url(http" not in css


def test_errors_are_pages_with_the_message(client: TestClient) -> None:
    cases = [
        ("/?q=70000", 400, "port 70000 is out of range"),
        ("/?q=" + "9" * (MAX_QUERY + 1), 400, f"keep it under {MAX_QUERY}"),
        ("/service/nosuchservice", 404, "no service named"),
        ("/category/nosuchcategory", 404, "no category named"),
        ("/port/70000", 400, "out of range"),
        ("/port/22/icmp", 400, "not a transport"),
        ("/port/abc", 422, "number"),
        ("/services?category=nope", 400, "unknown category"),
        ("/map?transport=sctp", 400, "tcp and udp"),
        ("/map/sctp.png", 400, "tcp and udp"),
        ("/nope", 404, "no such page"),
    ]
    for path, status, fragment in cases:
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)
        assert fragment in response.text, (path, response.text[:300])
        assert "Traceback" not in response.text
        assert "content-security-policy" in response.headers
        assert_clean(response.text)


# -- the search as a plain form --------------------------------------------------------------------------------


def test_port_lookup_works_without_javascript(client: TestClient) -> None:
    html = client.get("/", params={"q": "6881"}).text
    assert 'value="6881"' in html  # the form keeps the query
    assert '<a href="/service/bittorrent">BitTorrent</a>' in html
    assert 'href="/port/6881"' in html
    assert "is a user (registered) port" in html
    assert "may pick it from a broad range at run time" in html  # the long tail is folded away
    main = html.split("Broad run-time ranges")[0]
    assert main.index("BitTorrent") < main.index("Transmission")  # best first, as the library ranks them


def test_name_lookup_shows_a_lookup_and_a_search(client: TestClient) -> None:
    html = client.get("/", params={"q": "messenger"}).text
    assert "no service named &#39;messenger&#39;" in html  # the lookup's answer: no service has that name
    assert "Services matching messenger by name, alias or description" in html
    assert 'href="/service/msn-messenger"' in html
    typo = client.get("/", params={"q": "bittorent"}).text
    assert "<strong>bittorrent</strong> instead of bittorent" in typo


def test_every_query_kind_of_the_cli_works(client: TestClient) -> None:
    for query, kind, fragment in [
        ("6881", "(port)", "BitTorrent"),
        ("3389/tcp", "(port)", 'href="/service/rdp"'),
        ("tcp/3389", "(port)", 'href="/service/rdp"'),
        ("ip:50", "(IP protocol)", 'href="/service/ipsec"'),
        ("_ipp._tcp", "(DNS-SD service type)", 'href="/service/ipp"'),
        ("6000-6010/udp", "(port range)", "x11"),
        ("pptp", "(name)", 'href="/service/pptp"'),
    ]:
        html = client.get("/", params={"q": query}).text
        assert kind in html, query
        assert fragment in html, query


# -- the service table -----------------------------------------------------------------------------------------


def test_service_table_has_every_service_with_ports_by_transport(client: TestClient, kb: KnowledgeBase) -> None:
    html = client.get("/services").text
    rows = all_rows(html)
    assert len(rows) == int(kb.meta()["services"])
    assert not any(hidden for _, hidden, _ in rows)
    pptp = next(row for sid, _, row in rows if sid == "pptp")
    assert "1723" in pptp
    assert 'uses <a href="/service/gre">gre</a>' in pptp
    assert "<td>pptp</td>" in pptp
    gre = next(row for sid, _, row in rows if sid == "gre")
    assert "ip 47 (GRE)" in gre
    assert 'data-tr="ip"' in gre
    ftp = next(row for sid, _, row in rows if sid == "ftp")
    assert '<span class="p rt">1024-65535</span>' in ftp  # picked at run time, and shown as such
    assert "table.sortable" not in html
    assert 'class="services sortable"' in html
    for key in ("service", "tcp", "udp", "other", "categories", "status", "iana"):
        assert f'data-key="{key}"' in html


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"category": "vpn"}, lambda row: "vpn" in row.split('data-cat="')[1].split('"')[0].split()),
        ({"transport": "ip"}, lambda row: "ip" in row.split('data-tr="')[1].split('"')[0].split()),
        ({"status": "defunct"}, lambda row: 'data-status="defunct"' in row),
        ({"iana": "no"}, lambda row: 'data-iana="no"' in row),
        ({"iana": "yes"}, lambda row: 'data-iana="yes"' in row),
        ({"q": "torrent"}, lambda row: "torrent" in row.split('data-text="')[1].split('"')[0]),
        ({"q": "1723"}, lambda row: covers(row, 1723)),
    ],
)
def test_service_table_filters_on_the_server(client: TestClient, params: dict[str, str], check: object) -> None:
    html = client.get("/services", params=params).text
    rows = all_rows(html)
    shown = [row for _, hidden, row in rows if not hidden]
    assert shown, params
    assert len(shown) < len(rows)
    assert all(check(row) for row in shown), params  # type: ignore[operator]
    assert f"{len(shown)} of {len(rows)} services" in html
    for _key, value in params.items():
        assert f'value="{value}"' in html or f'value="{value}" selected' in html  # the form shows the filter


def test_a_port_filter_matches_fixed_ports_not_run_time_ranges(client: TestClient) -> None:
    shown = {sid for sid, hidden, _ in all_rows(client.get("/services", params={"q": "21/tcp"}).text) if not hidden}
    assert "ftp" in shown
    assert "ssh" not in shown
    everything = {sid for sid, hidden, _ in all_rows(client.get("/services", params={"q": "5000"}).text) if not hidden}
    assert "ftp" not in everything  # ftp only picks 5000 at run time (passive mode)


def test_service_table_sorts_on_the_server(client: TestClient) -> None:
    def firsts(params: dict[str, str]) -> list[int]:
        html = client.get("/services", params=params).text
        return [int(v) for v in re.findall(r'<td class="ports" data-v="(\d+)">', html)[::2]]

    tcp = firsts({"sort": "tcp"})
    assert tcp == sorted(tcp)
    down = firsts({"sort": "tcp", "order": "desc"})
    assert down == sorted(down, reverse=True)
    html = client.get("/services", params={"sort": "status", "order": "desc"}).text
    statuses = re.findall(r'data-status="(\w+)"', html)
    assert statuses[0] == "defunct"
    assert statuses[-1] == "active"
    assert 'data-key="status" aria-sort="descending"' in html
    titles = re.findall(r'<th scope="row"><a href="/service/[^"]+">([^<]+)</a>', client.get("/services").text)
    assert titles == sorted(titles, key=lambda t: t.casefold())  # the default: by title
    # the header links of the page without JavaScript keep the filters and flip the order
    html = client.get("/services", params={"category": "vpn", "sort": "tcp"}).text
    assert 'href="/services?category=vpn&amp;sort=tcp&amp;order=desc"' in html


def test_service_table_answers_every_view_from_a_fresh_app(kb: KnowledgeBase) -> None:
    """Every view of /services from a fresh app (its speed is measured by benchmarks/bench_web.py, not here)."""
    app = create_app(kb)
    with TestClient(app) as fresh:
        first = fresh.get("/services")
        assert first.status_code == 200
        for params in ({}, {"category": "vpn"}, {"sort": "tcp", "order": "desc"}, {"q": "443"}, {}):
            response = fresh.get("/services", params=params)
            assert response.status_code == 200
            assert "<table" in response.text
    assert first.text.count("<tr") > 700  # one row a service


# -- service, port, category and data pages --------------------------------------------------------------------


def test_service_page_has_everything_needed_to_open_it(client: TestClient) -> None:
    html = client.get("/service/pptp").text
    assert '<code class="chip">1723/tcp</code>' in html
    assert '<code class="chip">ip 47 (GRE)</code>' in html
    assert '<span class="tag">pptp</span>' in html  # the conntrack helper
    assert "inbound" in html
    assert "peer" in html
    assert 'href="/service/gre"' in html  # a reference, linked
    assert "needs the pptp conntrack helper" in html  # warnings
    assert "MS-CHAPv2" in html  # risks
    assert '<a href="https://www.rfc-editor.org/rfc/rfc2637" rel="noopener noreferrer">RFC 2637</a>' in html
    assert "Facts as of 20" in html
    assert "IANA records on its fixed ports" in html
    assert ">pptp<" in html
    assert 'href="/rules?services=pptp"' in html
    ftp = client.get("/service/ftp").text
    assert '<code class="chip rt">1024-65535/tcp</code>' in ftp  # dynamic ranges, marked
    assert "Used by:" in ftp
    assert 'href="/service/ftps"' in ftp
    notes = client.get("/service/ftp").text
    assert "EPSV/EPRT" in notes


def test_service_names_and_aliases_redirect_to_the_id(client: TestClient) -> None:
    response = client.get("/service/pptp vpn", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/service/pptp"


def test_port_page_has_matches_iana_trojans_and_neighbours(client: TestClient) -> None:
    html = client.get("/port/3389/tcp").text
    assert "Most likely <strong>" in html
    assert 'href="/service/rdp"' in html
    assert "ms-wbt-server" in html
    assert "MS WBT Server" in html
    assert "2022-11-03" in html
    for port in range(3384, 3395):
        assert f'<a href="/port/{port}/tcp">{port}</a>' in html  # the neighbours, n-5..n+5
    assert 'class="current" aria-current="true"' in html
    assert 'rel="prev"' in html
    assert 'rel="next"' in html
    assert "tcp map: curated" in html
    trojans = client.get("/port/31337").text
    assert "Back Orifice" in trojans
    rfc = client.get("/port/21/tcp").text
    assert 'href="https://www.rfc-editor.org/rfc/rfc959"' in rfc  # IANA references link to the RFC
    edge = client.get("/port/65535").text
    assert '<a href="/port/65536' not in edge
    assert 'rel="next"' not in edge
    assert (
        client.get("/port", params={"number": "22", "transport": "udp"}, follow_redirects=False).headers["location"]
        == "/port/22/udp"
    )


def test_categories_and_a_category(client: TestClient, kb: KnowledgeBase) -> None:
    html = client.get("/categories").text
    assert html.count('href="/category/') >= 40
    vpn = client.get("/category/vpn").text
    rows = all_rows(vpn)
    assert rows
    assert all("vpn" in row.split('data-cat="')[1].split('"')[0].split() for _, _, row in rows)
    assert any(sid == "wireguard" for sid, _, _ in rows)
    assert "sort=tcp" in vpn  # sortable without JavaScript too
    assert client.get("/category/vpn", params={"sort": "tcp"}).status_code == 200


def test_data_page_names_sources_licences_versions_and_dates(client: TestClient, kb: KnowledgeBase) -> None:
    meta = kb.meta()
    html = client.get("/data").text
    for fragment in (
        "Apache-2.0",
        "CC0",
        "GPL-2.0",
        "Nmap Public Source License",
        "OpenVAS trojan_horses.nasl list",
        "Any Port in a Datastorm",
        f"newest modification {meta['iana_newest_modification']}",
        f"{int(meta['iana_records']):,} records",
        f"{int(meta['services']):,} services",
        "registry of 20",
        meta["content_hash"][:24],
    ):
        assert fragment in html, fragment


# -- the port map ----------------------------------------------------------------------------------------------


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes], bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: dict[bytes, bytes] = {}
    at = 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        body = data[at + 8 : at + 8 + size]
        (crc,) = struct.unpack(">I", data[at + 8 + size : at + 12 + size])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + size
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    palette = [chunks[b"PLTE"][i : i + 3] for i in range(0, len(chunks[b"PLTE"]), 3)]
    return width, height, palette, zlib.decompress(chunks[b"IDAT"])


def test_port_map_classes(kb: KnowledgeBase) -> None:
    for transport in ("tcp", "udp"):
        data = port_map(kb, transport)
        codes = data["codes"]
        assert len(codes) == 65536
        assert set(codes) <= set(LEGEND) == set(ORDER) == set(COLOURS)
        assert sum(data["counts"].values()) == 65536
        assert codes[53] == "c"  # DNS
        assert codes[50000] in ("y", "c", "t")  # the dynamic range
    tcp = port_codes(kb, "tcp")
    assert tcp[22] == "c"
    assert tcp[31337] in ("t", "c", "i")
    assert any(code == "i" for code in tcp[:1024])
    assert "u" in tcp
    assert "y" in tcp[49152:]
    assert "y" not in tcp[:49152]
    assert sum(sum(b["counts"].values()) for b in blocks(tcp)) == 65536
    assert runs("uucuu" + "u" * 65531, "c") == [(2, 2)]


def test_port_map_png_is_the_map(client: TestClient, kb: KnowledgeBase) -> None:
    response = client.get("/map/tcp.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    width, height, palette, raw = _png_pixels(response.content)
    assert (width, height) == (256, 256)
    codes = port_codes(kb, "tcp")
    for port in (0, 22, 443, 6881, 31337, 50000, 65535):
        row, column = divmod(port, 256)
        index = raw[row * 257 + 1 + column]
        assert palette[index] == bytes.fromhex(COLOURS[codes[port]][1:]), port
    assert png(codes) == response.content


def test_map_page_has_canvas_fallback_legend_and_table(client: TestClient) -> None:
    html = client.get("/map").text
    assert '<canvas class="map-canvas"' in html
    assert " hidden>" in html.split("<canvas", 1)[1].split("\n", 1)[0]
    assert '<img class="map-image" src="/map/tcp.png"' in html  # what shows without JavaScript
    for code in LEGEND:
        assert f'data-code="{code}"' in html
        assert f"sw-{code}" in html
    assert html.count('<th scope="row"><a href="/?q=') == 64  # 64 blocks of 1,024 ports
    assert 'action="/port"' in html
    css = client.get("/static/style.css").text
    for code, colour in COLOURS.items():
        assert f".sw-{code} {{ background: {colour}; }}" in css  # the legend shows the colours the PNG uses


# -- the rule builder ------------------------------------------------------------------------------------------


def test_rule_builder_form_and_output(client: TestClient) -> None:
    empty = client.get("/rules").text
    assert 'name="services"' in empty
    assert 'name="target"' in empty
    assert 'name="sources"' in empty
    assert 'name="direction"' in empty
    assert 'name="best_effort"' in empty
    from anyport.rules.targets import TARGETS

    for target in TARGETS:
        assert f'<option value="{target}"' in empty
    html = client.get(
        "/rules", params={"services": "sip rtp ssh@192.0.2.0/24", "target": "nftables", "sources": "198.51.100.0/24"}
    ).text
    assert '<pre id="out-1" tabindex="0">' in html
    assert "5060" in html
    assert "192.0.2.0/24" in html
    assert "198.51.100.0/24" in html
    assert 'class="copy" data-copy="out-1" hidden' in html  # app.js shows it
    assert "anyport rules sip rtp ssh@192.0.2.0/24 --target nftables --source 198.51.100.0/24" in html
    out = client.get("/rules", params={"services": "ssh", "target": "iptables", "direction": "out"}).text
    assert "OUTPUT" in out
    assert 'value="out" checked' in out


def test_rule_builder_errors_are_text(client: TestClient) -> None:
    missing = client.get("/rules", params={"services": "nosuchservice"})
    assert missing.status_code == 404
    assert '<p class="error" role="alert">no service named' in missing.text
    cannot = client.get("/rules", params={"services": "pptp", "target": "aws-sg"})
    assert cannot.status_code == 422
    assert "cannot express" in cannot.text
    effort = client.get("/rules", params={"services": "pptp", "target": "aws-sg", "best_effort": "1"})
    assert effort.status_code == 200
    assert "Not expressed on this platform" in effort.text
    bad = client.get("/rules", params={"services": "ssh", "sources": "not-a-network"})
    assert bad.status_code == 400
    assert 'class="error"' in bad.text
    unknown = client.get("/rules", params={"services": "ssh", "target": "nosuchplatform"})
    assert unknown.status_code == 400
    assert "unknown platform" in unknown.text
    too_many = client.get("/rules", params={"services": " ".join(["ssh"] * 60)})
    assert too_many.status_code == 400
    assert "at most 50" in too_many.text


# -- hostile catalog text --------------------------------------------------------------------------------------


def test_a_hostile_local_service_is_text_on_every_page(hostile: TestClient) -> None:
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in (
        "/services",
        "/services?q=evil",
        "/service/evil-service",
        "/?q=evil-service",
        "/?q=4444/tcp",
        "/?q=evil",
        "/port/4444/tcp",
        "/port/4445",
        "/category/management",
        "/rules?services=evil-service&target=nftables",
        "/rules?services=evil-service&target=windows",
    ):
        response = hostile.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        html = response.text
        assert HOSTILE_TITLE not in html, path
        assert escaped in html or "alert(1)" in html, path
        assert "$(touch /tmp/anyport-pwned)" not in html or escaped in html or "alert" in html
        assert_clean(html)
    page = hostile.get("/service/evil-service").text
    assert escaped in page
    assert "&#34;; rm -rf / #" in page or "&quot;; rm -rf / #" in page  # the risk, escaped
    assert 'href="https://example.invalid/evil"' in page


def test_links_are_relative_in_the_static_site() -> None:
    ports = frozenset({22, 80})
    deep = Links("service/ssh.html", ports)
    assert deep("/") == "../index.html"
    assert deep("/", q="3389/tcp") == "../index.html?q=3389%2Ftcp"
    assert deep("/service/ftp") == "../service/ftp.html"
    assert deep("/port/22/tcp") == "../port/22.html"
    assert deep("/port/23/tcp") == "../index.html?q=23%2Ftcp"
    assert deep("/map", transport="udp") == "../map-udp.html"
    assert deep("/map/tcp.png") == "../map/tcp.png"
    assert deep("/static/app.js") == "../static/app.js"
    assert deep("/services", category="vpn") == "../services.html?category=vpn"
    top = Links("index.html", ports)
    assert top("/categories") == "categories.html"
    assert top.root == "./"
    server = Links()
    assert server("/service/a b") == "/service/a%20b"
    assert server("/", q="") == "/"
    assert server.root == "/"


# -- the static export -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, kb_hostile: KnowledgeBase) -> tuple[Path, int]:
    """``anyport site build`` through the CLI, with the hostile local service in the catalog."""
    directory = tmp_path_factory.mktemp("site") / "out"
    start = time.perf_counter()
    result = run_cli("site", "build", str(directory), env={"ANYPORT_PATH": str(HOSTILE)})
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    found = re.search(r"(\d+) files", result.stdout + result.stderr)
    assert found, result.stdout + result.stderr
    print(f"\nsite build: {found.group(1)} files in {elapsed:.1f} s")
    return directory, int(found.group(1))


def test_site_has_every_page_and_the_count_is_right(site: tuple[Path, int], kb_hostile: KnowledgeBase) -> None:
    root, count = site
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) == count
    for name in (
        "index.html",
        "services.html",
        "categories.html",
        "data.html",
        "map.html",
        "map-udp.html",
        "rules.html",
        "map/tcp.png",
        "map/udp.png",
        "data/search.json",
        "data/portmap-tcp.json",
        "data/portmap-udp.json",
        "data/services.json",
        "data/categories.json",
        "static/app.js",
        "static/style.css",
        "service/pptp.html",
        "service/evil-service.html",
        "category/vpn.html",
        "port/22.html",
        "port/3389.html",
    ):
        assert (root / name).is_file(), name
    services = {row.id for row in service_rows(kb_hostile)}
    assert {p.stem for p in (root / "service").iterdir()} == services
    ports = {int(p.stem) for p in (root / "port").iterdir()}
    assert 1000 < len(ports) < 5000  # curated ports only; the JSON index finds the rest
    assert {22, 1723, 3389, 50000} <= ports
    assert 33333 not in ports
    assert 6990 not in ports


def test_site_pages_are_clean_and_every_relative_link_resolves(site: tuple[Path, int]) -> None:
    root, _ = site
    checked = 0
    for page in sorted(root.rglob("*.html")):
        html = page.read_text("utf-8")
        markup = assert_clean(html)
        assert 'http-equiv="Content-Security-Policy"' in html
        for link in markup.links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https", "mailto"):
                continue
            assert not link.startswith("/"), (page, link)  # relative: the folder works from any directory
            if not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), (page.relative_to(root), link)
            checked += 1
    assert checked > 10000


def test_site_json_parses_and_feeds_the_static_search(site: tuple[Path, int], kb_hostile: KnowledgeBase) -> None:
    root, _ = site
    index = json.loads((root / "data" / "search.json").read_text("utf-8"))
    assert len(index["services"]) == len(service_rows(kb_hostile))
    assert sorted(index["pages"]) == sorted(int(p.stem) for p in (root / "port").iterdir())
    assert len(index["iana"]) > 10000
    assert len(index["trojans"]) > 1000
    assert len(index["protocols"]) > 100
    evil = next(s for s in index["services"] if s["id"] == "evil-service")
    assert HOSTILE_TITLE in evil["title"]
    assert evil["local"] is True
    pptp = next(s for s in index["services"] if s["id"] == "pptp")
    assert ["tcp", 1723, 1723, "fixed", "control"] in pptp["r"]
    assert pptp["u"] == ["gre"]
    gre = next(s for s in index["services"] if s["id"] == "gre")
    assert ["ip", 47, 47, "fixed", "tunnel"] in gre["r"]
    ipp = next(s for s in index["services"] if s["id"] == "ipp")
    assert any(d[0] == "_ipp._tcp" for d in ipp["d"])
    for transport in ("tcp", "udp"):
        data = json.loads((root / "data" / f"portmap-{transport}.json").read_text("utf-8"))
        assert len(data["codes"]) == 65536
        assert data["transport"] == transport
    table = json.loads((root / "data" / "services.json").read_text("utf-8"))
    assert next(s for s in table if s["id"] == "ftp")["run_time"]["tcp"] == ["1024-65535"]
    assert json.loads((root / "data" / "categories.json").read_text("utf-8"))[0]["services"] > 10


def test_site_escapes_the_hostile_service(site: tuple[Path, int]) -> None:
    root, _ = site
    for name in ("service/evil-service.html", "services.html", "category/management.html"):
        html = (root / name).read_text("utf-8")
        assert HOSTILE_TITLE not in html, name
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, name


def test_static_pages_point_at_static_answers(site: tuple[Path, int]) -> None:
    root, _ = site
    home = (root / "index.html").read_text("utf-8")
    assert 'data-mode="static"' in home
    assert 'data-root="./"' in home
    assert 'action="index.html"' in home
    assert "/api/" not in home
    service = (root / "service" / "pptp.html").read_text("utf-8")
    assert 'data-root="../"' in service
    assert 'href="../port/1723.html"' in service
    rules = (root / "rules.html").read_text("utf-8")
    assert "anyport rules" in rules
    assert "<form" not in rules.split("<main", 1)[1]
    port = (root / "port" / "3389.html").read_text("utf-8")
    assert "ms-wbt-server" in port
    assert 'href="../service/rdp.html"' in port
