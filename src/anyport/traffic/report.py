"""A traffic summary as one self-contained HTML page: inline CSS and inline SVG charts, no script, no external
resource, so it works offline, as a mail attachment and on paper.

:func:`render_html` takes the dict of :func:`anyport.traffic.annotate.summary_files` and gives the page: totals and
the input files (with their bad lines), bar charts of the top services by flows and by bytes, the port space
(0-65535, log-scaled flow counts per 64-port bucket, one row per transport, the IANA bands marked, the well-known
ports drawn wider and the busiest ports labelled), then tables of unknown ports, ports with trojan history, services on unusual ports, services with
risk notes and the agreement with the log's own service column. Every text that comes from an input or the catalog
is escaped. The same summary always gives the same bytes (no date, no random ids).
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from anyport.traffic.annotate import _fmt_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

CHART_SERVICES = 12
PORT_LABELS = 6
COLOURS = {"tcp": "#1d5fa6", "udp": "#a84f00", "sctp": "#6a3d9a", "dccp": "#2f6b2f"}
OTHER_COLOUR = "#4d4d4d"
BANDS = (  # (first, last, name, fill)
    (0, 1023, "well-known", "#e3f1e3"),
    (1024, 49151, "registered", "#f3f3f3"),
    (49152, 65535, "dynamic (ephemeral)", "#efe6f7"),
)
LINUX_EPHEMERAL = (32768, 60999)
# the well-known ports, where most services live, get a tenth of the port axis (7 times their linear share)
WELL_KNOWN_SHARE = 0.1
WELL_KNOWN_ZOOM = WELL_KNOWN_SHARE * (65536 - 1024) / ((1 - WELL_KNOWN_SHARE) * 1024)
# characters XML 1.0 forbids (and U+FFFE/U+FFFF), shown as \xNN so hostile input cannot break the SVG
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def esc(value: object) -> str:
    """Text safe inside HTML and SVG elements and attributes."""
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # lone surrogates from JSON escapes
    text = _FORBIDDEN.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return html.escape(text, quote=True)


def _n(value: object) -> str:
    return "–" if value is None else f"{value:,}"


def _f(value: float) -> str:
    """A coordinate with at most one decimal, the same on every machine."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _compact(power_of_ten: int) -> str:
    """1, 10, 100, 1k, 10k, 100k, 1M ... for the log axis."""
    for divisor, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if power_of_ten >= divisor:
            return f"{power_of_ten // divisor}{suffix}"
    return str(power_of_ten)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- charts -------------------------------------------------------------------------------------------------


