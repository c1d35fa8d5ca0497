"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright, against ``anyport serve`` on
127.0.0.1 (and the static export behind a plain file server). Search as you type, keyboard use, the table's
filters and sorting, the map's click-through, the plain forms without JavaScript, the rule builder, a hostile
service shown as text, contrast and phone width. Screenshots go to tests/artifacts/.

Needs ``pip install playwright`` and ``apt-get install chromium``; never ``playwright install``. Skips, saying
why, when either is missing or Chromium cannot start here.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import HOSTILE, TESTS

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")

ARTIFACTS = TESTS / "artifacts"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
HOSTILE_TITLE = "<script>alert(1)</script>"

# WCAG contrast of every visible piece of text against the background it is drawn on (run in the page).
CONTRAST_SCRIPT = """
() => {
  function parse(c) {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  }
  function lum(c) {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  }
  function background(el) {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let base = {r: 255, g: 255, b: 255};
    if (layers.length && layers[layers.length - 1].a >= 1) base = layers.pop();
    else if (matchMedia("(prefers-color-scheme: dark)").matches) base = parse(getComputedStyle(document.body).backgroundColor);
    while (layers.length) {
      const c = layers.pop();
      base = {r: c.r * c.a + base.r * (1 - c.a), g: c.g * c.a + base.g * (1 - c.a), b: c.b * c.a + base.b * (1 - c.a)};
    }
    return base;
  }
  const bad = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const text = walker.currentNode;
    const el = text.parentElement;
    if (!text.nodeValue.trim() || seen.has(el)) continue;
    seen.add(el);
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (style.visibility === "hidden" || style.display === "none" || box.width === 0 || box.height === 0) continue;
    if (el.closest("[hidden], .visually-hidden, details:not([open]) > :not(summary)")) continue;
    const fg = parse(style.color);
    const bg = background(el);
    const a = lum(fg) + 0.05, b = lum(bg) + 0.05;
    const ratio = a > b ? a / b : b / a;
    const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) bad.push(`${el.tagName.toLowerCase()}.${el.className} "${text.nodeValue.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return {checked, bad};
}
"""


