"use strict";

// feedkeeper dashboard: one snapshot a second over server-sent events,
// drawn into plain DOM and hand-made SVG charts.

const MAX_POINTS = 900;
const COLORS = { blue: "#2563eb", teal: "#0d9488", amber: "#d97706", red: "#dc2626", purple: "#7c3aed", slate: "#64748b" };

let history = [];
let lastMessage = 0;

const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function fmtInt(n) {
  return n == null ? "—" : Math.round(n).toLocaleString("en-US");
}

function fmtRate(n) {
  if (n == null) return "—";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (n >= 100) return Math.round(n).toLocaleString("en-US");
  return String(Number(n.toFixed(n >= 10 ? 1 : 2)));
}

function fmtBytes(n) {
  if (n == null) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + " " + units[i];
}

function fmtMS(ms) {
  if (ms == null) return "—";
  if (ms === 0) return "0";
  const a = Math.abs(ms);
  if (a >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (a >= 10) return ms.toFixed(0) + " ms";
  if (a >= 1) return ms.toFixed(1) + " ms";
  if (a >= 0.1) return ms.toFixed(2) + " ms";
  return (ms * 1000).toFixed(0) + " µs";
}

function fmtDur(s) {
  if (s == null || s < 0) return "—";
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + sec + "s";
  return sec + "s";
}

function fmtClock(ms) {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, "0")).join(":");
}

function fmtAge(ms) {
  if (ms == null || ms < 0) return "—";
  if (ms < 1000) return ms + " ms";
  return fmtDur(ms / 1000);
}

function setText(id, text, cls) {
  const el = $(id);
  if (!el) return;
  if (el.textContent !== text) el.textContent = text;
  if (cls !== undefined) el.className = "big" + (cls ? " " + cls : "");
}

// scale picks the y axis of values up to max: a round step (1, 2, 2.5 or
// 5 times a power of ten; whole numbers for counts) and 2 to 5 gridlines.
function scale(max, whole) {
  if (!(max > 0)) max = whole ? 4 : 1;
  const raw = max / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  let step = 10 * p;
  for (const m of whole ? [1, 2, 5] : [1, 2, 2.5, 5]) if (raw <= m * p) { step = m * p; break; }
  if (whole) step = Math.max(1, Math.round(step));
  const lines = Math.max(2, Math.ceil(max / step - 1e-9));
  return { step, ymax: step * lines, lines };
}

// byteScale is scale for bytes: round steps of KiB, MiB or GiB.
function byteScale(max) {
  let unit = 1;
  while (max / unit >= 1024 * 4 && unit < Math.pow(1024, 3)) unit *= 1024;
  const sc = scale(max / unit, true);
  return { step: sc.step * unit, ymax: sc.ymax * unit, lines: sc.lines };
}

// axis formats a tick: zero is plain 0.
const axis = (fmt) => (v) => (v === 0 ? "0" : fmt(v));

// chart draws series of the history into the figure's svg.
// series: [{name, color, get(point) -> number|null, step}]; opts.whole
// for counts, opts.bytes for sizes.
function chart(id, series, fmt, opts = {}) {
  const fig = $(id);
  const svg = fig.querySelector("svg");
  const W = Math.max(svg.clientWidth, 200), H = svg.clientHeight || 150;
  const L = 58, R = 10, T = 8, B = 20;
  const pts = history;
  let legend = "";
  for (const s of series) {
    let cur = null;
    for (let i = pts.length - 1; i >= 0; i--) { const v = s.get(pts[i]); if (v != null) { cur = v; break; } }
    legend += `<span><i style="background:${s.color}"></i>${esc(s.name)}<b>${cur == null ? "—" : esc(fmt(cur))}</b></span>`;
  }
  fig.querySelector(".legend").innerHTML = legend;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (pts.length < 2) {
    svg.innerHTML = `<text class="empty" x="${W / 2}" y="${H / 2}" text-anchor="middle">collecting data…</text>`;
    return;
  }
  const t0 = pts[0].t, t1 = pts[pts.length - 1].t;
  let max = 0;
  for (const s of series) for (const p of pts) { const v = s.get(p); if (v != null && v > max) max = v; }
  const sc = opts.bytes ? byteScale(max) : scale(max, opts.whole), ymax = sc.ymax, tick = axis(fmt);
  const x = (t) => L + ((t - t0) / Math.max(t1 - t0, 1)) * (W - L - R);
  const y = (v) => T + (1 - v / ymax) * (H - T - B);
  let out = "";
  for (let i = 0; i <= sc.lines; i++) {
    const v = sc.step * i, yy = y(v).toFixed(1);
    out += `<line class="grid" x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}"/>`;
    out += `<text class="axis" x="${L - 8}" y="${yy}" dy="3.5" text-anchor="end">${esc(tick(v))}</text>`;
  }
  const ticks = 2;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + ((t1 - t0) * i) / ticks;
    const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
    out += `<text class="axis" x="${x(t).toFixed(1)}" y="${H - 4}" text-anchor="${anchor}">${fmtClock(t)}</text>`;
  }
  series.forEach((s, si) => {
    let d = "", area = "", open = false, first = null, lastX = null, lastY = null;
    for (const p of pts) {
      const v = s.get(p);
      if (v == null) { open = false; continue; }
      const xx = x(p.t).toFixed(1), yy = y(v).toFixed(1);
      if (!open) { d += `M${xx},${yy}`; open = true; if (first == null) first = xx; }
      else if (s.step) d += `H${xx}V${yy}`;
      else d += `L${xx},${yy}`;
      lastX = xx; lastY = yy;
    }
    if (si === 0 && first != null && !s.step && d.indexOf("M", 1) < 0) {
      area = `<path class="area" fill="${s.color}" d="${d}L${lastX},${y(0).toFixed(1)}L${first},${y(0).toFixed(1)}Z"/>`;
    }
    out += area + `<path class="line" data-series="${esc(s.name)}" stroke="${s.color}" d="${d}"/>`;
  });
  svg.innerHTML = out;
}