def bar_chart(title: str, rows: list[tuple[str, str, float, str]], colour: str) -> str:
    """A horizontal bar chart as SVG; ``rows`` are (label, tooltip, value, value as text), largest first."""
    width, label_w, value_w, row_h, bar_h = 400, 136, 70, 24, 15
    plot_w = width - label_w - value_w
    height = max(len(rows), 1) * row_h + 6
    top = max((r[2] for r in rows), default=0) or 1
    parts = [
        f'<svg class="bars" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{esc(title)}</title>",
    ]
    if not rows:
        parts.append(f'<text x="0" y="17" class="muted">{esc("nothing to show")}</text>')
    for i, (label, tip, value, text) in enumerate(rows):
        y = i * row_h + 4
        bar = max(plot_w * value / top, 2.0)
        parts.append(
            f'<g><title>{esc(tip)}</title><text x="{label_w - 8}" y="{y + 12}" text-anchor="end">'
            f"{esc(_short(label, 18))}</text>"
            f'<rect x="{label_w}" y="{y}" width="{_f(bar)}" height="{bar_h}" rx="2" fill="{colour}"/>'
            f'<text x="{_f(label_w + bar + 6)}" y="{y + 12}" class="value">{esc(text)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _dodge(wanted: list[float], widths: list[float], low: float, high: float, gap: float = 6.0) -> list[float]:
    """Centres for labels in one line, each as near its wanted x as the others allow, none overlapping."""
    placed: list[float] = []
    for x, w in zip(wanted, widths, strict=True):
        left = low + w / 2 if not placed else placed[-1] + widths[len(placed) - 1] / 2 + gap + w / 2
        placed.append(max(x, left))
    # push back from the right edge, keeping the order
    limit = high
    for i in range(len(placed) - 1, -1, -1):
        placed[i] = min(placed[i], limit - widths[i] / 2)
        limit = placed[i] - widths[i] / 2 - gap
    return placed


def port_space_chart(activity: Mapping[str, Any], width: int = 960, labels: int = PORT_LABELS, css: str = "") -> str:
    """Flows per 64-port bucket over 0-65535, one row per transport, log-scaled, the busiest ports labelled.

    The axis is linear within 0-1023 and within 1024-65535, the well-known part drawn wider (``WELL_KNOWN_SHARE``).
    ``width`` is the drawing's own width in pixels at scale 1 (text sizes stay the same, so a narrow drawing
    suits a phone); ``labels`` is how many of the busiest ports each row names.
    """
    size = int(activity.get("bucket_size") or 64)
    buckets: dict[str, list[list[int]]] = dict(activity.get("buckets") or {})
    top_ports: list[dict[str, Any]] = list(activity.get("top_ports") or [])
    order = ["tcp", "udp", *sorted(t for t in buckets if t not in ("tcp", "udp"))]
    left, right = (58, 14) if width >= 600 else (40, 10)
    plot_w = width - left - right
    label_h, bar_h, gap, axis_h = 30, 92, 18, 58
    row_h = label_h + bar_h + gap
    height = len(order) * row_h + axis_h
    peak = max((count for rows in buckets.values() for _i, count in rows), default=1)
    scale = math.log10(peak + 1) or 1.0

    def x_of(port: float) -> float:
        if port <= 1024:
            return left + plot_w * WELL_KNOWN_SHARE * port / 1024
        return left + plot_w * (WELL_KNOWN_SHARE + (1 - WELL_KNOWN_SHARE) * (port - 1024) / (65536 - 1024))

    def h_of(count: int) -> float:
        return max(bar_h * math.log10(count + 1) / scale, 2.5)

    title = "Flows across the port space (log scale), by transport"
    parts = [
        f'<svg class="ports{css}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{title}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
    ]
    for index, transport in enumerate(order):
        y0 = index * row_h
        base = y0 + label_h + bar_h
        colour = COLOURS.get(transport, OTHER_COLOUR)
        for first, last, name, fill in BANDS:
            parts.append(
                f'<rect x="{_f(x_of(first))}" y="{y0 + label_h}" width="{_f(x_of(last + 1) - x_of(first))}" '
                f'height="{bar_h}" fill="{fill}"><title>{name} ports {first}-{last}</title></rect>'
            )
        decade = 1
        while decade <= peak:  # grid lines at 1, 10, 100 ... flows
            y = base - h_of(decade) if decade > 1 else base - bar_h * math.log10(2) / scale
            parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_f(y)}" y2="{_f(y)}" class="grid"/>')
            parts.append(
                f'<text x="{left - 6}" y="{_f(y + 4)}" text-anchor="end" class="tick">{_compact(decade)}</text>'
            )
            decade *= 10
        parts.append(
            f'<text x="{left - 6}" y="{y0 + label_h - 4}" text-anchor="end" class="transport" fill="{colour}">'
            f"{esc(transport)}</text>"
        )
        rows = buckets.get(transport, [])
        for bucket, count in rows:
            h = h_of(count)
            start = bucket * size
            parts.append(
                f'<rect x="{_f(x_of(start))}" y="{_f(base - h)}" width="{_f(max(x_of(start + size) - x_of(start), 1.8))}" '
                f'height="{_f(h)}" fill="{colour}"><title>{transport} {start}-{start + size - 1}: '
                f"{count:,} flows</title></rect>"
            )
        if not rows:
            parts.append(
                f'<text x="{_f(left + plot_w / 2)}" y="{_f(base - bar_h / 2 + 5)}" text-anchor="middle" '
                f'class="muted">no {esc(transport)} flows with a port</text>'
            )
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" class="axis"/>')
        labelled = sorted(
            (e for e in top_ports if str(e["port"]).endswith(f"/{transport}")), key=lambda e: -int(e["flows"])
        )[:labels]
        labelled.sort(key=lambda e: int(str(e["port"]).split("/")[0]))
        limit = 14 if width >= 600 else 10
        texts = [f"{str(e['port']).split('/')[0]} {_short(str(e.get('service') or '?'), limit)}" for e in labelled]
        widths = [len(t) * 7.4 + 2 for t in texts]
        ports = [int(str(e["port"]).split("/")[0]) for e in labelled]
        centres = _dodge([x_of(p + 0.5) for p in ports], widths, left, width - right)
        counts = {int(b): int(c) for b, c in rows}
        for port, text, centre, entry in zip(ports, texts, centres, labelled, strict=True):
            bar_top = base - h_of(counts.get(port // size, 1))
            parts.append(
                f'<g class="label"><title>{esc(entry["port"])} {esc(entry.get("service") or "unknown")}: '
                f"{int(entry['flows']):,} flows</title>"
                f'<line x1="{_f(x_of(port + 0.5))}" y1="{_f(bar_top - 1)}" x2="{_f(centre)}" y2="{y0 + label_h - 2}"/>'
                f'<text x="{_f(centre)}" y="{y0 + label_h - 6}" text-anchor="middle">{esc(text)}</text></g>'
            )
    y_axis = len(order) * row_h - gap
    for port in (0, 1024, 16384, 32768, 49152, 65535):
        x = x_of(port)
        anchor = "start" if port == 0 else "end" if port == 65535 else "middle"
        parts.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{y_axis}" y2="{y_axis + 5}" class="axis"/>')
        parts.append(f'<text x="{_f(x)}" y="{y_axis + 18}" text-anchor="{anchor}" class="tick">{port}</text>')
    first, last = LINUX_EPHEMERAL
    y = y_axis + 32
    parts.append(
        f'<path d="M{_f(x_of(first))} {y - 4}v4H{_f(x_of(last + 1))}v-4" class="bracket"/>'
        f'<text x="{_f(x_of((first + last) / 2))}" y="{y + 14}" text-anchor="middle" class="tick">'
        f"Linux ephemeral {first}-{last}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


# -- tables -------------------------------------------------------------------------------------------------


def table(
    headers: Iterable[str], rows: Iterable[Iterable[str]], numeric: Iterable[int] = (), optional: Iterable[int] = ()
) -> str:
    """A table of already escaped cells; columns in ``numeric`` align right, those in ``optional`` hide on phones."""
    classes = dict.fromkeys(numeric, "num")
    for i in optional:
        classes[i] = (classes.get(i, "") + " opt").strip()

    def attr(i: int) -> str:
        return f' class="{classes[i]}"' if i in classes else ""

    head = "".join(f"<th{attr(i)}>{h}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{attr(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _section(anchor: str, title: str, intro: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{title}</h2>{f"<p class=intro>{intro}</p>" if intro else ""}{body}</section>'


def _or_none(entries: list[dict[str, Any]], render: str, what: str) -> str:
    return render if entries else f'<p class="none">No {what}.</p>'


# -- the page -----------------------------------------------------------------------------------------------

CSS = """
:root{color-scheme:light;--ink:#1b1f24;--muted:#4f5862;--line:#d5dae0;--band:#f4f6f8;--accent:#1d5fa6}
*{box-sizing:border-box}
body{margin:0;background:#fff;color:var(--ink);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 20px 40px}
h1{font-size:1.7rem;margin:0 0 4px}
h2{font-size:1.25rem;margin:36px 0 8px;padding-bottom:4px;border-bottom:2px solid var(--line)}
h3{font-size:1rem;margin:16px 0 6px}
p{margin:6px 0}
.intro,.none,.span{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:18px 0 6px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:var(--band)}
.card b{display:block;font-size:1.45rem;line-height:1.2}
.card span{color:var(--muted);font-size:.9rem}
.card.alert{border-color:#e0b4b4;background:#fbf0f0}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px 28px}
figure{margin:8px 0}
figcaption{font-weight:600;margin-bottom:6px}
svg{display:block;width:100%;height:auto;font:13px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg.bars{max-width:480px}
svg.meter{max-width:640px;margin-top:8px}
svg text{fill:var(--ink)}
svg .value,svg .tick,svg .muted{fill:var(--muted)}
svg .tick{font-size:12px}
svg .transport{font-weight:700;font-size:15px}
svg .grid{stroke:#c9cfd6;stroke-dasharray:2 3}
svg .axis{stroke:#5b6570}
svg .bracket{fill:none;stroke:#5b6570}
svg .label line{stroke:#5b6570;stroke-width:.8}
svg.narrow{display:none}
@media (max-width:700px){svg.wide{display:none}svg.narrow{display:block}}
.legend{display:flex;flex-wrap:wrap;gap:6px 18px;color:var(--muted);font-size:.9rem;margin:4px 0 0;padding:0;
list-style:none}
.legend i{display:inline-block;width:14px;height:14px;border:1px solid #aab2bb;vertical-align:-2px;margin-right:6px;
-webkit-print-color-adjust:exact;print-color-adjust:exact}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:6px 0 4px;font-size:.95rem}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-bottom:1px solid var(--line);
overflow-wrap:break-word}
th{background:var(--band);font-weight:600}
td:first-child{min-width:6.5em}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
code{font:.92em ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;overflow-wrap:anywhere}
.bad{color:#8c1d18}
.big{font-size:2rem;font-weight:700}
footer{margin-top:40px;color:var(--muted);font-size:.85rem}
@media (max-width:600px){main{padding:16px 12px 32px}h1{font-size:1.4rem}table{font-size:.9rem}
th,td{padding:4px 6px}.opt{display:none}}
@media print{main{max-width:none;padding:0}svg.wide{display:block}svg.narrow{display:none}
section,figure,tr{break-inside:avoid}h2{break-after:avoid}.card{background:none}}
"""


def render_html(summary: Mapping[str, object], title: str = "Traffic summary") -> str:
    """The summary as one self-contained HTML document (see the module docstring)."""
    data: dict[str, Any] = dict(summary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="anyport summary">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>{esc(title)}</h1>{_span(data)}{_cards(data)}</header>",
        _inputs(data),
        _services(data),
        _port_space(data),
        _findings(data),
        _agreement(data),
        "<footer>Generated by <code>anyport summary --html</code>. Service names and risk notes come from the "
        "anyport catalog; a flow's service is the one its port most likely belongs to, not a payload check."
        "</footer>",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def _span(data: dict[str, Any]) -> str:
    span = data.get("time")
    if not isinstance(span, dict):
        return '<p class="span">The inputs carry no readable time.</p>'
    first = str(span["first_utc"]).replace("T", " ").replace("Z", " UTC")
    last = str(span["last_utc"]).replace("T", " ").replace("Z", " UTC")
    return (
        f'<p class="span">From <b>{esc(first)}</b> to <b>{esc(last)}</b> '
        f"({_n(span['flows'])} of {_n(data['flows'])} flows carry a time).</p>"
    )


def _cards(data: dict[str, Any]) -> str:
    agreement = data.get("agreement") or {}
    cards = [
        (_n(data["flows"]), "flows", False),
        (esc(_fmt_bytes(data.get("bytes"))), "bytes, both directions", False),
        (_n(data.get("packets")), "packets, both directions", False),
        (_n(data.get("services")), "services", False),
        (_n(len(data.get("unknown_ports") or [])), "unknown ports", False),
        (_n(len(data.get("trojan_ports") or [])), "ports with trojan history", bool(data.get("trojan_ports"))),
        (_n(data.get("without_port")), "flows without a port", False),
    ]
    if agreement.get("compared"):
        cards.append((f"{100 * agreement['agree'] / agreement['compared']:.1f}%", "agree with the log", False))
    bad = sum(int(f.get("bad") or 0) for f in data.get("files") or [])
    if bad:
        cards.append((_n(bad), "bad input lines", True))
    body = "".join(
        f'<div class="card{" alert" if alert else ""}"><b>{value}</b><span>{label}</span></div>'
        for value, label, alert in cards
    )
    return f'<div class="cards">{body}</div>'


def _inputs(data: dict[str, Any]) -> str:
    files: list[dict[str, Any]] = list(data.get("files") or [])
    if not files:
        return ""
    rows = []
    for f in files:
        bad = int(f.get("bad") or 0)
        examples = "; ".join(f"line {int(x['line'])}: {x['reason']}" for x in f.get("examples") or [])
        if bad > len(f.get("examples") or []):
            examples += " …"
        rows.append(
            [
                f"<code>{esc(f['path'])}</code>",
                esc(f.get("format") or "unknown"),
                _n(f.get("records")),
                _n(f.get("lines")),
                f'<span class="bad">{_n(bad)}</span>' if bad else "0",
                esc(examples) if bad else "",
            ]
        )
    headers = ["file", "format", "flows", "lines", "bad", "first bad lines"]
    if not any(row[-1] for row in rows):  # no bad line anywhere: no empty column
        headers.pop()
        rows = [row[:-1] for row in rows]
    return _section(
        "inputs",
        "Inputs",
        "Bad lines are counted and skipped; the first few are shown with the reason.",
        table(headers, rows, numeric=(2, 3, 4), optional=(3,)),
    )


def _services(data: dict[str, Any]) -> str:
    by_flows: list[dict[str, Any]] = list(data.get("by_service") or [])
    by_bytes: list[dict[str, Any]] = list(data.get("by_service_bytes") or [])
    flows_chart = bar_chart(
        "Top services by flows",
        [(str(e["service"]), f"{e['service']} ({e['title']})", e["flows"], _n(e["flows"])) for e in by_flows][
            :CHART_SERVICES
        ],
        "#1d5fa6",
    )
    bytes_chart = bar_chart(
        "Top services by bytes",
        [(str(e["service"]), f"{e['service']} ({e['title']})", e["bytes"], _fmt_bytes(e["bytes"])) for e in by_bytes][
            :CHART_SERVICES
        ],
        "#8a4a00",
    )
    charts = (
        '<div class="charts">'
        f"<figure><figcaption>By flows</figcaption>{flows_chart}</figure>"
        f"<figure><figcaption>By bytes</figcaption>{bytes_chart if by_bytes else _no_bytes()}</figure></div>"
    )
    rows = [
        [esc(e["service"]), esc(e["title"]), _n(e["flows"]), _n(e.get("packets")), esc(_fmt_bytes(e.get("bytes")))]
        for e in by_flows
    ]
    listing = table(["service", "title", "flows", "packets", "bytes"], rows, numeric=(2, 3, 4), optional=(1,))
    shown = f"the top {len(by_flows)} of {_n(data.get('services'))}" if by_flows else "none"
    return _section(
        "services",
        "Traffic by service",
        f"Each flow counts once, for the service its port most likely belongs to ({shown} services).",
        charts + _or_none(by_flows, listing, "flows on a known service"),
    )


def _no_bytes() -> str:
    return '<p class="none">The inputs carry no byte counts.</p>'


def _port_space(data: dict[str, Any]) -> str:
    activity: dict[str, Any] = dict(data.get("port_activity") or {})
    legend = "".join(
        f'<li><i style="background:{fill}"></i>{name} {first}-{last}'
        f"{f' (drawn {WELL_KNOWN_ZOOM:.0f}× wider)' if first == 0 else ''}</li>"
        for first, last, name, fill in BANDS
    )
    size = int(activity.get("bucket_size") or 64)
    top: list[dict[str, Any]] = list(activity.get("top_ports") or [])
    rows = [[esc(e["port"]), esc(e.get("service") or "unknown"), _n(e["flows"])] for e in top]
    transports: dict[str, dict[str, Any]] = dict(data.get("transports") or {})
    by_transport = [
        [esc(name), _n(t.get("flows")), _n(t.get("packets")), esc(_fmt_bytes(t.get("bytes")))]
        for name, t in transports.items()
    ]
    body = (
        f"{port_space_chart(activity, css=' wide')}{port_space_chart(activity, 400, 3, ' narrow')}"
        f'<ul class="legend">{legend}'
        f"<li>one bar = {size} ports; height = flows, log scale</li></ul>"
        '<div class="charts"><div><h3>Busiest service ports</h3>'
        + _or_none(top, table(["port", "service", "flows"], rows, numeric=(2,)), "flows with a port")
        + "</div><div><h3>By transport</h3>"
        + _or_none(
            list(transports.values()),
            table(["transport", "flows", "packets", "bytes"], by_transport, numeric=(1, 2, 3)),
            "flows",
        )
        + "</div></div>"
    )
    return _section(
        "ports",
        "Port-space activity",
        "Where the service ports of the flows fall in 0-65535: bursts in the dynamic range hint at peer-to-peer "
        "traffic, scans or services on unusual ports.",
        body,
    )


def _findings(data: dict[str, Any]) -> str:
    trojans: list[dict[str, Any]] = list(data.get("trojan_ports") or [])
    risky: list[dict[str, Any]] = list(data.get("risky_services") or [])
    unknown: list[dict[str, Any]] = list(data.get("unknown_ports") or [])
    unusual: list[dict[str, Any]] = list(data.get("unusual_ports") or [])
    trojan_table = table(
        ["port", "service", "flows"],
        ([esc(e["port"]), esc(e.get("service") or "unknown"), _n(e["flows"])] for e in trojans),
        numeric=(2,),
    )
    unknown_table = table(["port", "flows"], ([esc(e["port"]), _n(e["flows"])] for e in unknown), numeric=(1,))
    unusual_table = table(
        ["log's service", "port", "catalog", "flows"],
        ([esc(e["zeek_service"]), esc(e["port"]), esc(", ".join(e["catalog"])), _n(e["flows"])] for e in unusual),
        numeric=(3,),
    )
    risk_table = table(
        ["service", "flows", "risk tags", "notes"],
        (
            [
                esc(e["service"]),
                _n(e["flows"]),
                esc(str(e["risk"]).replace(";", " ")),
                "<br>".join(esc(note) for note in e.get("notes") or []),
            ]
            for e in risky
        ),
        numeric=(1,),
    )
    pair = (
        '<div class="charts">'
        + _section(
            "trojans",
            "Ports with trojan history",
            "Malware has used these ports at some time; most traffic on them is the ordinary service.",
            _or_none(trojans, trojan_table, "port with trojan history"),
        )
        + _section(
            "unknown",
            "Unknown ports",
            "Service ports the catalog has no service for.",
            _or_none(unknown, unknown_table, "unknown port"),
        )
        + "</div>"
    )
    return "\n".join(
        [
            pair,
            _section(
                "unusual",
                "Services on unusual ports",
                "The log names a service on a port that service does not use in the catalog.",
                _or_none(unusual, unusual_table, "service on an unusual port"),
            ),
            _section(
                "risks",
                "Services with risk notes",
                "The catalog's risk notes for the services seen.",
                _or_none(risky, risk_table, "service with risk notes"),
            ),
        ]
    )


def meter(agree: int, near: int, compared: int) -> str:
    """A 100% bar: same service, among the alternatives, different."""
    width, height = 400, 22
    parts = [
        f'<svg class="meter" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="agreement" xmlns="http://www.w3.org/2000/svg"><title>agreement</title>'
    ]
    x = 0.0
    for count, colour, what in (
        (agree, "#2e7d32", "same service"),
        (near, "#c88a00", "among the alternatives"),
        (compared - agree - near, "#b0b7bf", "different"),
    ):
        w = width * count / compared if compared else 0
        if w > 0:
            parts.append(
                f'<rect x="{_f(x)}" y="0" width="{_f(w)}" height="{height}" fill="{colour}">'
                f"<title>{what}: {count:,}</title></rect>"
            )
        x += w
    parts.append("</svg>")
    return "".join(parts)


def _agreement(data: dict[str, Any]) -> str:
    agreement: dict[str, Any] = dict(data.get("agreement") or {})
    compared = int(agreement.get("compared") or 0)
    if not compared:
        return ""
    rate = 100 * int(agreement["agree"]) / compared
    within = 100 * int(agreement["in_top5"]) / compared
    disagreements: list[dict[str, Any]] = list(agreement.get("disagreements") or [])
    agree, near = int(agreement["agree"]), int(agreement["in_top5"]) - int(agreement["agree"])
    legend = (
        '<ul class="legend"><li><i style="background:#2e7d32"></i>same service</li>'
        '<li><i style="background:#c88a00"></i>among the alternatives</li>'
        '<li><i style="background:#b0b7bf"></i>different</li></ul>'
    )
    body = (
        f'<p><span class="big">{rate:.1f}%</span> of the {compared:,} flows the log names a service for get the '
        f"same service here ({agree:,}); {within:.1f}% have it among the top five candidates.</p>"
        + meter(agree, max(near, 0), compared)
        + legend
        + "<h3>Where they differ</h3>"
        + _or_none(
            disagreements,
            table(
                ["log says", "port", "anyport says", "flows"],
                ([esc(e["zeek"]), esc(e["port"]), esc(e["anyport"]), _n(e["flows"])] for e in disagreements),
                numeric=(3,),
            ),
            "disagreement",
        )
    )
    return _section("agreement", "Agreement with the log's service column", "", body)
