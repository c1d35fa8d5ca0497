/* anyport: progressive enhancement. Every page works without this file; with it, answers come as you type,
 * tables sort and filter in place, the port map is drawn and explorable, and rules copy with one click.
 *
 * Served pages ask the JSON API under /api/v1. The static export (anyport site build) has no server: it loads
 * data/search.json and answers from that. Catalog text only ever reaches the page through textContent.
 */
(function () {
  "use strict";

  const body = document.body;
  const STATIC = body.getAttribute("data-mode") === "static";
  const ROOT = body.getAttribute("data-root") || "/";
  const MAX_QUERY = parseInt(body.getAttribute("data-max-query") || "200", 10);
  const TRANSPORTS = ["tcp", "udp", "sctp", "dccp"];

  // -- small helpers ---------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const key of Object.keys(attrs)) {
        const value = attrs[key];
        if (value === null || value === undefined || value === false) continue;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function debounce(fn, ms) {
    let timer = 0;
    return function () {
      const args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (r) {
      return r.json().then(
        function (data) { return { ok: r.ok, status: r.status, data: data }; },
        function () { return { ok: false, status: r.status, data: null }; }
      );
    });
  }

  function errorText(response) {
    if (response.data && response.data.error && response.data.error.message) return response.data.error.message;
    return "the server answered " + response.status;
  }

  function plural(n, word, many) { return n + " " + (n === 1 ? word : (many || word + "s")); }

  function isTyping(target) {
    const tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  // -- links: the server's paths, or the static export's file names -----------------------------------------

  let staticPorts = null; // ports with a page of their own in the static export (from data/search.json)

  const links = {
    home: function (q) {
      const base = STATIC ? ROOT + "index.html" : "/";
      return q ? base + "?q=" + encodeURIComponent(q) : base;
    },
    service: function (id) {
      return STATIC ? ROOT + "service/" + encodeURIComponent(id) + ".html" : "/service/" + encodeURIComponent(id);
    },
    port: function (n, transport) {
      if (!STATIC) return "/port/" + n + (transport ? "/" + transport : "");
      if (staticPorts && staticPorts.has(n)) return ROOT + "port/" + n + ".html";
      return links.home(String(n) + (transport ? "/" + transport : ""));
    },
    portmap: function (transport) {
      return STATIC ? ROOT + "data/portmap-" + transport + ".json" : "/api/v1/portmap/" + transport;
    },
  };

  // -- the static export's answers (from data/search.json) -------------------------------------------------

  let indexPromise = null;
  function loadIndex() {
    if (!indexPromise) {
      indexPromise = fetch(ROOT + "data/search.json").then(function (r) {
        if (!r.ok) throw new Error("data/search.json: " + r.status);
        return r.json();
      }).then(function (index) {
        staticPorts = new Set(index.pages || []);
        index.referrers = new Map(); // service id -> the services that use it (NetMeeting uses LDAP...)
        index.byId = new Map();
        for (const s of index.services) {
          index.byId.set(s.id, s);
          for (const ref of s.u || []) {
            if (!index.referrers.has(ref)) index.referrers.set(ref, []);
            index.referrers.get(ref).push(s);
          }
        }
        index.protocolByNumber = new Map();
        index.protocolByKeyword = new Map();
        for (const p of index.protocols) {
          index.protocolByNumber.set(p[0], p);
          if (p[1]) index.protocolByKeyword.set(p[1].toLowerCase(), p);
        }
        return index;
      });
      indexPromise.catch(function () { indexPromise = null; });
    }
    return indexPromise;
  }

  const STATUS_FACTOR = { active: 1.0, obsolete: 0.85, defunct: 0.7 };
  const SOURCE_ORDER = { local: 0, catalog: 1, iana: 2, trojans: 3 };

  function parseQuery(text, index) {
    const raw = text.trim();
    let m;
    if (!raw) return { error: "empty query" };
    if ((m = /^(\d+)(?:\s*-\s*(\d+))?(?:\s*\/\s*([a-z]+))?$/i.exec(raw)) ||
        (m = /^([a-z]+)\s*\/\s*(\d+)(?:\s*-\s*(\d+))?$/i.exec(raw))) {
      let start, end, transport;
      if (/^\d/.test(raw)) { start = +m[1]; end = m[2] ? +m[2] : start; transport = m[3]; }
      else { transport = m[1]; start = +m[2]; end = m[3] ? +m[3] : start; }
      if (transport && TRANSPORTS.indexOf(transport.toLowerCase()) < 0) {
        return { error: "'" + transport + "' is not a transport; use tcp, udp, sctp or dccp" };
      }
      if (start > 65535 || end > 65535) {
        return { error: "port " + Math.max(start, end) + " is out of range; ports are numbered 0-65535" };
      }
      if (start > end) return { error: "range " + start + "-" + end + " runs backwards; did you mean " + end + "-" + start + "?" };
      return { kind: start === end ? "port" : "range", start: start, end: end, transports: transport ? [transport.toLowerCase()] : TRANSPORTS };
    }
    if (/^ip:/i.test(raw)) {
      const value = raw.slice(3).trim().toLowerCase();
      const number = /^\d+$/.test(value) ? +value : (index.protocolByKeyword.get(value) || [null])[0];
      if (number === null || number === undefined || number > 255) {
        return { error: "'" + value + "' is not an IP protocol; use a number 0-255 or a keyword like gre, esp, ah" };
      }
      return { kind: "ip", proto: number, name: "" };
    }
    if (/^_[a-z0-9][a-z0-9-]{0,62}\._(tcp|udp)(\.local\.?)?$/i.test(raw)) {
      return { kind: "dnssd", name: raw.toLowerCase().replace(/\.$/, "").replace(/\.local$/, "") };
    }
    const keyword = index.protocolByKeyword.get(raw.toLowerCase());
    if (keyword && TRANSPORTS.indexOf(raw.toLowerCase()) < 0) return { kind: "ip", proto: keyword[0], name: raw.toLowerCase() };
    return { kind: "name", name: raw };
  }

  function portsOf(service, transport) {
    return service.r.filter(function (r) { return r[0] === transport; })
      .map(function (r) { return r[1] === r[2] ? String(r[1]) : r[1] + "-" + r[2]; })
      .filter(function (v, i, all) { return all.indexOf(v) === i; }).join(",");
  }

  function serviceMatch(service, transport, kind, confidence, why, span, allocation) {
    return {
      name: service.id, title: service.title, transport: transport, ports: portsOf(service, transport),
      match: kind, source: service.local ? "local" : "catalog", confidence: confidence, why: why,
      status: service.status, span: span || 0, allocation: allocation || "fixed", categories: service.categories,
      description: service.description,
    };
  }

  function keepBest(best, match) {
    const key = match.source + "\u0000" + match.name + "\u0000" + match.transport;
    const current = best.get(key);
    if (!current || match.confidence > current.confidence) best.set(key, match);
  }

  function portContext(q) {
    if (q.kind === "range") return [(q.end - q.start + 1) + " ports"];
    const p = q.start, notes = [];
    if (p === 0) notes.push("port 0 is reserved and never a valid destination; in traffic it suggests scans or fragments");
    else if (p <= 1023) notes.push(p + " is a system (well-known) port, 0-1023 (RFC 6335)");
    else if (p <= 49151) notes.push(p + " is a user (registered) port, 1024-49151 (RFC 6335)");
    else notes.push(p + " is in the dynamic/private range 49152-65535 (RFC 6335), used for ephemeral ports by Windows, macOS and BSD");
    if (p >= 32768 && p <= 60999) notes.push(p + " is inside Linux's default ephemeral range 32768-60999: often the client side");
    return notes;
  }

  function staticLookup(index, text) {
    const q = parseQuery(text, index);
    if (q.error) return { error: q.error };
    const best = new Map();
    if (q.kind === "port" || q.kind === "range") {
      const claimed = new Set();
      for (const s of index.services) {
        for (const r of s.r) {
          if (q.transports.indexOf(r[0]) < 0 || r[1] > q.end || r[2] < q.start) continue;
          const width = r[2] - r[1] + 1, allocation = r[3];
          const conventional = allocation === "selected" && width <= 10;
          let score, kind, label;
          if ((allocation === "dynamic" || allocation === "negotiated" || allocation === "selected") && !conventional) {
            score = 0.35 - 0.05 * Math.log10(width); kind = "dynamic"; label = allocation;
          } else if (width === 1 || allocation === "family") {
            score = 0.9; kind = "exact"; label = "fixed port";
          } else {
            score = 0.85 - 0.08 * Math.log10(width); kind = "range"; label = "range";
          }
          if (conventional) score *= 0.9;
          score *= STATUS_FACTOR[s.status] || 1;
          const where = width === 1 ? r[1] + "/" + r[0] : r[1] + "-" + r[2] + "/" + r[0];
          keepBest(best, serviceMatch(s, r[0], kind, Math.max(0.03, score), label + " " + where + " (" + r[4] + ")", width, allocation));
          for (const name of s.reg || []) claimed.add(r[0] + "\u0000" + name.toLowerCase());
        }
      }
      for (const rec of index.iana) {
        if (q.transports.indexOf(rec[1]) < 0 || rec[2] > q.end || rec[3] < q.start) continue;
        if (claimed.has(rec[1] + "\u0000" + rec[0].toLowerCase())) continue;
        const width = rec[3] - rec[2] + 1, ports = width === 1 ? String(rec[2]) : rec[2] + "-" + rec[3];
        keepBest(best, {
          name: rec[0], title: rec[4] || rec[0], transport: rec[1], ports: ports, match: width === 1 ? "exact" : "range",
          source: "iana", confidence: width === 1 ? 0.5 : 0.45 - 0.05 * Math.log10(width), why: "IANA registers " + ports + "/" + rec[1] + " as " + rec[0],
          status: "active", span: width, allocation: "fixed", description: rec[4],
        });
      }
      for (const t of index.trojans) {
        if (q.transports.indexOf(t[1]) < 0 || t[0] > q.end || t[0] < q.start) continue;
        keepBest(best, {
          name: "trojans-" + t[0] + "-" + t[1], title: "Trojan history: " + t[2], transport: t[1], ports: String(t[0]),
          match: "exact", source: "trojans", confidence: 0.02, status: "active", span: 1, allocation: "fixed",
          why: t[0] + "/" + t[1] + " was historically used by trojans or backdoors (OpenVAS trojan list)", description: t[2],
        });
      }
    } else if (q.kind === "ip") {
      for (const s of index.services) {
        for (const r of s.r) {
          if (r[0] === "ip" && r[1] === q.proto) {
            keepBest(best, serviceMatch(s, "ip", "exact", 0.9 * (STATUS_FACTOR[s.status] || 1), "uses IP protocol " + q.proto + " (" + r[4] + ")", 1, "fixed"));
          }
        }
      }
      const p = index.protocolByNumber.get(q.proto);
      if (p && !best.has("catalog\u0000" + (p[1] || "").toLowerCase() + "\u0000ip")) {
        keepBest(best, {
          name: (p[1] || String(q.proto)).toLowerCase(), title: p[1] && p[2] ? p[1] + " (" + p[2] + ")" : (p[1] || p[2]),
          transport: "ip", ports: String(q.proto), match: "exact", source: "iana", confidence: 0.5, status: "active",
          why: "IANA assigns IP protocol number " + q.proto + " to " + (p[1] || p[2]), span: 1, allocation: "fixed",
        });
      }
      if (q.name) for (const m of nameMatches(index, q.name)) keepBest(best, m);
    } else if (q.kind === "dnssd") {
      for (const s of index.services) {
        for (const d of s.d || []) {
          if (d[0] === q.name) keepBest(best, serviceMatch(s, d[1], "exact", 0.95, "advertises " + q.name + " on " + d[2], 1, "fixed"));
        }
      }
    } else {
      for (const m of nameMatches(index, q.name)) keepBest(best, m);
    }
    addReferences(index, best);
    const matches = Array.from(best.values());
    matches.sort(function (a, b) {
      return b.confidence - a.confidence || (SOURCE_ORDER[a.source] - SOURCE_ORDER[b.source]) ||
        a.title.toLowerCase().localeCompare(b.title.toLowerCase()) || a.transport.localeCompare(b.transport);
    });
    const context = q.kind === "port" || q.kind === "range" ? portContext(q) : [];
    return { query: text.trim(), kind: q.kind, matches: matches, context: context, port: q.kind === "port" ? q : null };
  }

  function addReferences(index, best) {
    // Services that reach a matched service through a reference, a few levels deep, as the server ranks them.
    let frontier = Array.from(best.values()).filter(function (m) { return m.source === "catalog" || m.source === "local"; });
    const seen = new Set(frontier.map(function (m) { return m.name + "\u0000" + m.transport; }));
    for (let depth = 0; depth < 3 && frontier.length; depth++) {
      const next = [];
      for (const m of frontier) {
        for (const s of index.referrers.get(m.name) || []) {
          const key = s.id + "\u0000" + m.transport;
          if (seen.has(key)) continue;
          seen.add(key);
          const ref = serviceMatch(s, m.transport, "reference", Math.min(m.confidence * 0.6, 0.5) * (STATUS_FACTOR[s.status] || 1), "uses " + m.name + ": " + m.why, m.span, m.allocation);
          ref.ports = m.ports;
          keepBest(best, ref);
          next.push(ref);
        }
      }
      frontier = next;
    }
  }

  function nameMatches(index, name) {
    const wanted = name.trim().toLowerCase(), found = [];
    for (const s of index.services) {
      let why = "";
      if (s.id === wanted) why = "id";
      else if (s.title.toLowerCase() === wanted) why = "title";
      else if (s.aliases.some(function (a) { return a.toLowerCase() === wanted; })) why = "alias";
      else if ((s.reg || []).some(function (a) { return a.toLowerCase() === wanted; })) why = "IANA name";
      if (!why) continue;
      const transports = Array.from(new Set(s.r.map(function (r) { return r[0]; }))).sort();
      for (const t of transports.length ? transports : [""]) {
        found.push(serviceMatch(s, t, "name", (why === "alias" ? 0.95 : why === "IANA name" ? 0.9 : 1) * (STATUS_FACTOR[s.status] || 1), why + " '" + name.trim() + "'", 0, "fixed"));
      }
    }
    return found;
  }

  function staticSearch(index, text) {
    const words = text.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    if (!words.length) return { results: [] };
    const hits = [];
    for (const s of index.services) {
      const names = [s.id, s.title.toLowerCase()].concat(s.aliases.map(function (a) { return a.toLowerCase(); }));
      const hay = names.join(" ") + " " + s.categories.join(" ") + " " + (s.description || "").toLowerCase();
      let score = 0, all = true;
      for (const w of words) {
        if (names.some(function (n) { return n === w; })) score += 10;
        else if (names.some(function (n) { return n.split(/[^\p{L}\p{N}]+/u).some(function (part) { return part.indexOf(w) === 0; }); })) score += 5;
        else if (hay.indexOf(w) >= 0) score += 1;
        else all = false;
      }
      if (all && score > 0) {
        hits.push({ name: s.id, title: s.title, source: s.local ? "local" : "catalog", score: score * (s.status === "active" ? 1 : 0.8), categories: s.categories, ports: s.ports, description: s.description });
      }
    }
    hits.sort(function (a, b) { return b.score - a.score || a.title.localeCompare(b.title); });
    if (hits.length < 20) {
      const seen = new Set();
      for (const rec of index.iana) {
        const name = rec[0].toLowerCase();
        if (seen.has(name) || !words.every(function (w) { return name.indexOf(w) >= 0 || (rec[4] || "").toLowerCase().indexOf(w) >= 0; })) continue;
        seen.add(name);
        hits.push({ name: rec[0], title: rec[4] || rec[0], source: "iana", score: 0, categories: [], ports: rec[2] + (rec[3] !== rec[2] ? "-" + rec[3] : "") + "/" + rec[1], description: rec[4] });
        if (hits.length >= 20) break;
      }
    }
    return { results: hits.slice(0, 20), corrections: {} };
  }

  // -- rendering lookups (the same markup as the server's templates) ------------------------------------------

  const KIND_NAMES = { port: "port", range: "port range", ip: "IP protocol", dnssd: "DNS-SD service type", name: "name" };
  const SHOWN = 100;

  function isBroad(m) {
    return (m.match === "dynamic" || m.match === "reference") && (m.span || 0) >= 1000 &&
      m.allocation !== "fixed" && m.allocation !== "family";
  }

  function serviceCell(m) {
    const cell = el("th", { scope: "row" });
    if (m.source === "catalog" || m.source === "local") {
      cell.appendChild(el("a", { href: links.service(m.name), text: m.title }));
      if (m.source === "local") { cell.appendChild(document.createTextNode(" ")); cell.appendChild(el("span", { className: "tag", text: "local" })); }
    } else if (m.source === "iana") {
      cell.appendChild(document.createTextNode(m.title + " "));
      cell.appendChild(el("span", { className: "id", text: m.name }));
    } else {
      cell.textContent = m.title;
    }
    return cell;
  }

  function matchesTable(matches, caption) {
    const rows = matches.slice(0, SHOWN).map(function (m) {
      const why = el("td", { className: "why" }, [m.why]);
      if (m.status && m.status !== "active") { why.appendChild(document.createTextNode(" ")); why.appendChild(el("span", { className: "tag tag-warn", text: m.status })); }
      return el("tr", { className: "src-" + m.source }, [
        serviceCell(m),
        el("td", { className: "ports", text: m.ports + "/" + m.transport }),
        el("td", null, [el("span", { className: "kind kind-" + m.match, text: m.match })]),
        el("td", { text: m.source }),
        el("td", { className: "num", text: Number(m.confidence).toFixed(2) }),
        why,
      ]);
    });
    const head = el("tr", null, ["Service", "Ports", "Match", "Source", "Confidence", "Why"].map(function (h) { return el("th", { scope: "col", text: h }); }));
    const wrap = el("div", { className: "table-wrap", role: "region", "aria-label": caption, tabindex: "0" }, [
      el("table", { className: "matches" }, [el("caption", { text: caption }), el("thead", null, [head]), el("tbody", null, rows)]),
    ]);
    const out = [wrap];
    if (matches.length > SHOWN) out.push(el("p", { className: "more", text: "and " + (matches.length - SHOWN) + " more; anyport " + "QUERY --json lists them all." }));
    return out;
  }

  function lookupSection(data, search) {
    const section = el("section", { "aria-labelledby": "results-title" });
    section.appendChild(el("h2", { id: "results-title" }, [data.query + " ", el("span", { className: "kindname", text: "(" + (KIND_NAMES[data.kind] || data.kind) + ")" })]));
    const q = data.kind === "port" ? /^(?:(\d+)(?:\s*\/\s*([a-z]+))?|([a-z]+)\s*\/\s*(\d+))$/i.exec(data.query) : null;
    if (q) {
      const n = +(q[1] || q[4]), t = (q[2] || q[3] || "").toLowerCase();
      section.appendChild(el("p", { className: "jump" }, [el("a", { href: links.port(n, t), text: "Port " + data.query + " in detail: IANA record, trojan history, neighbouring ports" })]));
    }
    if (data.context && data.context.length) {
      section.appendChild(el("ul", { className: "context" }, data.context.map(function (line) { return el("li", { text: line }); })));
    }
    const main = [], broad = [], trojans = [];
    for (const m of data.matches) {
      if (m.source === "trojans") trojans.push(m); else if (isBroad(m)) broad.push(m); else main.push(m);
    }
    if (data.kind !== "name" || data.matches.length) {
      const heading = (data.kind === "port" || data.kind === "range" ? "Services on " : "Matches for ") + data.query;
      if (main.length) for (const node of matchesTable(main, heading)) section.appendChild(node);
      else if (!broad.length && !trojans.length) section.appendChild(el("p", { className: "empty", text: "Nothing known uses " + data.query + "." }));
      if (broad.length) {
        section.appendChild(el("details", { className: "tail" }, [
          el("summary", { text: plural(broad.length, "more service") + " may pick it from a broad range at run time" }),
        ].concat(matchesTable(broad, "Broad run-time ranges"))));
      }
      if (trojans.length) {
        section.appendChild(el("details", { className: "tail trojans" }, [
          el("summary", { text: "Trojan history on " + plural(trojans.length, "port") }),
          el("ul", null, trojans.slice(0, SHOWN).map(function (m) {
            return el("li", null, [el("strong", { text: m.ports + "/" + m.transport }), ": " + (m.description || "")]);
          })),
          el("p", { className: "hint", text: "Old backdoors listed by OpenVAS; traffic on these ports today is far more likely to be the services above." }),
        ]));
      }
    }
    if (search) {
      const corrections = Object.keys(search.corrections || {});
      if (corrections.length) {
        section.appendChild(el("p", { className: "note", text: "Searched for " + corrections.map(function (w) { return search.corrections[w] + " instead of " + w; }).join(", ") + "." }));
      }
      if (search.results.length) {
        const rows = search.results.map(function (h) {
          const name = el("th", { scope: "row" });
          if (h.source === "catalog" || h.source === "local") name.appendChild(el("a", { href: links.service(h.name), text: h.title }));
          else { name.appendChild(document.createTextNode(h.name + " ")); name.appendChild(el("span", { className: "tag", text: "IANA" })); }
          const description = h.description && h.description.length > 160 ? h.description.slice(0, 157) + "..." : (h.description || "");
          return el("tr", { className: "src-" + h.source }, [
            name, el("td", { className: "ports", text: h.ports }), el("td", { text: (h.categories || []).join(", ") }),
            el("td", { className: "desc", text: description }),
          ]);
        });
        const head = el("tr", null, ["Service", "Ports", "Categories", "Description"].map(function (h) { return el("th", { scope: "col", text: h }); }));
        section.appendChild(el("div", { className: "table-wrap", role: "region", "aria-label": "Search results", tabindex: "0" }, [
          el("table", { className: "hits" }, [el("caption", { text: "Services matching " + data.query + " by name, alias or description" }), el("thead", null, [head]), el("tbody", null, rows)]),
        ]));
      } else if (!data.matches.length) {
        section.appendChild(el("p", { className: "empty", text: "No service matches " + data.query + "." }));
      }
    }
    return section;
  }

  // -- the search box ---------------------------------------------------------------------------------------

  function initSearch() {
    const form = document.getElementById("search");
    const input = document.getElementById("q");
    const results = document.getElementById("results");
    const status = document.getElementById("status");
    if (!form || !input || !results || !status) return;
    const intro = results.querySelector(".intro");
    let serial = 0;
    let lastRun = null;
    for (const node of document.querySelectorAll(".js-only")) node.hidden = false;
    const serverError = document.querySelector("main > .error");

    function show(nodes, message) {
      if (serverError) serverError.remove();
      results.replaceChildren.apply(results, nodes);
      status.textContent = message;
    }
    function showError(message) {
      show([el("p", { className: "error", role: "alert", text: message })], message);
    }
    function remember(text) {
      const url = text ? links.home(text) : links.home("");
      history.replaceState(null, "", url);
      document.title = (text ? text + " · " : "") + "anyport: what is this port?";
    }
    function summary(data, search) {
      let text = plural(data.matches.length, "match", "matches") + " for " + data.query;
      if (search && search.results.length) text += ", " + plural(search.results.length, "search result");
      return text;
    }

    const hero = document.querySelector(".hero");
    function run(text) {
      const trimmed = text.trim();
      if (trimmed === lastRun) return;
      lastRun = trimmed;
      const mine = ++serial;
      remember(trimmed);
      if (hero) hero.classList.toggle("compact", Boolean(trimmed));
      if (!trimmed) { show(intro ? [intro] : [], ""); return; }
      if (text.length > MAX_QUERY) { showError("the query is " + text.length + " characters long; keep it under " + MAX_QUERY); return; }
      status.textContent = "Looking up " + trimmed + "…";
      if (STATIC) {
        loadIndex().then(function (index) {
          if (mine !== serial) return;
          const data = staticLookup(index, trimmed);
          if (data.error) { showError(data.error); return; }
          const search = data.kind === "name" ? staticSearch(index, trimmed) : null;
          show([lookupSection(data, search)], summary(data, search));
        }, function () {
          if (mine === serial) showError("The search index (data/search.json) could not be loaded. Serve this folder over HTTP, for example with python3 -m http.server.");
        });
        return;
      }
      getJSON("/api/v1/lookup?q=" + encodeURIComponent(trimmed)).then(function (response) {
        if (mine !== serial) return null;
        if (!response.ok) { showError(errorText(response)); return null; }
        const data = response.data;
        if (data.kind !== "name") { show([lookupSection(data, null)], summary(data, null)); return null; }
        return getJSON("/api/v1/search?q=" + encodeURIComponent(trimmed) + "&limit=20").then(function (found) {
          if (mine !== serial) return;
          const search = found.ok ? found.data : { results: [], corrections: {} };
          show([lookupSection(data, search)], summary(data, search));
        });
      }).catch(function () {
        if (mine === serial) showError("anyport did not answer; is the server still running?");
      });
    }

    const later = debounce(run, 180);
    input.addEventListener("input", function () { later(input.value); });
    form.addEventListener("submit", function (event) { event.preventDefault(); lastRun = null; run(input.value); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") {
        const first = results.querySelector("tbody a, .jump a, a");
        if (first) { event.preventDefault(); first.focus(); }
      } else if (event.key === "Escape" && input.value) {
        event.preventDefault(); input.value = ""; run("");
      }
    });
    results.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowDown" && event.key !== "ArrowUp" && event.key !== "Escape") return;
      if (event.key === "Escape") { event.preventDefault(); input.focus(); input.select(); return; }
      const all = Array.from(results.querySelectorAll("a")).filter(function (a) { return a.offsetParent !== null; });
      const at = all.indexOf(document.activeElement);
      if (at < 0) return;
      event.preventDefault();
      if (event.key === "ArrowDown" && at + 1 < all.length) all[at + 1].focus();
      else if (event.key === "ArrowUp") { if (at === 0) input.focus(); else all[at - 1].focus(); }
    });
    const initial = new URLSearchParams(location.search).get("q");
    lastRun = initial ? initial.trim() : "";
    if (STATIC && initial) { input.value = initial; lastRun = null; run(initial); }
  }

  // -- "/" focuses the search from anywhere -----------------------------------------------------------------

  function initShortcuts() {
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
      const box = document.getElementById("q") || document.getElementById("quick-q");
      if (box) { event.preventDefault(); box.focus(); box.select(); }
    });
  }

  // -- sortable, filterable tables --------------------------------------------------------------------------

  const STATUS_RANK = { active: 0, obsolete: 1, defunct: 2 };

  function sortValue(row, key, column) {
    const cell = row.cells[column];
    if (key === "tcp" || key === "udp") return Number(cell.getAttribute("data-v") || 70000);
    if (key === "status") { const rank = STATUS_RANK[row.getAttribute("data-status")]; return rank === undefined ? 9 : rank; }
    if (key === "iana") return row.getAttribute("data-iana") === "yes" ? 0 : 1;
    if (key === "other") { const text = cell.textContent.trim(); return text ? "0" + text : "1"; }
    const link = cell.querySelector("a");
    return ((key === "service" && link ? link.textContent : cell.textContent) || "").trim().toLowerCase();
  }

  function compare(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function initSortable(table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    const tbody = table.tBodies[0];
    heads.forEach(function (th, column) {
      const link = th.querySelector("a.sort");
      const key = th.getAttribute("data-key");
      if (!link || !key) return;
      const button = el("button", { type: "button", className: "sort", text: link.textContent });
      link.replaceWith(button);
      button.addEventListener("click", function () {
        const current = th.getAttribute("aria-sort");
        const ascending = current !== "ascending";
        const rows = Array.from(tbody.rows);
        const titles = new Map(rows.map(function (r) { return [r, sortValue(r, "service", 0)]; }));
        const values = new Map(rows.map(function (r) { return [r, sortValue(r, key, column)]; }));
        rows.sort(function (a, b) {
          const order = compare(values.get(a), values.get(b)) || compare(titles.get(a), titles.get(b));
          return ascending ? order : -order;
        });
        tbody.append.apply(tbody, rows);
        for (const other of heads) other.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const params = new URLSearchParams(location.search);
        if (key === "service" && ascending) { params.delete("sort"); params.delete("order"); }
        else { params.set("sort", key); if (ascending) params.delete("order"); else params.set("order", "desc"); }
        const form = document.getElementById("filters");
        if (form) {
          for (const name of ["sort", "order"]) {
            let hidden = form.querySelector("input[type=hidden][name=" + name + "]");
            if (!hidden) { hidden = el("input", { type: "hidden", name: name }); form.appendChild(hidden); }
            hidden.value = params.get(name) || "";
            hidden.disabled = !params.get(name);
          }
        }
        const query = params.toString();
        history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
        const status = document.getElementById("table-status");
        if (status) status.textContent = "Sorted by " + button.textContent + (ascending ? ", ascending" : ", descending");
      });
    });
  }

  function fixedRanges(cell) {
    const copy = cell.cloneNode(true);
    for (const span of copy.querySelectorAll(".rt")) span.remove();
    return copy.textContent.split(/[,;\s]+/).filter(function (x) { return /^\d+(-\d+)?$/.test(x); }).map(function (x) {
      const parts = x.split("-");
      return [+parts[0], +(parts[1] || parts[0])];
    });
  }

  function rowCovers(row, port, transports) {
    const cells = row.cells;
    const byTransport = { tcp: cells[1], udp: cells[2] };
    for (const t of transports) {
      if (byTransport[t] && fixedRanges(byTransport[t]).some(function (r) { return r[0] <= port && port <= r[1]; })) return true;
    }
    const other = cells[3].textContent;
    for (const t of transports) {
      const pattern = t === "ip" ? new RegExp("(?:^|[ ,])ip " + port + "(?:[ ,(]|$)") : new RegExp("(?:^|[ ,])" + t + " ([0-9,-]+)", "g");
      if (t === "ip") { if (pattern.test(other)) return true; continue; }
      let m;
      while ((m = pattern.exec(other))) {
        for (const part of m[1].split(",")) {
          const ends = part.split("-");
          if (+ends[0] <= port && port <= +(ends[1] || ends[0])) return true;
        }
      }
    }
    return false;
  }

  function initFilters() {
    const form = document.getElementById("filters");
    const table = document.getElementById("services-table");
    const status = document.getElementById("table-status");
    if (!form || !table) return;
    const rows = Array.from(table.tBodies[0].rows);
    const fields = ["q", "category", "transport", "status", "iana"];
    const control = function (name) { return form.elements.namedItem(name); };

    function apply() {
      const q = control("q").value.trim(), category = control("category").value, transport = control("transport").value;
      const state = control("status").value, iana = control("iana").value;
      const port = /^(\d{1,5})(?:\s*\/\s*(tcp|udp|sctp|dccp))?$/i.exec(q);
      const lower = q.toLowerCase();
      let shown = 0;
      for (const row of rows) {
        let keep = true;
        if (category && (" " + row.getAttribute("data-cat") + " ").indexOf(" " + category + " ") < 0) keep = false;
        if (keep && transport && (" " + row.getAttribute("data-tr") + " ").indexOf(" " + transport + " ") < 0) keep = false;
        if (keep && state && row.getAttribute("data-status") !== state) keep = false;
        if (keep && iana && row.getAttribute("data-iana") !== iana) keep = false;
        if (keep && q) {
          if (port && +port[1] <= 65535) keep = rowCovers(row, +port[1], port[2] ? [port[2].toLowerCase()] : ["tcp", "udp", "sctp", "dccp", "ip"]);
          else keep = row.getAttribute("data-text").indexOf(lower) >= 0;
        }
        row.hidden = !keep;
        if (keep) shown += 1;
      }
      if (status) status.textContent = shown + " of " + rows.length + " services";
      const params = new URLSearchParams(location.search);
      for (const name of fields) { const v = control(name).value.trim(); if (v) params.set(name, v); else params.delete(name); }
      const query = params.toString();
      history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
    }

    if (STATIC) {
      const params = new URLSearchParams(location.search);
      for (const name of fields) if (params.get(name)) control(name).value = params.get(name);
      apply();
      const sort = params.get("sort");
      if (sort) {
        const button = table.querySelector("th[data-key='" + sort.replace(/[^a-z]/g, "") + "'] button.sort");
        if (button) { button.click(); if (params.get("order") === "desc") button.click(); }
      }
    }
    const later = debounce(apply, 120);
    form.addEventListener("input", later);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); apply(); });
  }

  // -- the port map -----------------------------------------------------------------------------------------

  function initMap() {
    const figure = document.getElementById("portmap");
    if (!figure) return;
    const canvas = figure.querySelector("canvas");
    const image = figure.querySelector("img");
    const detail = document.getElementById("map-detail");
    const transport = figure.getAttribute("data-transport");
    const SIDE = 256, SCALE = 2, LEFT = 48; // LEFT: room for the port numbers that start each 16 rows
    const names = {};
    const colours = {};
    for (const item of document.querySelectorAll(".legend li[data-code]")) {
      const code = item.getAttribute("data-code");
      names[code] = item.querySelector("strong").textContent;
      colours[code] = getComputedStyle(item.querySelector(".swatch")).backgroundColor;
    }
    const tops = new Map();
    let codes = "";
    let current = -1;
    let base = null;

    function rgb(text) {
      const m = /(\d+)\D+(\d+)\D+(\d+)/.exec(text);
      return m ? [+m[1], +m[2], +m[3]] : [128, 128, 128];
    }

    function draw() {
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.fillStyle = getComputedStyle(body).backgroundColor;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(base, LEFT, 0, SIDE * SCALE, SIDE * SCALE);
      ctx.fillStyle = getComputedStyle(body).color;
      ctx.font = "10px " + getComputedStyle(body).fontFamily;
      ctx.textAlign = "right";
      ctx.textBaseline = "top";
      for (let row = 0; row < SIDE; row += 16) ctx.fillText(String(row * SIDE), LEFT - 4, row * SCALE + (row ? -5 : 0));
      if (current >= 0) {
        const x = LEFT + (current % SIDE) * SCALE, y = Math.floor(current / SIDE) * SCALE;
        ctx.lineWidth = 2;
        ctx.strokeStyle = "#000000";
        ctx.strokeRect(x - 3, y - 3, SCALE + 6, SCALE + 6);
        ctx.strokeStyle = "#ffffff";
        ctx.strokeRect(x - 5, y - 5, SCALE + 10, SCALE + 10);
      }
    }

    function describe(port) {
      const code = codes.charAt(port);
      detail.replaceChildren(
        el("strong", { text: port + "/" + transport }), " ", el("span", { text: names[code] || code }),
        el("br"), el("span", { className: "map-top", text: tops.has(port) ? tops.get(port) : "looking up…" }),
        el("br"), el("a", { href: links.port(port, transport), text: "Open port " + port + "/" + transport })
      );
      if (!tops.has(port)) lookupTop(port);
    }

    const lookupTop = debounce(function (port) {
      const done = function (text) {
        tops.set(port, text);
        if (port === current) {
          const slot = detail.querySelector(".map-top");
          if (slot) slot.textContent = text;
        }
      };
      const pick = function (matches) {
        const top = matches.filter(function (m) { return m.source !== "trojans"; })[0] || matches[0];
        return top ? "Top: " + top.title + " (" + top.why + ")" : "Nothing known uses it.";
      };
      if (STATIC) {
        loadIndex().then(function (index) { done(pick(staticLookup(index, port + "/" + transport).matches)); }, function () { done(""); });
      } else {
        getJSON("/api/v1/lookup?q=" + port + "/" + transport).then(function (r) { done(r.ok ? pick(r.data.matches) : errorText(r)); }, function () { done(""); });
      }
    }, 120);

    function moveTo(port) {
      current = Math.max(0, Math.min(65535, port));
      draw();
      describe(current);
    }

    function portAt(event) {
      const box = canvas.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width * canvas.width - LEFT;
      const y = (event.clientY - box.top) / box.height * canvas.height;
      const col = Math.floor(x / SCALE), row = Math.floor(y / SCALE);
      if (col < 0 || row < 0 || col >= SIDE || row >= SIDE) return -1;
      return row * SIDE + col;
    }

    getJSON(links.portmap(transport)).then(function (response) {
      if (!response.ok || !response.data || typeof response.data.codes !== "string") return;
      codes = response.data.codes;
      base = document.createElement("canvas");
      base.width = SIDE; base.height = SIDE;
      const bctx = base.getContext("2d");
      const pixels = bctx.createImageData(SIDE, SIDE);
      const palette = {};
      for (const code of Object.keys(colours)) palette[code] = rgb(colours[code]);
      for (let port = 0; port < 65536; port++) {
        const c = palette[codes.charAt(port)] || [128, 128, 128];
        pixels.data.set([c[0], c[1], c[2], 255], port * 4);
      }
      bctx.putImageData(pixels, 0, 0);
      canvas.width = LEFT + SIDE * SCALE; canvas.height = SIDE * SCALE;
      canvas.classList.add("drawn");
      canvas.hidden = false;
      image.hidden = true;
      for (const node of document.querySelectorAll(".js-only")) node.hidden = false;
      draw();
      if (STATIC) loadIndex().catch(function () {});
    }).catch(function () { /* the picture and the table stay */ });

    canvas.addEventListener("pointermove", function (event) {
      if (event.pointerType === "touch") return;
      const port = portAt(event);
      if (port >= 0 && port !== current) moveTo(port);
    });
    let touch = false;
    let tapped = -1;
    canvas.addEventListener("pointerdown", function (event) { touch = event.pointerType === "touch"; });
    canvas.addEventListener("click", function (event) {
      const port = portAt(event);
      if (port < 0) return;
      // A finger cannot hover: the first tap shows the port, a second tap on the same port opens it.
      if (touch && port !== tapped) { tapped = port; moveTo(port); return; }
      location.href = links.port(port, transport);
    });
    canvas.addEventListener("focus", function () { if (current < 0) moveTo(0); else describe(current); });
    canvas.addEventListener("keydown", function (event) {
      const steps = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -SIDE, ArrowDown: SIDE, PageUp: -4096, PageDown: 4096 };
      if (event.key in steps) { event.preventDefault(); moveTo(Math.max(0, current) + steps[event.key]); }
      else if (event.key === "Home") { event.preventDefault(); moveTo(0); }
      else if (event.key === "End") { event.preventDefault(); moveTo(65535); }
      else if (event.key === "Enter" || event.key === " ") { event.preventDefault(); if (current >= 0) location.href = links.port(current, transport); }
    });

    const go = document.querySelector("form.goto");
    if (go) {
      go.addEventListener("submit", function (event) {
        const value = go.querySelector("input[type=text]").value.trim();
        if (/^\d{1,5}$/.test(value) && +value <= 65535) {
          event.preventDefault();
          const port = +value;
          const open = function () { location.href = links.port(port, transport); };
          if (STATIC) loadIndex().then(open, open); else open();
        }
      });
    }
  }

  // -- the rule builder -------------------------------------------------------------------------------------

  function initCopy() {
    const status = document.getElementById("copy-status");
    for (const button of document.querySelectorAll("button.copy[data-copy]")) {
      button.hidden = false;
      button.addEventListener("click", function () {
        const pre = document.getElementById(button.getAttribute("data-copy"));
        if (!pre) return;
        const text = pre.textContent;
        const said = function (message) { if (status) status.textContent = message; button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 2000); };
        const fallback = function () {
          const range = document.createRange();
          range.selectNodeContents(pre);
          const selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          let ok = false;
          try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
          if (ok) said("Copied the rules to the clipboard.");
          else if (status) status.textContent = "Selected the rules: press Ctrl+C to copy them.";
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { said("Copied the rules to the clipboard."); }, fallback);
        } else {
          fallback();
        }
      });
    }
  }

  function initSuggestions() {
    const input = document.getElementById("r-services");
    if (!input || STATIC) return;
    const list = el("ul", { id: "r-suggestions", role: "listbox", className: "suggestions", "aria-label": "Services" });
    list.hidden = true;
    input.parentNode.insertBefore(list, input.nextSibling);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", "r-suggestions");
    let options = [];
    let active = -1;
    let serial = 0;

    function lastWord() {
      const m = /([^\s,]*)$/.exec(input.value.slice(0, input.selectionStart == null ? input.value.length : input.selectionStart));
      return m ? m[1] : "";
    }
    function close() {
      list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant");
      options = []; active = -1;
    }
    function highlight(index) {
      active = index;
      Array.from(list.children).forEach(function (li, i) { li.setAttribute("aria-selected", i === index ? "true" : "false"); });
      if (index >= 0) { input.setAttribute("aria-activedescendant", "r-option-" + index); list.children[index].scrollIntoView({ block: "nearest" }); }
      else input.removeAttribute("aria-activedescendant");
    }
    function accept(index) {
      const choice = options[index];
      if (!choice) return;
      const end = input.selectionStart == null ? input.value.length : input.selectionStart;
      const before = input.value.slice(0, end).replace(/[^\s,]*$/, "");
      const after = input.value.slice(end).replace(/^[^\s,]*/, "");
      input.value = before + choice.name + " " + after.replace(/^\s+/, "");
      const caret = (before + choice.name + " ").length;
      input.setSelectionRange(caret, caret);
      close();
      input.focus();
    }
    const suggest = debounce(function () {
      const word = lastWord();
      if (word.length < 2 || /[@\/:]/.test(word)) { close(); return; }
      const mine = ++serial;
      getJSON("/api/v1/search?q=" + encodeURIComponent(word) + "&limit=8").then(function (r) {
        if (mine !== serial) return;
        options = r.ok ? r.data.results.filter(function (h) { return h.source !== "iana"; }) : [];
        if (!options.length) { close(); return; }
        list.replaceChildren.apply(list, options.map(function (h, i) {
          const li = el("li", { id: "r-option-" + i, role: "option", "aria-selected": "false" }, [h.title + " ", el("span", { className: "id", text: h.name })]);
          li.addEventListener("mousedown", function (event) { event.preventDefault(); accept(i); });
          return li;
        }));
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
        highlight(-1);
      }, close);
    }, 150);

    input.addEventListener("input", suggest);
    input.addEventListener("blur", function () { setTimeout(close, 150); });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown") { event.preventDefault(); highlight(Math.min(options.length - 1, active + 1)); }
      else if (event.key === "ArrowUp") { event.preventDefault(); highlight(Math.max(-1, active - 1)); }
      else if (event.key === "Enter" && active >= 0) { event.preventDefault(); accept(active); }
      else if (event.key === "Escape") { event.preventDefault(); close(); }
    });
  }

  // -- start ------------------------------------------------------------------------------------------------

  function start() {
    initShortcuts();
    initSearch();
    for (const table of document.querySelectorAll("table.sortable")) initSortable(table);
    initFilters();
    initMap();
    initCopy();
    initSuggestions();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