function drawCharts() {
  chart("chart-rate", [
    { name: "events", color: COLORS.blue, get: (p) => p.ev },
    { name: "frames", color: COLORS.teal, get: (p) => p.fr },
  ], fmtRate, { whole: true });
  chart("chart-latency", [
    { name: "exch p99", color: COLORS.purple, get: (p) => p.x99 },
    { name: "exch p50", color: COLORS.blue, get: (p) => p.x50 },
    { name: "sink p99", color: COLORS.teal, get: (p) => p.s99 },
  ], fmtMS);
  chart("chart-faults", [
    { name: "reconnects", color: COLORS.amber, get: (p) => p.rc, step: true },
    { name: "gaps", color: COLORS.red, get: (p) => p.gp, step: true },
  ], fmtInt, { whole: true });
  chart("chart-bytes", [{ name: "received", color: COLORS.blue, get: (p) => p.by }], (v) => fmtBytes(v) + "/s", { bytes: true });
  chart("chart-memory", [
    { name: "RSS", color: COLORS.purple, get: (p) => p.rss || null },
    { name: "heap", color: COLORS.teal, get: (p) => p.hp },
  ], fmtBytes, { bytes: true });
  chart("chart-goroutines", [{ name: "goroutines", color: COLORS.slate, get: (p) => p.gr }], fmtInt, { whole: true });
}

function renderConns(conns) {
  const rows = (conns || []).map((c) => {
    const codes = Object.entries(c.close_codes || {}).map(([k, v]) => `${esc(k)}×${fmtInt(v)}`).join(" ") || "—";
    return `<tr><td><b>${esc(c.name)}</b></td><td><span class="state state-${esc(c.state)}">${esc(c.state)}</span></td>` +
      `<td class="n">${c.up ? fmtDur(c.uptime_s) : "—"}</td><td class="n">${fmtRate(c.rate)}</td><td class="n">${fmtInt(c.frames)}</td>` +
      `<td class="n">${fmtBytes(c.bytes)}</td><td class="n">${fmtInt(c.queue)}</td><td class="n">${fmtInt(c.connects)}</td>` +
      `<td class="n">${fmtInt(c.reconnects)}</td><td class="n">${fmtInt(c.stale)}</td><td class="n">${fmtInt(c.rotations)}</td>` +
      `<td class="n">${fmtInt(c.dropped)}</td><td class="muted">${codes}</td></tr>`;
  });
  $("conns").tBodies[0].innerHTML = rows.join("") || `<tr><td class="none" colspan="13">no connections</td></tr>`;
}

function renderQuotes(quotes, total) {
  const rows = (quotes || []).map((q) => {
    const age = Math.min(...[q.quote_age_ms, q.trade_age_ms].filter((a) => a >= 0));
    return `<tr data-symbol="${esc(q.symbol)}"><td><b>${esc(q.symbol)}</b></td>` +
      `<td class="n muted">${esc(q.bid_qty || "—")}</td><td class="n bid">${esc(q.bid || "—")}</td>` +
      `<td class="n ask">${esc(q.ask || "—")}</td><td class="n muted">${esc(q.ask_qty || "—")}</td>` +
      `<td class="n">${esc(q.spread || "—")}</td><td class="n ${esc(q.side || "")}">${esc(q.last || "—")}</td>` +
      `<td class="n muted">${esc(q.last_qty || "—")}</td><td class="${esc(q.side || "")}">${esc(q.side || "—")}</td>` +
      `<td class="n">${fmtInt(q.trades)}</td><td class="n muted">${Number.isFinite(age) ? fmtAge(age) + " ago" : "—"}</td></tr>`;
  });
  let more = "";
  if (total > rows.length) more = `<tr><td class="none" colspan="11">${fmtInt(total - rows.length)} more symbols: see /metrics</td></tr>`;
  $("quotes").tBodies[0].innerHTML = (rows.join("") + more) || `<tr><td class="none" colspan="11">no trades or quotes yet</td></tr>`;
}