# -- servers ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"the server exited with {process.returncode}: {output[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)
    if process.stdout:
        process.stdout.close()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """``anyport serve`` on a free port of 127.0.0.1, with the hostile local service (tests/data/hostile.yaml)."""
    port = free_port()
    env = dict(os.environ, ANYPORT_PATH=str(HOSTILE))
    process = subprocess.Popen(
        [sys.executable, "-m", "anyport", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/", process)
        yield base
    finally:
        stop(process)


@pytest.fixture(scope="module")
def static_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The static export, served from a subdirectory by Python's plain file server (no anyport behind it)."""
    from anyport.web.site import build_site

    root = tmp_path_factory.mktemp("static")
    build_site(str(root / "tools" / "anyport"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(root), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/tools/anyport/"
    try:
        wait_for(base + "index.html", process)
        yield base
    finally:
        stop(process)


class Page:
    """A fresh context (own profile state) and page that fails the test on any script error or dialog."""

    def __init__(self, browser: Any, **options: Any) -> None:
        options.setdefault("viewport", DESKTOP)
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", self._console)

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", dialog)

    def _console(self, message: Any) -> None:
        # An API answer of 400 for a bad query is expected (the page shows its message); a script error is not.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def shot(self, name: str) -> None:
        shot(self.page, name)

    def close(self) -> None:
        self.context.close()
        assert not self.dialogs, self.dialogs
        assert not self.errors, self.errors


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    tab = Page(browser)
    yield tab.page
    tab.close()


def shot(page: Any, name: str) -> None:
    """A screenshot of what is on screen, in tests/artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def contrast(page: Any) -> None:
    result = page.evaluate(CONTRAST_SCRIPT)
    assert result["checked"] > 5
    assert not result["bad"], result["bad"]


def no_sideways_scroll(page: Any) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, width  # wide tables scroll inside their own box, not the page


# -- search ----------------------------------------------------------------------------------------------------


def type_in_search(page: Any, text: str) -> None:
    """Type as a person does: once the search box has the focus. Chromium gives an autofocus at a rendering
    update, which can come after the load event, and keys typed before it are lost."""
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'q'")
    page.keyboard.type(text, delay=30)


def test_search_by_port_answers_as_you_type(server: str, page: Any) -> None:
    page.goto(server + "/")
    page.evaluate("() => { window.stillHere = true; }")
    type_in_search(page, "6881")  # the search box has the focus
    results = page.locator("#results")
    results.locator("table.matches").first.wait_for()
    assert "BitTorrent" in results.inner_text()
    page.wait_for_function("() => document.getElementById('status').textContent.includes('for 6881')")
    assert "matches for 6881" in page.locator("#status").inner_text()
    assert page.locator("#status").get_attribute("aria-live") == "polite"
    assert page.evaluate("() => window.stillHere") is True  # answered in place: no page load
    assert page.url.endswith("/?q=6881")  # the address can be bookmarked and reloaded
    assert page.locator("#results a[href='/port/6881']").count() == 1
    page.locator("#results details.tail summary").first.click()  # the broad run-time ranges unfold
    assert page.locator("#results details.tail table").first.is_visible()
    shot(page, "desktop-search-port")
    page.reload()
    assert "BitTorrent" in page.locator("#results").inner_text()  # the server renders the same answer
    page.fill("#q", "70000")
    page.locator("#results .error").wait_for()
    assert "out of range" in page.locator("#results .error").inner_text()


def test_search_by_name_shows_lookup_and_search(server: str, page: Any) -> None:
    page.goto(server + "/")
    type_in_search(page, "messenger")
    page.locator("#results table.hits").first.wait_for()
    text = page.locator("#results").inner_text()
    assert "MSN Messenger" in text
    assert "no service named 'messenger'" in text  # the lookup's own answer, with suggestions
    assert "search result" in page.locator("#status").inner_text()
    for query, expected in (("_ipp._tcp", "IPP (Internet Printing Protocol)"), ("ip:50", "IPsec"), ("3389/tcp", "RDP")):
        page.fill("#q", query)
        page.wait_for_function("q => document.querySelector('#results h2').innerText.startsWith(q + ' ')", arg=query)
        assert expected in page.locator("#results").inner_text()
    shot(page, "desktop-search-name")


def test_keyboard_reaches_everything(server: str, page: Any) -> None:
    page.goto(server + "/")
    type_in_search(page, "3389/tcp")
    page.locator("#results table.matches").first.wait_for()
    page.keyboard.press("ArrowDown")
    first = page.evaluate("() => [document.activeElement.tagName, document.activeElement.textContent]")
    assert first[0] == "A"
    page.keyboard.press("ArrowDown")
    second = page.evaluate("() => document.activeElement.textContent")
    assert second != first[1]
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.textContent") == first[1]
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.id") == "q"
    page.goto(server + "/services")
    page.locator("body").click(position={"x": 5, "y": 400})
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "quick-q"  # "/" jumps to the search
    page.keyboard.type("ssh")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=ssh")
    # Tab: a skip link first, then every control shows where the focus is
    page.goto(server + "/services")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    for _ in range(14):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.tagName, s.outlineStyle, parseFloat(s.outlineWidth)]; }"
        )
        assert outline[1] != "none", outline
        assert outline[2] >= 2, outline
    page.keyboard.press("Tab")


# -- the service table -----------------------------------------------------------------------------------------


def visible_ids(page: Any) -> list[str]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('#services-table tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.querySelector('th a').getAttribute('href').split('/').pop())"
    )


def test_table_filters_and_sorts_in_place(server: str, page: Any) -> None:
    page.goto(server + "/services")
    total = len(visible_ids(page))
    assert total > 700
    page.evaluate("() => { window.stillHere = true; }")
    page.select_option("#f-category", "vpn")
    vpn = visible_ids(page)
    assert 5 < len(vpn) < total
    assert "wireguard" in vpn
    assert "ssh" not in vpn
    assert page.locator("#table-status").inner_text() == f"{len(vpn)} of {total} services"
    assert "category=vpn" in page.url
    page.fill("#f-q", "1723")
    page.wait_for_function("() => document.querySelectorAll('#services-table tbody tr:not([hidden])').length === 1")
    assert visible_ids(page) == ["pptp"]
    page.fill("#f-q", "")
    page.select_option("#f-category", "")
    page.select_option("#f-iana", "no")
    page.select_option("#f-status", "defunct")
    page.wait_for_timeout(300)
    rows = page.locator("#services-table tbody tr:not([hidden])")
    assert rows.count() > 0
    assert all(v == "no" for v in rows.evaluate_all("rows => rows.map(r => r.dataset.iana)"))
    page.select_option("#f-iana", "")
    page.select_option("#f-status", "")
    page.wait_for_timeout(300)
    # sorting: the header links became buttons; Enter on one sorts, again reverses
    button = page.locator("th[data-key='tcp'] button.sort")
    button.focus()
    page.keyboard.press("Enter")
    assert page.locator("th[data-key='tcp']").get_attribute("aria-sort") == "ascending"
    firsts = page.evaluate(
        "() => Array.from(document.querySelectorAll('#services-table tbody tr:not([hidden]) td:nth-of-type(1)'))"
        ".map(td => Number(td.dataset.v))"
    )
    assert firsts == sorted(firsts)
    page.keyboard.press("Enter")
    assert page.locator("th[data-key='tcp']").get_attribute("aria-sort") == "descending"
    assert page.locator("th[data-key='service']").get_attribute("aria-sort") is None
    assert "sort=tcp" in page.url
    assert "order=desc" in page.url
    assert page.evaluate("() => window.stillHere") is True
    page.locator("th[data-key='status'] button.sort").click()
    statuses = page.evaluate(
        "() => Array.from(document.querySelectorAll('#services-table tbody tr')).map(r => r.dataset.status)"
    )
    assert statuses[0] == "active"
    assert statuses[-1] == "defunct"
    shot(page, "desktop-services")


# -- the port map ----------------------------------------------------------------------------------------------


def canvas_point(page: Any, port: int) -> dict[str, float]:
    """Where port N is drawn, in CSS pixels relative to the canvas (app.js: 48 px of labels, 2 px a port)."""
    size = page.evaluate(
        "() => { const c = document.querySelector('canvas.map-canvas'); return [c.width, c.clientWidth]; }"
    )
    ratio = size[1] / size[0]
    row, column = divmod(port, 256)
    return {"x": (48 + column * 2 + 1) * ratio, "y": (row * 2 + 1) * ratio}


def test_map_hover_details_and_click_through(server: str, page: Any) -> None:
    page.goto(server + "/map")
    canvas = page.locator("canvas.map-canvas")
    canvas.wait_for(state="visible")
    assert not page.locator("img.map-image").is_visible()  # the PNG is the fallback without JavaScript
    canvas.hover(position=canvas_point(page, 22))
    detail = page.locator("#map-detail")
    page.wait_for_function("() => document.getElementById('map-detail').innerText.includes('Top:')")
    text = detail.inner_text()
    assert "22/tcp" in text
    assert "curated" in text
    assert "SSH" in text
    shot(page, "desktop-map-hover")
    canvas.click(position=canvas_point(page, 22))
    page.wait_for_url("**/port/22/tcp")
    assert "Port 22/tcp" in page.locator("h1").inner_text()
    # with the keyboard: focus, arrows, Enter
    page.goto(server + "/map?transport=udp")
    canvas = page.locator("canvas.map-canvas")
    canvas.wait_for(state="visible")
    canvas.focus()
    for key in ("ArrowRight", "ArrowRight", "ArrowDown", "ArrowLeft"):
        page.keyboard.press(key)
    page.wait_for_function("() => document.getElementById('map-detail').innerText.includes('257/udp')")
    page.keyboard.press("Enter")
    page.wait_for_url("**/port/257/udp")
    page.goto(server + "/map")
    page.fill("#goto-port", "3389")
    page.keyboard.press("Enter")
    page.wait_for_url("**/port/3389/tcp")


# -- without JavaScript ----------------------------------------------------------------------------------------


def test_everything_works_as_plain_forms_without_javascript(server: str, browser: Any) -> None:
    tab = Page(browser, java_script_enabled=False)
    page = tab.page
    page.goto(server + "/")
    page.fill("#q", "3389/tcp")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=3389%2Ftcp")
    assert "RDP (Remote Desktop Protocol)" in page.locator("#results").inner_text()
    page.goto(server + "/services")
    page.select_option("#f-category", "vpn")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**/services?*category=vpn*")
    shown = page.locator("#services-table tbody tr:visible")
    assert 5 < shown.count() < 100
    page.click("th[data-key='tcp'] a.sort")
    page.wait_for_url("**sort=tcp**")
    assert "category=vpn" in page.url
    assert page.locator("th[data-key='tcp']").get_attribute("aria-sort") == "ascending"
    page.goto(server + "/map")
    assert page.locator("img.map-image").is_visible()
    assert not page.locator("canvas").is_visible()
    page.fill("#goto-port", "53")
    page.keyboard.press("Enter")
    page.wait_for_url("**/port/53/tcp")
    page.goto(server + "/rules")
    page.fill("#r-services", "ssh")
    page.click("#rules-form button[type=submit]")
    page.wait_for_url("**/rules?*services=ssh*")
    assert "dport 22" in page.locator("pre").inner_text() or "22" in page.locator("pre").inner_text()
    assert not page.locator("button.copy").is_visible()  # copying needs JavaScript: no dead button
    tab.page.set_viewport_size(PHONE)
    page.goto(server + "/?q=6881")
    tab.shot("phone-nojs-search")
    tab.close()


# -- the rule builder ------------------------------------------------------------------------------------------


def test_rule_builder_suggests_writes_and_copies(server: str, browser: Any) -> None:
    tab = Page(browser, permissions=["clipboard-read", "clipboard-write"])
    page = tab.page
    page.goto(server + "/rules")
    field = page.locator("#r-services")
    field.click()
    page.keyboard.type("wiregu", delay=40)
    page.locator("#r-suggestions li").first.wait_for()
    assert field.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowDown")
    assert field.get_attribute("aria-activedescendant") == "r-option-0"
    page.keyboard.press("Enter")
    assert field.input_value() == "wireguard "
    page.keyboard.type("ssh@192.0.2.0/24")
    page.select_option("#r-target", "nftables")
    page.fill("#r-sources", "198.51.100.0/24")
    page.click("#rules-form button[type=submit]")
    page.wait_for_url("**/rules?*")
    rules = page.locator("pre#out-1").inner_text()
    assert "51820" in rules
    assert "192.0.2.0/24" in rules
    copy = page.locator("button.copy")
    assert copy.is_visible()
    copy.click()
    page.wait_for_function("() => document.getElementById('copy-status').textContent.includes('Copied')")
    assert page.evaluate("() => navigator.clipboard.readText()").strip() == rules.strip()
    tab.shot("desktop-rules")
    page.fill("#r-services", "nosuchservice")
    page.click("#rules-form button[type=submit]")
    page.locator(".error[role=alert]").wait_for()
    assert "no service named 'nosuchservice'" in page.locator(".error").inner_text()
    page.goto(server + "/rules?services=pptp&target=aws-sg")
    assert "cannot express" in page.locator(".error").inner_text()
    tab.close()


# -- hostile text ----------------------------------------------------------------------------------------------


def test_a_hostile_service_is_only_ever_text(server: str, page: Any) -> None:
    page.goto(server + "/")
    type_in_search(page, "evil")
    page.locator("#results table.hits").first.wait_for()
    assert HOSTILE_TITLE in page.locator("#results").inner_text()
    page.fill("#q", "4444/tcp")
    page.wait_for_function("() => document.querySelector('#results h2').innerText.startsWith('4444/tcp')")
    assert HOSTILE_TITLE in page.locator("#results table.matches").first.inner_text()
    page.goto(server + "/service/evil-service")
    assert HOSTILE_TITLE in page.locator("h1").inner_text()
    page.goto(server + "/services?q=evil")
    assert HOSTILE_TITLE in page.locator("#services-table tbody tr:not([hidden])").inner_text()
    page.goto(server + "/map")
    page.locator("canvas.map-canvas").wait_for(state="visible")
    page.locator("canvas.map-canvas").hover(position=canvas_point(page, 4444))
    page.wait_for_function("t => document.getElementById('map-detail').innerText.includes(t)", arg=HOSTILE_TITLE)
    page.goto(server + "/rules?services=evil-service&target=nftables")
    assert page.locator("pre").count() == 1
    assert page.evaluate("() => document.querySelectorAll('script:not([src])').length") == 0
    # the page fixture fails the test if any alert() ran or any script error happened


# -- where the catalog and IANA disagree -----------------------------------------------------------------------


def test_conflicts_page_lists_1337_with_both_names(server: str, page: Any, static_site: str) -> None:
    page.goto(server + "/data")
    page.get_by_role("link", name="the conflicts report").click()
    page.wait_for_url("**/conflicts")
    row = page.locator("table.conflicts tbody tr[data-port='1337']").first
    text = row.inner_text()
    for expected in ("1337/tcp", "WASTE", "menandmice-dns", "menandmice DNS", "Ports for Internet Services"):
        assert expected in text
    assert "as of 2026-11-26" in text
    count = page.locator("#conflicts-summary").inner_text().split()[0].replace(",", "")
    assert int(count) > 100
    # the filter is a plain form
    page.fill("#c-port", "2705")
    page.locator("#conflict-filters button[type=submit]").click()
    page.wait_for_url("**/conflicts?port=2705*")
    ports = page.locator("table.conflicts tbody tr").evaluate_all("rows => rows.map(r => r.dataset.port)")
    assert ports == ["2705", "2705"]
    assert "ShareDirect" in page.locator("table.conflicts").inner_text()
    assert "sds-admin" in page.locator("table.conflicts").inner_text()
    # a link to the service, and the hostile local service stays text
    page.goto(server + "/conflicts?port=4444")
    assert HOSTILE_TITLE in page.locator("table.conflicts").inner_text()
    page.goto(server + "/conflicts?port=1337/tcp")
    page.locator("table.conflicts a", has_text="WASTE").click()
    page.wait_for_url("**/service/waste")
    # the static export has the page too, without the server
    page.goto(static_site + "conflicts.html")
    assert "menandmice-dns" in page.locator("table.conflicts tbody tr[data-port='1337']").first.inner_text()


# -- accessibility and phones ----------------------------------------------------------------------------------


PAGES = [
    ("home", "/"),
    ("search", "/?q=6881"),
    ("services", "/services"),
    ("service", "/service/ftp"),
    ("port", "/port/3389/tcp"),
    ("categories", "/categories"),
    ("map", "/map"),
    ("rules", "/rules?services=sip+rtp&target=nftables"),
    ("data", "/data"),
    ("conflicts", "/conflicts"),
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_contrast_labels_and_landmarks(server: str, browser: Any, scheme: str) -> None:
    tab = Page(browser, color_scheme=scheme)
    page = tab.page
    for _name, path in PAGES:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        contrast(page)
        unlabelled = page.evaluate(
            "() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, canvas[tabindex]'))"
            ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
        )
        assert not unlabelled, (path, unlabelled)
        for selector in ("header", "nav", "main", "footer", "h1"):
            assert page.locator(selector).count() >= 1, (path, selector)
    tab.close()


def test_phone_width(server: str, browser: Any) -> None:
    tab = Page(browser, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = tab.page
    for name, path in PAGES:
        page.goto(server + path)
        page.wait_for_load_state("networkidle")
        no_sideways_scroll(page)
        tab.shot(f"phone-{name}")
    # the search works on a phone too, and its table scrolls sideways inside its box
    page.goto(server + "/")
    page.fill("#q", "5060")
    page.locator("#results table.matches").first.wait_for()
    no_sideways_scroll(page)
    wrap = page.locator("#results .table-wrap").first
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")
    tab.shot("phone-search-typed")
    # a tap shows a port on the map, a second tap on it opens it
    page.goto(server + "/map")
    canvas = page.locator("canvas.map-canvas")
    canvas.wait_for(state="visible")
    canvas.tap(position=canvas_point(page, 443))
    page.wait_for_function("() => document.getElementById('map-detail').innerText.includes('443/tcp')")
    assert page.url.endswith("/map")
    canvas.tap(position=canvas_point(page, 443))
    page.wait_for_url("**/port/443/tcp")
    tab.close()


def test_desktop_screenshots(server: str, browser: Any) -> None:
    tab = Page(browser)
    for name, path in PAGES:
        tab.page.goto(server + path)
        tab.page.wait_for_load_state("networkidle")
        no_sideways_scroll(tab.page)
        tab.shot(f"desktop-{name}")
    tab.close()


# -- the static export -----------------------------------------------------------------------------------------


def test_static_export_searches_sorts_and_maps_without_a_server(static_site: str, browser: Any) -> None:
    tab = Page(browser)
    page = tab.page
    page.goto(static_site + "index.html")
    page.locator("#q").focus()
    page.keyboard.type("3389/tcp", delay=30)
    page.locator("#results table.matches").first.wait_for()
    text = page.locator("#results").inner_text()
    assert "RDP (Remote Desktop Protocol)" in text
    assert "ms-wbt-server" not in text.split("\n")[0]
    page.locator("#results a", has_text="RDP (Remote Desktop Protocol)").first.click()
    page.wait_for_url("**/service/rdp.html")
    assert "3389" in page.locator("table.open").inner_text()
    page.goto(static_site + "index.html?q=33333")  # a port without a page of its own: the JSON knows it
    page.locator("#results h2").wait_for()
    assert "33333" in page.locator("#results").inner_text()
    page.fill("#q", "messenger")
    page.locator("#results table.hits").first.wait_for()
    assert "MSN Messenger" in page.locator("#results").inner_text()
    page.fill("#q", "pptp")
    page.locator("#results table.matches").first.wait_for()
    page.fill("#q", "ip:47")
    page.wait_for_function("() => document.querySelector('#results h2').innerText.startsWith('ip:47')")
    assert "PPTP (Point-to-Point Tunneling Protocol)" in page.locator("#results").inner_text()  # by reference
    tab.shot("desktop-static-search")
    page.goto(static_site + "services.html?category=vpn&sort=tcp")
    page.wait_for_function("() => document.querySelector('th[data-key=tcp]').getAttribute('aria-sort') === 'ascending'")
    ids = [name.removesuffix(".html") for name in visible_ids(page)]
    assert "wireguard" in ids
    assert "ssh" not in ids
    assert page.locator("th[data-key='tcp']").get_attribute("aria-sort") == "ascending"
    page.goto(static_site + "map.html")
    canvas = page.locator("canvas.map-canvas")
    canvas.wait_for(state="visible")
    canvas.hover(position=canvas_point(page, 22))
    page.wait_for_function("() => document.getElementById('map-detail').innerText.includes('Top:')")
    canvas.click(position=canvas_point(page, 22))
    page.wait_for_url("**/port/22.html")
    data = json.loads(page.evaluate("() => fetch('../data/categories.json').then(r => r.text())"))
    assert data[0]["services"] > 10
    tab.close()