function renderNotices(list) {
  const items = (list || []).slice().reverse().map((n) =>
    `<li><time>${fmtClock(n.t)}</time><span class="kind kind-${esc(n.kind)}">${esc(n.kind)}</span><span class="text">${esc(n.text)}</span></li>`);
  $("notices").innerHTML = items.join("") || `<li class="none">nothing yet: connection changes and gaps show here</li>`;
}

function render(s) {
  const t = s.totals, r = s.rates, p = s.process, l = s.latency;
  $("venue").textContent = s.venue || "";
  const ready = $("ready");
  ready.textContent = s.ready ? "READY" : "NOT READY";
  ready.className = "pill " + (s.ready ? "pill-ok" : "pill-bad");
  const probs = $("problems");
  if (s.ready || !s.not_ready) {
    probs.hidden = true;
  } else {
    probs.hidden = false;
    probs.innerHTML = s.not_ready.map((x) => `<span>${esc(x.check)}${x.conn ? " " + esc(x.conn) : ""}: ${esc(x.detail)}</span>`).join("");
  }
  $("uptime").textContent = fmtDur((s.t - s.started) / 1000);
  $("clock").textContent = s.clock.at ? `${s.clock.offset_ms >= 0 ? "+" : ""}${fmtMS(s.clock.offset_ms)} ± ${fmtMS(s.clock.rtt_ms / 2)}` : "not estimated";
  $("updated").textContent = "updated " + fmtClock(s.t);

  setText("events-rate", fmtRate(r.events));
  $("events-total").textContent = fmtInt(t.events);
  setText("bytes-rate", fmtBytes(r.bytes));
  $("frames-rate").textContent = fmtRate(r.frames);
  setText("conns-up", `${t.conns_up}/${t.conns} up`, t.conns_up < t.conns ? "bad" : "");
  $("rotations").textContent = fmtInt(t.rotations);
  $("stale").textContent = fmtInt(t.stale);
  setText("reconnects", fmtInt(t.reconnects), t.reconnects > 0 ? "warn" : "");
  $("connects").textContent = fmtInt(t.connects);
  setText("gaps", fmtInt(t.gaps), t.gaps > 0 ? "warn" : "");
  $("missing").textContent = fmtInt(t.missing);
  $("skipped").textContent = fmtInt(t.malformed + t.unknown + t.binary + t.dropped);
  setText("lat-exch", fmtMS(l.exch_p99));
  $("lat-sink").textContent = fmtMS(l.sink_p99);
  setText("rss", p.rss ? fmtBytes(p.rss) : fmtBytes(p.go_memory));
  $("heap").textContent = fmtBytes(p.heap);
  setText("goroutines", fmtInt(p.goroutines));
  $("fds").textContent = p.fds ? fmtInt(p.fds) : "—";

  renderConns(s.conns);
  renderQuotes(s.quotes, s.quotes_total || 0);
  renderNotices(s.notices);
  drawCharts();
}

function addPoint(pt) {
  if (history.length && history[history.length - 1].t >= pt.t) return;
  history.push(pt);
  if (history.length > MAX_POINTS) history.splice(0, history.length - MAX_POINTS);
}

function live(on) {
  $("live").className = "dot " + (on ? "on" : "off");
  if (!on) {
    $("updated").textContent = "reconnecting…";
    const ready = $("ready");
    ready.textContent = "NO DATA";
    ready.className = "pill pill-wait";
  }
}

function connect() {
  const es = new EventSource("events");
  es.addEventListener("init", (e) => {
    const d = JSON.parse(e.data);
    history = d.history || [];
    if (d.last) render(d.last);
    lastMessage = Date.now();
    live(true);
  });
  es.onmessage = (e) => {
    const s = JSON.parse(e.data);
    addPoint(s.point);
    render(s);
    lastMessage = Date.now();
    live(true);
  };
  es.onerror = () => live(false);
}

setInterval(() => { if (lastMessage && Date.now() - lastMessage > 5000) live(false); }, 1000);
window.addEventListener("resize", drawCharts);
connect();
